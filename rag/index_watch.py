"""What the index says about itself (its model, its change stamp), and a cheap watch on the
stamp: it is read again only when the index may have changed."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from rag.ledger import CHANGED, Ledger
from rag.settings import Settings
from rag.store import STAMP, ChromaClients, ChromaStore

# File times can be this coarse (FAT's are); a ledger written within this long of a look may
# have changed again within the same tick, unseen by stat.
RACY_SECONDS = 2.0
# A server's stamp costs a request: a reader looks at most this often.
SERVER_SECONDS = 1.0
NO_INDEX = object()  # the stamp of a home with no index at all


def read_meta(settings: Settings, key: str, clients: ChromaClients) -> Any:
    """One value of the index's metadata, or None when there is no index yet: what the last
    ingest published on the server's collection when chroma_url is set, else the ledger's."""
    if settings.chroma_url:  # readers of a shared server may have no ledger at all
        published = ChromaStore(settings, clients).published() or {}
        if key in published:
            return published[key]
    if not settings.ledger_path.exists():
        return None
    ledger = Ledger(settings.ledger_path)
    try:
        return ledger.get_meta(key)
    finally:
        ledger.close()


def index_stamp(settings: Settings, clients: ChromaClients) -> Any:
    """What changes with every ingest, removal or sync: the stamp published on a server's
    collection, else the ledger's (its last run's, for a ledger older than the stamp); None when
    there is none yet."""
    if settings.chroma_url:
        return read_meta(settings, STAMP, clients)
    return read_meta(settings, CHANGED, clients) or read_meta(settings, "last_run", clients)


def has_index(settings: Settings, clients: ChromaClients) -> bool:
    """Whether there is an index to read: a ledger in the home, or a server collection that
    an ingest has published."""
    return settings.ledger_path.exists() or (
        bool(settings.chroma_url) and read_meta(settings, "model", clients) is not None
    )


class IndexWatch:
    """The index's stamp, read again only when the ledger's files changed as stat sees them
    (or, on a Chroma server, at most once a second)."""

    def __init__(self, settings: Settings, clients: ChromaClients) -> None:
        self.settings = settings
        self.clients = clients
        self._lock = threading.Lock()
        self._seen: Any = None
        self._stamp: Any = NO_INDEX

    def stamp(self) -> Any:
        """What changes with every ingest; None before the first one ends, NO_INDEX when there
        is no index at all."""
        with self._lock:
            look = self._look()  # before the read: a write in between shows at the next look
            if look is None or look != self._seen:
                stamp = index_stamp(self.settings, self.clients)
                missing = stamp is None and not has_index(self.settings, self.clients)
                self._stamp = NO_INDEX if missing else stamp
                self._seen = look
            return self._stamp

    def _look(self) -> Any:
        """What tells that the stamp may have changed; None when only reading it can tell."""
        if self.settings.chroma_url:
            return int(time.monotonic() // SERVER_SECONDS)
        # SQLite's WAL mode commits to the -wal file and copies it into the ledger later.
        path = self.settings.ledger_path
        files = [_stat(path), _stat(path.with_name(path.name + "-wal"))]
        newest = max((f[0] for f in files if f), default=None)
        if newest is not None and time.time_ns() - newest < RACY_SECONDS * 1e9:
            return None
        return files


def _stat(path: os.PathLike[str]) -> tuple[int, int, int] | None:
    """A file's modification time, size and inode, or None when it does not exist."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return info.st_mtime_ns, info.st_size, info.st_ino
