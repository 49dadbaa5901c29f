"""The ingest lock: one holder per home, across processes; a second one refuses or waits."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ingest.lock import ingest_lock
from rag.errors import LockedError

# A child process that holds the lock until its stdin closes.
HOLDER = """
import sys
from pathlib import Path
from ingest.lock import ingest_lock
with ingest_lock(Path(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.read()
"""


def hold(home: Path) -> subprocess.Popen[str]:
    """Another process holding home's lock (it has said so when this returns)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(home)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def release(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(timeout=30)


def test_a_second_holder_is_refused_naming_the_first(tmp_path: Path) -> None:
    proc = hold(tmp_path)
    try:
        refused = pytest.raises(LockedError, match=rf"pid {proc.pid}\) is writing to .*--wait")
        with refused, ingest_lock(tmp_path):
            pass
    finally:
        release(proc)
    with ingest_lock(tmp_path):  # free once the holder is gone
        assert (tmp_path / "ingest.lock").read_text() != ""


def test_a_waiting_holder_gets_the_lock_when_it_is_freed(tmp_path: Path) -> None:
    proc = hold(tmp_path)
    heard: list[str] = []
    threading.Timer(0.5, release, [proc]).start()
    started = time.monotonic()
    with ingest_lock(tmp_path, wait=30, on_wait=heard.append):
        waited = time.monotonic() - started
    assert 0.3 < waited < 30
    assert len(heard) == 1 and f"pid {proc.pid}" in heard[0]


def test_waiting_gives_up_after_its_time(tmp_path: Path) -> None:
    proc = hold(tmp_path)
    try:
        with (
            pytest.raises(LockedError, match=r"after waiting 0.3 s"),
            ingest_lock(tmp_path, wait=0.3),
        ):
            pass
    finally:
        release(proc)
