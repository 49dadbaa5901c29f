"""The saved snapshot: a new process starts from it, never from a copy of another index stamp,
another version of the code or a damaged file."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ingest.pipeline import remove
from ingest.sources import SourceSpec
from rag import saved_snapshot
from rag.kb import SAVED_SNAPSHOT, KnowledgeBase
from rag.keywords import KeywordIndex
from rag.retrieval import Snapshot
from rag.settings import Settings
from tests.indexes import DELTA_FILES, NOTE, NOTE_SOURCE, clean_settings, copy_files, ingest

QUESTION = "How long does nightly-bronze-vacuum keep bronze tables?"


@pytest.fixture
def index(tmp_path: Path, shared_corpus: Path, embedder: Any) -> Settings:
    settings = clean_settings(tmp_path / "home")
    docs = copy_files(shared_corpus, tmp_path / "docs", DELTA_FILES)
    ingest(settings, [SourceSpec(str(docs))], embedder)
    return settings


def no_store_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any read of the whole collection fail the test."""

    def refuse(_cls: Any, _store: Any) -> Snapshot:
        raise AssertionError("the snapshot was read from the store")

    monkeypatch.setattr(Snapshot, "load", classmethod(refuse))


def test_a_new_process_starts_from_the_saved_snapshot(
    index: Settings, embedder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = KnowledgeBase(index, embedder=embedder).search(QUESTION, 5)
    assert (index.cache_dir / SAVED_SNAPSHOT).is_file()
    no_store_reads(monkeypatch)
    again = KnowledgeBase(index, embedder=embedder)
    assert [h.id for h in again.search(QUESTION, 5)] == [h.id for h in first]
    assert again.retriever._store is None  # Chroma was never opened


def test_a_finished_ingest_makes_the_saved_snapshot_stale(
    index: Settings, embedder: Any, tmp_path: Path
) -> None:
    assert NOTE_SOURCE not in {
        h.source for h in KnowledgeBase(index, embedder=embedder).search(QUESTION, 5)
    }
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / NOTE_SOURCE).write_text(NOTE)
    ingest(index, [SourceSpec(str(notes), product="team")], embedder)
    assert KnowledgeBase(index, embedder=embedder).search(QUESTION, 5)[0].source == NOTE_SOURCE


def test_a_removal_makes_the_saved_snapshot_stale(
    index: Settings, embedder: Any, tmp_path: Path
) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / NOTE_SOURCE).write_text(NOTE)
    ingest(index, [SourceSpec(str(notes), product="team")], embedder)
    assert KnowledgeBase(index, embedder=embedder).search(QUESTION, 5)[0].source == NOTE_SOURCE
    assert remove(index, str(notes)) == 1
    found = KnowledgeBase(index, embedder=embedder).search(QUESTION, 5)
    assert NOTE_SOURCE not in {h.source for h in found}


@pytest.mark.parametrize("damage", ["garbage", "other code", "truncated"])
def test_a_saved_snapshot_that_does_not_fit_is_built_again(
    index: Settings, embedder: Any, damage: str
) -> None:
    first = KnowledgeBase(index, embedder=embedder).search(QUESTION, 5)
    path = index.cache_dir / SAVED_SNAPSHOT
    if damage == "garbage":
        path.write_bytes(b"not a pickle")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:1000])
    else:
        saved = pickle.loads(path.read_bytes())
        saved["code"] = "older code"
        path.write_bytes(pickle.dumps(saved))
    again = KnowledgeBase(index, embedder=embedder).search(QUESTION, 5)
    assert [h.id for h in again] == [h.id for h in first]
    assert pickle.loads(path.read_bytes())["code"] == saved_snapshot.code_version()


def test_read_wants_the_same_stamp(tmp_path: Path) -> None:
    snap = Snapshot([], [], [], np.zeros((0, 384), dtype=np.float32), KeywordIndex([]))
    saved_snapshot.write(tmp_path / "s.pickle", "stamp-1", snap)
    assert saved_snapshot.read(tmp_path / "s.pickle", "stamp-1") is not None
    assert saved_snapshot.read(tmp_path / "s.pickle", "stamp-2") is None
    assert saved_snapshot.read(tmp_path / "absent.pickle", "stamp-1") is None


def test_the_lowered_texts_are_not_saved(tmp_path: Path) -> None:
    texts = ["Set the fetch size.", "Nothing else."]
    snap = Snapshot(
        ["a", "b"], texts, [{}, {}], np.zeros((2, 384), dtype=np.float32), KeywordIndex(texts)
    )
    assert snap.spells(["fetch", "size"]) and not snap.spells(["num", "io", "threads"])
    saved_snapshot.write(tmp_path / "s.pickle", "stamp-1", snap)
    read = saved_snapshot.read(tmp_path / "s.pickle", "stamp-1")
    assert read is not None and read._lowered is None
    assert read.spells(["fetch", "size"])
