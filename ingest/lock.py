"""One ingest per home folder at a time, enforced with an OS file lock."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from rag.errors import LockedError

# How often a waiting ingest tries the lock again.
POLL_SECONDS = 0.2


@contextmanager
def ingest_lock(
    home: Path, wait: float = 0.0, on_wait: Callable[[str], None] | None = None
) -> Iterator[None]:
    """Hold the home folder's ingest lock; refuse at once naming the holder, or after
    waiting up to `wait` seconds (on_wait hears once who holds it)."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / "ingest.lock"
    with path.open("a+") as fh:
        deadline = time.monotonic() + wait
        told = False
        while not _try_lock(fh):
            holder = _holder(fh)
            if time.monotonic() >= deadline:
                waited = f" after waiting {wait:g} s" if wait > 0 else ""
                raise LockedError(
                    f"another ingest (pid {holder}) is writing to {home}{waited}; "
                    "wait for it to finish, or run with --wait SECONDS"
                )
            if on_wait and not told:
                on_wait(
                    f"another ingest (pid {holder}) is writing to {home}; "
                    f"waiting up to {wait:g} s for it to finish"
                )
                told = True
            time.sleep(min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))
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


def _try_lock(fh: IO[str]) -> bool:
    """Take the lock without blocking; False when another process holds it."""
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _holder(fh: IO[str]) -> str:
    """The pid the holder wrote into the lock file."""
    fh.seek(0)
    return fh.read().strip() or "another process"
