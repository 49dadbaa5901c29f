"""SIGKILL a real embedded Chroma writer while it saves its HNSW files (every ~1000 entries):
the store still opens (rebuilding the files a kill tore), every completed batch keeps its ids
and vectors, and queries answer."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from rag.store_repair import torn_segment
from tests.store_batches import SIZE

SEED = 11
KILLS = 4  # each reopen after a torn save re-applies ~1000 writes (10-20 s): CI time
# More kills while none has torn the files yet (most do: 3 of 4 in a run on 2 busy cores).
MAX_KILLS = 8
PER_RUN = 6
# One process per run: opens the store (as a user would after the kill), checks what the
# previous runs completed, then upserts its plan, printing a line after each batch returns.
CHILD = """
import json, sys
import numpy as np
from rag.models import Chunk
from rag.settings import Settings
from rag.store import ChromaStore
from tests.store_batches import SIZE, check, vectors
home, done, plan = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
store = ChromaStore(Settings(home=home))
print("checked", json.dumps({**check(store, done), "repaired": store.repaired}), flush=True)
for b in plan:
    chunks = [
        Chunk(id=f"b{b}-{i}", text=f"chunk {i} of batch {b}", embed_text="",
              source=f"s{b}.md", origin="o", title="t", headings=(), product="docs",
              ordinal=i, content_hash=f"h{b}-{i}")
        for i in range(SIZE)
    ]
    store.upsert(chunks, vectors(b))
    print("done", b, flush=True)
"""


def hnsw_files(home: Path) -> list[tuple[str, int, int]]:
    """Name, size and mtime of every file in the store's segment folders."""
    found = []
    for path in sorted((home / "chroma").glob("*-*/*")):
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        found.append((path.name, stat.st_size, stat.st_mtime_ns))
    return found


def run_and_kill(
    home: Path, done: list[int], plan: list[int], rng: random.Random
) -> tuple[dict[str, Any], list[int]]:
    """Start a writer, SIGKILL it right after it starts saving HNSW files (past its first
    batch); its check of the store (and whether opening it repaired it), and the batches it
    completed."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
    errors = home / "child.err"  # a file, not a pipe: nobody reads it while the child runs
    with errors.open("w") as err:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(home), json.dumps(done), json.dumps(plan)],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env=env,
        )
    lines: list[list[str]] = []
    out = child.stdout
    assert out is not None
    reader = threading.Thread(target=lambda: lines.extend(ln.split(" ", 1) for ln in out))
    reader.start()
    # Let it complete a batch or more first, so that every run adds entries.
    after = rng.randint(1, 2)
    while sum(ln[0] == "done" for ln in lines) < after and child.poll() is None:
        time.sleep(0.001)
    before = hnsw_files(home)
    deadline = time.monotonic() + 5
    while child.poll() is None and time.monotonic() < deadline and hnsw_files(home) == before:
        time.sleep(0.002)
    # Mostly at once (mid-save), sometimes a little later (between or after the files).
    time.sleep(rng.choice([0.0, 0.0, 0.001, 0.005]))
    child.send_signal(signal.SIGKILL)
    child.wait()
    reader.join()
    assert lines and lines[0][0] == "checked", (
        f"store did not open: {child.returncode} {errors.read_text()[-2000:]}"
    )
    completed = [int(ln[1]) for ln in lines if ln[0] == "done"]
    return json.loads(lines[0][1]), completed


def test_sigkill_while_saving_hnsw_keeps_completed_batches(tmp_path: Path) -> None:
    """Killed mid-save again and again, the store opens with every completed batch intact; the
    files a kill left torn are rebuilt by the next open, and at least one kill tore them."""
    rng = random.Random(SEED)
    done: list[int] = []
    written = kills = torn_kills = repairs = 0
    torn = False  # whether the last kill left the HNSW files torn
    while kills < KILLS or (torn_kills == 0 and kills < MAX_KILLS):
        plan = [written + k for k in range(PER_RUN)]
        report, completed = run_and_kill(tmp_path, done, plan, rng)
        # This run opened what the previous kill left: torn files must have been rebuilt.
        assert report["repaired"] or not torn, (kills, report)
        repairs += report["repaired"]
        torn = torn_segment(tmp_path / "chroma", "lakesage")
        torn_kills += torn
        kills += 1
        assert report["wrong"] == 0 and report["misses"] == 0, (kills, report)
        assert report["count"] >= SIZE * len(done), (kills, report)
        done += completed
        written += len(completed)
    final = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path), json.dumps(done), "[]"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)},
    )
    assert final.returncode == 0, final.stderr
    report = json.loads(final.stdout.split(" ", 1)[1])
    assert report["repaired"] or not torn, report
    repairs += report["repaired"]
    assert report["wrong"] == 0 and report["misses"] == 0, report
    assert written * SIZE > 1000 and len(done) >= 2, (written, done)
    print(
        f"store kills survived: {kills} ({written * SIZE} entries written, "
        f"{torn_kills} kills left torn HNSW files, {repairs} opens repaired them, "
        f"{len(done)} batches checked)"
    )
    assert torn_kills >= 1, f"none of {kills} kills landed while Chroma saved its HNSW files"
