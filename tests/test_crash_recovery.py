"""SIGKILL the real `ingest` at random moments: the index still opens, and a re-run converges
to exactly what a clean build stores."""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rag.ledger import Ledger
from rag.settings import load_settings
from rag.store import ChromaStore
from tests.commands import BIN, command_env
from tests.conftest import copy_corpus

SEED = 6
MIN_KILLS = 10
MAX_ROUNDS = 30
QUESTION = "How do I read the change data feed of a Delta table?"
CORPUS_FILES = (
    "delta/docs/delta-change-data-feed.mdx",
    "delta/docs/porting.mdx",
    "mlflow/docs/docs/classic-ml/tracking/index.mdx",
    "mlflow/docs/docs/genai/concepts/scorers.mdx",
    "mlflow/docs/docs/classic-ml/projects/index.mdx",
    "spark/docs/web-ui.md",
    "spark/docs/sql-data-sources-jdbc.md",
    "spark/docs/sql-ref-datatypes.md",
    "pdf/delta-io_delta/delta-charter.pdf",
    "pdf/delta-io_delta/examples/cheat_sheet/delta_lake_cheat_sheet.pdf",
)
EDITABLE = tuple(f for f in CORPUS_FILES if not f.endswith(".pdf"))
# Opens the index the way a user would, in a fresh process: ledger, Chroma, a search, an ANN query.
CHECK = """
import json, sys
from rag.kb import KnowledgeBase
from rag.ledger import Ledger
from rag.settings import load_settings
settings = load_settings(home=sys.argv[1])
if not settings.ledger_path.exists():
    print(json.dumps({"files": 0, "chunks": 0, "hits": 0, "near": 0}))
    sys.exit(0)
ledger = Ledger(settings.ledger_path)
files = len(ledger.files())
ledger.close()
kb = KnowledgeBase(settings)
hits = kb.search(sys.argv[2], k=3)
store = kb.retriever.store
count = store.count()
near = store.query(kb.embedder.embed([sys.argv[2]])[0], 3) if count else []
print(json.dumps({"files": files, "chunks": count, "hits": len(hits), "near": len(near)}))
"""


def env_for(home: Path) -> dict[str, str]:
    """The environment of a child: its home, the hash backend (what is stored is checked, not
    what it means; test_onnx_embedding checks the model), no way out to the network."""
    return command_env(home, LAKESAGE_EMBED_BACKEND="hash")


def start_ingest(corpus: Path, home: Path, cwd: Path) -> subprocess.Popen[str]:
    """The real `ingest` console script on the corpus, running."""
    return subprocess.Popen(
        [str(BIN / "ingest"), str(corpus), "--prune"],
        env=env_for(home),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str]) -> None:
    """Wait for a run that must succeed."""
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, f"ingest failed ({proc.returncode}):\n{out}\n{err}"


def check_opens(home: Path, cwd: Path) -> dict[str, int]:
    """Open the index in a fresh process and search it; fails on any error."""
    done = subprocess.run(
        [sys.executable, "-c", CHECK, str(home), QUESTION],
        env=env_for(home),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"the index did not open after a kill:\n{done.stderr}"
    state: dict[str, int] = json.loads(done.stdout.strip().splitlines()[-1])
    if state["chunks"]:
        assert state["hits"] > 0 and state["near"] > 0, state
    return state


def ledger_mark(home: Path) -> tuple[Any, ...]:
    """How many files the ledger holds and when it last recorded one (it changes per commit)."""
    path = home / "ledger.sqlite"
    if not path.exists():
        return (0, None)
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return tuple(db.execute("SELECT COUNT(*), MAX(ingested_at) FROM files").fetchone())
    except sqlite3.OperationalError:  # the schema is not there yet
        return (0, None)
    finally:
        db.close()


def kill_at(
    proc: subprocess.Popen[str], home: Path, rng: random.Random, plan: str, span: float
) -> bool:
    """SIGKILL the run at a moment chosen by plan; False when it finished first."""
    started = time.time()
    if plan == "commit":
        # Wait for the first file a commit records, then land somewhere in the rest of it.
        mark = ledger_mark(home)
        while proc.poll() is None and ledger_mark(home) == mark:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.12))
    else:
        low, high = (0.0, 2.0) if plan == "early" else (0.0, span)
        deadline = started + rng.uniform(low, high)
        while proc.poll() is None and time.time() < deadline:
            time.sleep(0.005)
    if proc.poll() is not None:
        proc.communicate()
        return False
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    return True


