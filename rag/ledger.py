"""The ledger: which files are in the index, with what content, and what model built it."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The meta key every finished change of the index (an ingest, a removal, a sync) renews.
CHANGED = "changed"
SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    origin TEXT NOT NULL,
    source TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    product TEXT NOT NULL,
    version TEXT,
    chunks INTEGER NOT NULL,
    ingested_at REAL NOT NULL,
    PRIMARY KEY (origin, source)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pending (
    origin TEXT NOT NULL,
    source TEXT NOT NULL,
    PRIMARY KEY (origin, source)
);
"""


@dataclass(frozen=True)
class FileRecord:
    """One indexed file: where it came from, its fingerprint and how many chunks it gave."""

    origin: str
    source: str
    fingerprint: str
    product: str
    version: str | None
    chunks: int
    ingested_at: float


class Ledger:
    """A small SQLite file beside the Chroma store."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes so a crash leaves all or none of them."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def files(self, origin: str | None = None) -> dict[tuple[str, str], FileRecord]:
        """Indexed files keyed by (origin, source), optionally of one origin."""
        query = (
            "SELECT origin, source, fingerprint, product, version, chunks, ingested_at FROM files"
        )
        rows = (
            self._db.execute(query + " WHERE origin = ?", (origin,))
            if origin is not None
            else self._db.execute(query)
        )
        return {(r[0], r[1]): FileRecord(*r) for r in rows}

    def put(self, record: FileRecord) -> None:
        """Record a file as indexed."""
        self._db.execute(
            "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                record.origin,
                record.source,
                record.fingerprint,
                record.product,
                record.version,
                record.chunks,
                record.ingested_at,
            ),
        )

    def begin(self, files: Iterable[tuple[str, str]]) -> None:
        """Note files whose chunks are about to change in the store, before touching it."""
        with self.transaction():
            self._db.executemany("INSERT OR IGNORE INTO pending VALUES (?, ?)", files)

    def done(self, files: Iterable[tuple[str, str]], records: Iterable[FileRecord] = ()) -> None:
        """Forget files and their pending marks, then record their new state, all at once."""
        with self.transaction():
            for origin, source in files:
                self.drop(origin, source)
                self._db.execute(
                    "DELETE FROM pending WHERE origin = ? AND source = ?", (origin, source)
                )
            for record in records:
                self.put(record)

    def pending(self) -> list[tuple[str, str]]:
        """Files whose store writes began but were never recorded: a run was killed."""
        return [(r[0], r[1]) for r in self._db.execute("SELECT origin, source FROM pending")]

    def drop(self, origin: str, source: str | None = None) -> int:
        """Forget one file, or every file of an origin; returns how many."""
        if source is None:
            cur = self._db.execute("DELETE FROM files WHERE origin = ?", (origin,))
        else:
            cur = self._db.execute(
                "DELETE FROM files WHERE origin = ? AND source = ?", (origin, source)
            )
        return cur.rowcount

    def origins(self) -> list[str]:
        """Every origin with files in the index."""
        return [r[0] for r in self._db.execute("SELECT DISTINCT origin FROM files ORDER BY origin")]

    def get_meta(self, key: str) -> Any:
        """A JSON value stored under key, or None."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def set_meta(self, key: str, value: Any) -> None:
        """Store a JSON value under key."""
        self._db.execute(
            "INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value, sort_keys=True))
        )

    def mark_changed(self) -> None:
        """Record that an operation changed what the index holds: readers reload on it."""
        self.set_meta(CHANGED, time.time_ns())

    def summary(self) -> dict[str, Any]:
        """Counts per product and per origin, the model and the last run."""
        per_product: dict[str, dict[str, int]] = {}
        for product, files, chunks in self._db.execute(
            "SELECT product, COUNT(*), SUM(chunks) FROM files GROUP BY product ORDER BY product"
        ):
            per_product[product] = {"files": files, "chunks": chunks or 0}
        per_origin: dict[str, dict[str, int]] = {}
        for origin, files, chunks in self._db.execute(
            "SELECT origin, COUNT(*), SUM(chunks) FROM files GROUP BY origin ORDER BY origin"
        ):
            per_origin[origin] = {"files": files, "chunks": chunks or 0}
        releases: dict[str, list[str]] = {}
        for product, version in self._db.execute(
            "SELECT DISTINCT product, version FROM files WHERE version IS NOT NULL "
            "AND version != '' ORDER BY product, version"
        ):
            releases.setdefault(product, []).append(version)
        return {
            "files": sum(p["files"] for p in per_product.values()),
            "chunks": sum(p["chunks"] for p in per_product.values()),
            "products": per_product,
            "releases": releases,
            "sources": per_origin,
            "model": self.get_meta("model"),
            "last_run": self.get_meta("last_run"),
        }
