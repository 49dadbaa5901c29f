"""One ingest per home folder at a time, enforced with an OS file lock."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rag.errors import LockedError


@contextmanager
def ingest_lock(home: Path) -> Iterator[None]:
    """Hold the home folder's ingest lock, or refuse at once naming the holder."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / "ingest.lock"
    with path.open("a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise LockedError(
                f"another ingest (pid {holder}) is writing to {home}; wait for it to finish"
            ) from exc
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        try:
            yield
        finally:
            fh.seek(0)
            fh.truncate()
            fcntl.flock(fh, fcntl.LOCK_UN)
