"""A home synced from a chunks Delta table (written here without Spark): the store and ledger
hold the table's files, and a later sync reads only what the change feed names."""

from __future__ import annotations

from pathlib import Path

from ingest.chunking import file_id
from ingest.delta_table import ChunkTable
from ingest.table_sync import sync_from_table
from rag.ledger import Ledger
from rag.settings import Settings
from rag.store import ChromaStore
from tests.table_rows import MODEL, chunk, rows

A = [chunk("a.md", 0, "VACUUM keeps 7 days."), chunk("a.md", 1, "OPTIMIZE compacts files.")]
B = [chunk("b.md", 0, "Time travel reads old versions.")]


def stored(settings: Settings) -> dict[str, str]:
    """Chunk id -> text, as the home's store holds them (reopened)."""
    store = ChromaStore(settings)
    return {i: t for ids, texts, _, _ in store.scan() for i, t in zip(ids, texts, strict=True)}


def test_a_sync_mirrors_the_table_then_follows_its_feed(tmp_path: Path) -> None:
    table = ChunkTable(tmp_path / "chunks")
    table.merge(rows(A + B, "fp1"), [], MODEL)
    home = Settings(home=tmp_path / "home")
    first = sync_from_table(home, table.uri)
    assert (first.mode, first.files_updated, first.chunks_stored) == ("full", 2, 3)
    assert stored(home) == {c.id: c.text for c in A + B}

    table.merge(
        rows([chunk("a.md", 0, "VACUUM keeps 30 days.")], "fp2"), [file_id("docs", "a.md")], MODEL
    )
    table.merge(rows([], "fp3"), [file_id("docs", "b.md")], MODEL)  # b.md removed
    second = sync_from_table(home, table.uri)
    assert (second.mode, second.files_updated, second.files_removed) == ("incremental", 1, 1)
    assert stored(home) == {A[0].id: "VACUUM keeps 30 days."}
    ledger = Ledger(home.ledger_path)
    try:
        assert {key: r.fingerprint for key, r in ledger.files().items()} == {
            ("docs", "a.md"): "fp2"
        }
        assert ledger.get_meta("model") == MODEL
        assert ledger.get_meta("table") == {"uri": table.uri, "version": table.version()}
    finally:
        ledger.close()
