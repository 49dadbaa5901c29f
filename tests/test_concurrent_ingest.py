"""A second `ingest` on a busy home waits or refuses; searches, answers and the UI keep
working while a real `ingest` process writes to the index they read."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from ingest.pipeline import Pipeline
from ingest.sources import SourceSpec
from rag.kb import KnowledgeBase
from rag.settings import load_settings
from tests.commands import BIN, command_env
from tests.conftest import copy_corpus

APP = str(Path(__file__).resolve().parent.parent / "app.py")
BASE = ("delta/docs/delta-constraints.mdx", "spark/docs/sql-performance-tuning.md")
MORE = (
    "delta/docs/delta-change-data-feed.mdx",
    "delta/docs/porting.mdx",
    "mlflow/docs/docs/classic-ml/tracking/index.mdx",
    "mlflow/docs/docs/genai/concepts/scorers.mdx",
    "spark/docs/web-ui.md",
    "spark/docs/sql-data-sources-jdbc.md",
    "spark/docs/sql-ref-datatypes.md",
)
OLD_QUESTION = "Which exception does Delta raise when a CHECK constraint is violated?"
NEW_QUESTION = "How do I read the change data feed of a Delta table in batch queries?"
NEW_SOURCE = "delta/docs/delta-change-data-feed.mdx"


def start_ingest(*args: str, home: Path, cwd: Path) -> subprocess.Popen[str]:
    """The real `ingest` console script, running, with no way out to the network."""
    return subprocess.Popen(
        [str(BIN / "ingest"), *args],
        env=command_env(home),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_lock(proc: subprocess.Popen[str], home: Path) -> None:
    """Return once the process holds the home's ingest lock (its pid is in the lock file)."""
    lock = home / "ingest.lock"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if lock.exists() and lock.read_text().strip() == str(proc.pid):
            return
        time.sleep(0.02)
    raise AssertionError("the first ingest never took the lock")


@pytest.fixture
def home(tmp_path: Path, shared_corpus: Path, embedder: Any) -> Path:
    """A home already holding an index of two files."""
    base = copy_corpus(shared_corpus, tmp_path / "base", BASE)
    home = tmp_path / "home"
    report = Pipeline(load_settings(home=home), embedder).run([SourceSpec(str(base))])
    assert report.files_indexed == 2 and not report.failures
    return home


@pytest.fixture
def more(tmp_path: Path, shared_corpus: Path) -> Path:
    """Files for an ingest that takes several seconds."""
    return copy_corpus(shared_corpus, tmp_path / "more", MORE)


def test_second_ingest_refuses_at_once_or_waits(home: Path, more: Path, tmp_path: Path) -> None:
    first = start_ingest(str(more), home=home, cwd=tmp_path)
    wait_for_lock(first, home)

    refused = start_ingest(str(more), home=home, cwd=tmp_path)
    _, err = refused.communicate(timeout=120)
    assert refused.returncode == 1
    assert err.strip() == (
        f"ingest: another ingest (pid {first.pid}) is writing to {home}; "
        "wait for it to finish, or run with --wait SECONDS"
    )

    short = start_ingest(str(more), "--wait", "0.5", home=home, cwd=tmp_path)
    _, err = short.communicate(timeout=120)
    assert short.returncode == 1 and "after waiting 0.5 s" in err.splitlines()[-1]

    patient = start_ingest(str(more), "--wait", "300", home=home, cwd=tmp_path)
    first_out, first_err = first.communicate(timeout=300)
    assert first.returncode == 0, first_err
    out, err = patient.communicate(timeout=300)
    assert patient.returncode == 0, err
    assert err.splitlines()[0] == (
        f"ingest: another ingest (pid {first.pid}) is writing to {home}; "
        "waiting up to 300 s for it to finish"
    )
    assert f"indexed {len(MORE)} files" in first_out
    assert "indexed 0 files" in out and f"{len(MORE)} unchanged" in out


def test_search_and_ask_keep_answering_during_an_ingest(
    home: Path, more: Path, tmp_path: Path, embedder: Any
) -> None:
    kb = KnowledgeBase(load_settings(home=home), embedder=embedder)
    assert kb.search(OLD_QUESTION, k=3)
    proc = start_ingest(str(more), home=home, cwd=tmp_path)
    answers, errors = 0, []
    while proc.poll() is None:
        try:
            hits = kb.search(OLD_QUESTION, k=3)
            answer = kb.ask(OLD_QUESTION)
        except Exception as exc:  # noqa: BLE001 - every failure is counted and shown
            errors.append(repr(exc))
            continue
        assert hits and hits[0].source == BASE[0]
        assert "InvariantViolationException" in answer.text and not answer.refused
        answers += 1
    _out, err = proc.communicate()
    assert proc.returncode == 0, err
    print(f"answers during ingest: {answers}, errors: {len(errors)}")
    assert answers > 0 and errors == []

    hits = kb.search(NEW_QUESTION, k=3)
    assert hits[0].source == NEW_SOURCE
    assert kb.status()["files"] == len(BASE) + len(MORE)


def test_the_ui_answers_during_an_ingest(
    home: Path, more: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAKESAGE_HOME", str(home))
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception
    proc = start_ingest(str(more), home=home, cwd=tmp_path)
    wait_for_lock(proc, home)
    answered = 0
    while proc.poll() is None or not answered:
        at.chat_input(key="ask").set_value(OLD_QUESTION).run()
        assert not at.exception, at.exception
        assert "InvariantViolationException" in at.chat_message[-1].markdown[0].value
        answered += 1
    _, err = proc.communicate()
    assert proc.returncode == 0, err
    print(f"UI answers during ingest: {answered}")