def stored(home: Path) -> dict[str, tuple[str, dict[str, Any], np.ndarray]]:
    """Every chunk on disk by id: text, metadata and vector; fails on a repeated id."""
    store = ChromaStore(load_settings(home=home))
    chunks: dict[str, tuple[str, dict[str, Any], np.ndarray]] = {}
    for ids, texts, metas, vectors in store.scan(with_vectors=True):
        for chunk_id, text, meta, vector in zip(ids, texts, metas, vectors, strict=True):
            assert chunk_id not in chunks, f"duplicate chunk id {chunk_id}"
            chunks[chunk_id] = (text, meta, np.asarray(vector, dtype=np.float32))
    assert store.count() == len(chunks)
    return chunks


def ledger_files(home: Path) -> dict[tuple[str, str], tuple[Any, ...]]:
    """The ledger's file records without their timestamps."""
    ledger = Ledger(home / "ledger.sqlite")
    try:
        return {
            key: (r.fingerprint, r.product, r.version, r.chunks)
            for key, r in ledger.files().items()
        }
    finally:
        ledger.close()


def assert_consistent(home: Path) -> None:
    """No orphan chunks, no ledger file without all of its chunks, no position twice."""
    chunks = stored(home)
    files = ledger_files(home)
    per_file = Counter((m["origin"], m["source"]) for _, m, _ in chunks.values())
    assert set(per_file) <= set(files), f"orphans: {set(per_file) - set(files)}"
    assert {k: v[3] for k, v in files.items()} == dict(per_file)
    positions = Counter((m["origin"], m["source"], m["ordinal"]) for _, m, _ in chunks.values())
    assert max(positions.values()) == 1


@pytest.fixture
def corpus(tmp_path: Path, shared_corpus: Path) -> Path:
    root = tmp_path / "corpus"
    copy_corpus(shared_corpus, root, CORPUS_FILES)
    return root


def test_sigkill_at_random_moments_then_rerun_equals_clean_build(
    corpus: Path, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    clean, crashed = tmp_path / "clean", tmp_path / "crashed"

    started = time.perf_counter()
    finish(start_ingest(corpus, clean, tmp_path))
    span = time.perf_counter() - started
    print(f"clean build: {span:.1f} s")
    assert_consistent(clean)

    originals = {rel: (corpus / rel).read_text(encoding="utf-8") for rel in EDITABLE}
    plans = ["early", "anytime", "commit"]
    kills: Counter[str] = Counter()
    rounds = 0
    window = span
    while sum(kills.values()) < MIN_KILLS and rounds < MAX_ROUNDS:
        rounds += 1
        if rounds > 1 and rng.random() < 0.5:
            # Edit or restore a few files, so later runs replace chunks already stored.
            for rel in rng.sample(EDITABLE, 2):
                text = originals[rel]
                if (corpus / rel).read_text(encoding="utf-8") == text:
                    text += f"\n\n## Crash note {rounds}\n\nEdited in round {rounds} of the test.\n"
                (corpus / rel).write_text(text, encoding="utf-8")
        plan = plans[rounds % len(plans)]
        proc = start_ingest(corpus, crashed, tmp_path)
        began = time.perf_counter()
        if kill_at(proc, crashed, rng, plan, window):
            kills[plan] += 1
            lived = time.perf_counter() - began
            print(
                f"round {rounds}: {plan} kill after {lived:.2f} s:", check_opens(crashed, tmp_path)
            )
        else:
            # A run that outlived its kill: re-runs are incremental and shorter than the clean
            # build, so "anytime" aims within the last whole run from now on.
            window = time.perf_counter() - began

    for rel, text in originals.items():
        (corpus / rel).write_text(text, encoding="utf-8")
    finish(start_ingest(corpus, crashed, tmp_path))
    print(f"kills survived: {sum(kills.values())} {dict(kills)} in {rounds} rounds")
    assert sum(kills.values()) >= MIN_KILLS

    assert_consistent(crashed)
    assert ledger_files(crashed) == ledger_files(clean)
    want, got = stored(clean), stored(crashed)
    assert set(got) == set(want)
    for chunk_id, (text, meta, vector) in want.items():
        assert got[chunk_id][0] == text and got[chunk_id][1] == meta, chunk_id
        # The hash backend is exact; Chroma may hand a vector back renormalised in float32.
        gap = float(np.abs(got[chunk_id][2] - vector).max())
        assert gap < 1e-6, (chunk_id, gap)
