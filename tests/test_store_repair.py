"""The torn-segment repair on a real embedded Chroma store whose HNSW files a test tears the way a
kill mid-save does; under a chromadb it was not tested against, it refuses in one line."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import chromadb
import numpy as np
import pytest

from ingest.pipeline import Pipeline
from ingest.sources import SourceSpec
from rag.errors import StoreCorruptError
from rag.models import Chunk
from rag.settings import Settings
from rag.store import ChromaStore
from rag.store_repair import KEEP_LOG, chroma_version, known_version, torn_segment

# Chroma saves the HNSW files every 1000 writes: 1500 leave a saved index and 500 in the log only.
BATCHES = 3
SIZE = 500


def vectors(batch: int) -> np.ndarray:
    """The unit vectors of one batch."""
    v = np.random.default_rng(batch).standard_normal((SIZE, 384))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def chunks(batch: int) -> list[Chunk]:
    """The chunks of one batch, ids b{batch}-{i}."""
    return [
        Chunk(
            id=f"b{batch}-{i}",
            text=f"chunk {i} of batch {batch}",
            embed_text="",
            source=f"s{batch}.md",
            origin="o",
            title="t",
            headings=(),
            product="docs",
            ordinal=i,
            content_hash=f"h{batch}-{i}",
        )
        for i in range(SIZE)
    ]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home whose store holds 1500 chunks, HNSW files saved once (never opened by tests)."""
    home = tmp_path_factory.mktemp("built")
    store = ChromaStore(Settings(home=home))
    for batch in range(BATCHES):
        store.upsert(chunks(batch), vectors(batch))
    return home


@pytest.fixture
def home(built: Path, tmp_path: Path) -> Path:
    """A copy of the built home."""
    shutil.copytree(built, tmp_path / "home")
    return tmp_path / "home"


@pytest.fixture
def torn(home: Path) -> Path:
    """The home with its HNSW metadata file cut midway, as a kill mid-save leaves it (Chroma
    fails to parse it; torn link lists may crash it instead, or load without an error)."""
    assert not torn_segment(home / "chroma", "lakesage"), "the copy starts intact"
    (pickled,) = (home / "chroma").glob("*-*/index_metadata.pickle")
    with pickled.open("r+b") as f:
        f.truncate(pickled.stat().st_size // 2)
    return home


def segment_files(home: Path) -> dict[str, bytes]:
    """The bytes of every file in the store's segment folders."""
    return {p.name: p.read_bytes() for p in sorted((home / "chroma").glob("*-*/*"))}


def assert_intact(store: ChromaStore) -> None:
    """Every chunk is there with its vector, and a chunk's own vector finds it first."""
    assert store.count() == BATCHES * SIZE
    got = store.collection.get(include=["embeddings"])  # type: ignore[list-item]
    stored = dict(zip(got["ids"], got["embeddings"], strict=True))  # type: ignore[arg-type]
    for batch in range(BATCHES):
        expected = vectors(batch)
        for i in range(SIZE):
            assert np.allclose(stored[f"b{batch}-{i}"], expected[i], atol=1e-6), (batch, i)
        hits = store.query(expected[SIZE // 2], 1)
        assert hits[0].id == f"b{batch}-{SIZE // 2}" and hits[0].score > 0.99


def test_the_installed_chromadb_is_one_the_repair_was_tested_against() -> None:
    assert known_version(chroma_version()), chroma_version()
    assert known_version("1.5.9") and known_version("1.5.12")
    for other in ("1.5.8", "1.5", "1.6.0", "1.6.0rc1", "2.0.0", "0.6.3", "unknown"):
        assert not known_version(other), other


def test_an_intact_store_opens_without_a_repair(home: Path) -> None:
    store = ChromaStore(Settings(home=home))
    assert_intact(store)
    assert not store.repaired


def test_a_torn_segment_is_rebuilt_from_the_log(torn: Path) -> None:
    assert torn_segment(torn / "chroma", "lakesage")
    store = ChromaStore(Settings(home=torn))
    assert_intact(store)
    assert store.repaired


def test_a_tear_the_file_check_misses_is_rebuilt_once_chroma_fails_to_load_it(
    torn: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("rag.store.torn_segment", lambda path, name: False)
    store = ChromaStore(Settings(home=torn))
    assert_intact(store)
    assert store.repaired


def test_an_untested_chromadb_refuses_the_repair_in_one_line(
    torn: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = segment_files(torn)
    monkeypatch.setattr(chromadb, "__version__", "1.6.0")
    with pytest.raises(StoreCorruptError) as refused:
        ChromaStore(Settings(home=torn)).count()
    message = str(refused.value)
    assert "\n" not in message
    assert str(torn / "chroma") in message and "installed: 1.6.0" in message
    assert message.endswith("run `ingest --rebuild` to build it again")
    assert segment_files(torn) == before, "an untested chromadb's files are left as they are"


def log_config(home: Path) -> str:
    """What Chroma's write-ahead log configuration says in a store."""
    with contextlib.closing(sqlite3.connect(home / "chroma" / "chroma.sqlite3")) as db:
        return str(db.execute("SELECT config_json_str FROM embeddings_queue_config").fetchone()[0])


def test_the_log_is_kept_only_under_a_tested_chromadb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ChromaStore(Settings(home=tmp_path / "tested"))
    assert log_config(tmp_path / "tested") == KEEP_LOG
    monkeypatch.setattr(chromadb, "__version__", "1.6.0")
    ChromaStore(Settings(home=tmp_path / "untested"))
    assert log_config(tmp_path / "untested") != KEEP_LOG


@pytest.mark.parametrize("why", ["untested chromadb", "log lacks ids"])
def test_ingest_rebuild_builds_again_an_index_whose_repair_was_refused(
    torn: Path, tmp_path: Path, embedder: Any, monkeypatch: pytest.MonkeyPatch, why: str
) -> None:
    if why == "untested chromadb":
        monkeypatch.setattr(chromadb, "__version__", "1.6.0")
    else:
        with contextlib.closing(sqlite3.connect(torn / "chroma" / "chroma.sqlite3")) as db, db:
            db.execute("DELETE FROM embeddings_queue WHERE id LIKE 'b0-%'")
    settings = Settings(home=torn)
    with pytest.raises(StoreCorruptError, match=r"run `ingest --rebuild` to build it again$"):
        ChromaStore(settings).count()
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "retention.md").write_text("# Retention\n\nBronze tables keep 30 days of history.\n")
    report = Pipeline(settings, embedder).run([SourceSpec(str(notes))], rebuild=True)
    assert report.files_indexed == 1 and report.failures == []
    assert ChromaStore(settings).count() == report.chunks_stored
