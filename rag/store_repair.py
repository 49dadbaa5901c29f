"""Repair of an embedded Chroma store whose HNSW segment a kill tore while Chroma saved it."""

from __future__ import annotations

import contextlib
import os
import pickle
import re
import shutil
import sqlite3
import struct
import time
from pathlib import Path

from rag.errors import StoreCorruptError

# The chromadb releases whose segment files, pickles and log tables this module was written and
# tested against (pyproject pins the same range); another release may lay them out otherwise.
TESTED_FROM = (1, 5, 9)
TESTED_BELOW = (1, 6)
TESTED = "1.5.9 to 1.5.x"

# Chroma purges its write-ahead log once the HNSW files hold it; kept, the log can rebuild a
# segment that a kill tore mid-persist ("Failed to apply logs to the hnsw segment writer").
KEEP_LOG = '{"automatically_purge":false,"_type":"EmbeddingsQueueConfigurationInternal"}'


def chroma_version() -> str:
    """The installed chromadb's version."""
    import chromadb

    return str(chromadb.__version__)


def known_version(version: str) -> bool:
    """Whether this module was written and tested against a chromadb version."""
    match = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", version)
    if match is None:
        return False
    numbers = tuple(int(n) for n in match.groups(default="0"))
    return TESTED_FROM <= numbers < TESTED_BELOW


def keep_log(path: Path) -> None:
    """Turn off the purge of Chroma's write-ahead log in an embedded store (under a tested
    chromadb only: the setting is Chroma's private JSON in its own table)."""
    if not known_version(chroma_version()):
        return
    with contextlib.closing(sqlite3.connect(path / "chroma.sqlite3", timeout=30)) as db, db:
        db.execute("UPDATE embeddings_queue_config SET config_json_str = ?", (KEEP_LOG,))


def _hnsw_shape(folder: Path) -> tuple[bool, tuple[tuple[int, int], ...]]:
    """Whether the HNSW files of one segment agree on their element count, and their stat."""
    names = ("header.bin", "data_level0.bin", "length.bin", "link_lists.bin")
    try:
        stats = tuple((s.st_size, s.st_mtime_ns) for s in (os.stat(folder / n) for n in names))
        header = (folder / "header.bin").read_bytes()
        count, per_element = struct.unpack_from("<QQ", header, 20)
        with (folder / "index_metadata.pickle").open("rb") as f:
            added = pickle.load(f)["total_elements_added"]  # Chroma's own file in our folder
        sizes = [stats[1][0], stats[2][0], stats[3][0]]
        if per_element == 0 or added != count or sizes[0] != count * per_element:
            return False, stats
        if sizes[1] != 4 * count or sizes[2] > 4 * count * (4 + 8 * per_element):
            return False, stats
        # link_lists.bin: per element a 4-byte size and that many bytes; it must end exactly.
        links = (folder / "link_lists.bin").read_bytes()
        offset = 0
        for _ in range(count):
            if offset + 4 > len(links):
                return False, stats
            offset += 4 + struct.unpack_from("<I", links, offset)[0]
        return offset == len(links), stats
    except FileNotFoundError:
        return True, ()  # never persisted yet: Chroma builds it from the log
    except (OSError, struct.error, pickle.UnpicklingError, EOFError, KeyError, TypeError):
        return False, ()


def torn_segment(path: Path, name: str) -> bool:
    """Whether the collection's HNSW files were left torn by a kill while Chroma saved them
    (Chroma may crash the process loading such files, so they are checked before it does).
    Under an untested chromadb the files are not read: False."""
    if not known_version(chroma_version()):
        return False
    try:
        with contextlib.closing(
            sqlite3.connect(f"file:{path / 'chroma.sqlite3'}?mode=ro", uri=True)
        ) as db:
            row = db.execute(
                "SELECT s.id FROM segments s JOIN collections c ON s.collection = c.id "
                "WHERE c.name = ? AND s.scope = 'VECTOR'",
                (name,),
            ).fetchone()
    except sqlite3.Error:
        return False
    if row is None:
        return False
    folder = path / str(row[0])
    intact, before = _hnsw_shape(folder)
    if intact:
        return False
    # Another process may be saving right now: only files that stay the same are torn.
    time.sleep(0.5)
    intact, after = _hnsw_shape(folder)
    return not intact and before == after


def rebuild_vectors(path: Path, name: str) -> None:
    """Rebuild a collection's HNSW segment from Chroma's write-ahead log: its folder is deleted
    and its log position reset, so Chroma replays the log into a fresh index on next open.
    Refuses (StoreCorruptError) under an untested chromadb, and when the log lacks a stored id:
    that id's vector would be lost."""
    version = chroma_version()
    if not known_version(version):
        raise StoreCorruptError(
            f"the vector index in {path} cannot be loaded, and lakesage repairs it only under "
            f"chromadb {TESTED} (installed: {version}); run `ingest --rebuild` to build it again"
        )
    with contextlib.closing(sqlite3.connect(path / "chroma.sqlite3", timeout=30)) as db, db:
        row = db.execute("SELECT id FROM collections WHERE name = ?", (name,)).fetchone()
        if row is None:
            return
        segments = dict(
            db.execute("SELECT scope, id FROM segments WHERE collection = ?", (row[0],)).fetchall()
        )
        missing = db.execute(
            "SELECT COUNT(*) FROM embeddings WHERE segment_id = ? AND embedding_id NOT IN "
            "(SELECT id FROM embeddings_queue WHERE topic LIKE ?)",
            (segments.get("METADATA"), f"%/{row[0]}"),
        ).fetchone()[0]
        if missing:
            raise StoreCorruptError(
                f"the vector index in {path} is damaged (an ingest was killed while Chroma "
                f"saved it) and {missing} vectors cannot be recovered; "
                "run `ingest --rebuild` to build it again"
            )
        shutil.rmtree(path / str(segments["VECTOR"]), ignore_errors=True)
        db.execute("DELETE FROM max_seq_id WHERE segment_id = ?", (segments["VECTOR"],))
