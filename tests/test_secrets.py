"""Secrets (the LLM API key, the admin password) never leave: CLIs, logs, files, pages; writes in
the UI need the admin password when one is set."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from ingest.cli import main as ingest_main
from ingest.pipeline import Pipeline
from ingest.sources import SourceSpec
from rag.cli import main as rag_main
from rag.feedback import ChatTurn, Feedback, FeedbackLog, transcript_markdown
from rag.kb import KnowledgeBase
from rag.settings import load_settings
from tests.app_pages import CHAT, EVALUATE, INGEST, wait_for_ingest
from tests.llm_servers import MODEL, Server, closed_port, openai_route

REPO = Path(__file__).resolve().parent.parent
KEY = "sk-SENTINEL-api-key-7f3a9c"
PASSWORD = "pw-SENTINEL-admin-51b2e8"
SECRETS = (KEY, PASSWORD)
NOTE = """# Cluster tags

## Billing

Every job cluster carries the cost-center tag finops-42 for billing.
Clusters without the tag are stopped by the nightly policy job.
"""
QUESTION = "Which cost-center tag do job clusters carry?"
TIMEOUT = 120


def leaks(text: str) -> list[str]:
    """The secrets found in a text."""
    return [secret for secret in SECRETS if secret in text]


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKESAGE_LLM_API_KEY", KEY)
    monkeypatch.setenv("LAKESAGE_ADMIN_PASSWORD", PASSWORD)


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "cluster-tags.md").write_text(NOTE)
    return folder


@pytest.fixture(scope="module")
def index_home(tmp_path_factory: pytest.TempPathFactory, embedder: Any) -> Path:
    """A small real index for the pages."""
    notes = tmp_path_factory.mktemp("secret-notes")
    (notes / "cluster-tags.md").write_text(NOTE)
    home = tmp_path_factory.mktemp("secret-home")
    report = Pipeline(load_settings(home=home), embedder).run(
        [SourceSpec(str(notes), name="notes", product="team")]
    )
    assert not report.failures and report.files_indexed == 1
    return home


@pytest.fixture
def recorder() -> Iterator[Server]:
    """A real OpenAI-compatible server on loopback that wants another key, and echoes the one
    it got in its 401, as real servers do."""
    server = Server(openai_route(["finops-42 [1]."], key="sk-the-right-one"))
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_settings_repr_hides_secrets(secrets: None) -> None:
    settings = load_settings()
    assert settings.llm_api_key == KEY and settings.admin_password == PASSWORD
    for shown in (repr(settings), str(settings), f"{settings!r}"):
        assert leaks(shown) == []


def test_clis_logs_and_files_under_the_home_never_show_secrets(
    secrets: None,
    notes: Path,
    isolated_home: Path,
    tmp_path: Path,
    recorder: Server,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    questions = tmp_path / "questions.jsonl"
    questions.write_text(json.dumps({"id": "q1", "question": QUESTION}) + "\n")
    llm = ["ask", QUESTION, "--engine", "openai"]
    runs: list[tuple[list[str], Any, int]] = [
        ([str(notes), "--json"], ingest_main, 0),
        (["--status"], ingest_main, 0),
        (["--status", "--json"], ingest_main, 0),
        (["ask", QUESTION, "--json"], rag_main, 0),
        (["search", QUESTION, "--json"], rag_main, 0),
        (["eval", str(questions), "--json", "--mlflow"], rag_main, 0),
    ]
    # Two error paths: the server refuses the key (and echoes it), then the endpoint is down.
    endpoints = [f"{recorder.url}/v1", f"http://127.0.0.1:{closed_port()}/v1"]
    outputs = []
    for argv, main, code in [*runs, (llm, rag_main, 1), (llm, rag_main, 1)]:
        with pytest.MonkeyPatch.context() as mp:
            if argv is llm:
                mp.setenv("LAKESAGE_LLM_BASE_URL", endpoints.pop(0))
                mp.setenv("LAKESAGE_LLM_MODEL", MODEL)
            assert main(argv) == code, argv
        captured = capsys.readouterr()
        outputs.append((argv, captured.out, captured.err))
    assert "finops-42" in outputs[3][1] and '"model"' in outputs[2][1]
    for argv, out, err in outputs:
        assert leaks(out) == [] and leaks(err) == [], argv
    assert leaks(caplog.text) == []
    # The key was really in use: the server saw it, and the CLI still did not repeat it.
    assert [s.headers.get("Authorization") for s in recorder.seen] == [f"Bearer {KEY}"]
    assert "401" in outputs[6][2] or "key" in outputs[6][2].lower()

    kb = KnowledgeBase(load_settings())
    answer = kb.ask(QUESTION)
    FeedbackLog(isolated_home / "feedback.jsonl").add(Feedback.of("a1", answer, "up", "thanks"))
    transcript = transcript_markdown(
        [ChatTurn("user", QUESTION), ChatTurn("assistant", answer.text, answer)]
    )
    assert leaks(transcript) == []
    written = [p for p in isolated_home.rglob("*") if p.is_file()]
    names = {p.name for p in written}
    assert {"ledger.sqlite", "feedback.jsonl", "mlflow.db"} <= names
    for path in written:
        data = path.read_bytes()
        assert not any(secret.encode() in data for secret in SECRETS), path


def page(path: str) -> AppTest:
    """The app, switched to a page, run once with no exception."""
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT)
    at.run()
    if path != CHAT:
        at.switch_page(path).run()
    assert not at.exception
    return at


def page_text(at: AppTest) -> str:
    """Everything the page would send the browser: every element's proto, as text."""
    parts: list[str] = []

    def walk(node: Any) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(str(proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return "\n".join(parts)


@pytest.mark.parametrize("path", [CHAT, INGEST, EVALUATE])
def test_pages_never_show_secrets(
    path: str, index_home: Path, secrets: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAKESAGE_HOME", str(index_home))
    at = page(path)
    at.selectbox(key="engine").set_value("openai").run()  # shows the LLM fields
    assert at.text_input(key="llm_base_url") is not None
    assert leaks(page_text(at)) == []
    if path != CHAT:
        at.text_input(key="admin-password").set_value(PASSWORD).run()
        assert not at.exception and not at.error
        assert leaks(page_text(at)) == []
        assert "admin-password" not in at.session_state
    else:
        at.chat_input(key="ask").set_value(QUESTION).run()  # the configured endpoint is down
        assert not at.exception and at.error
        assert leaks(page_text(at)) == []


def test_ingest_needs_the_admin_password(
    tmp_path: Path, notes: Path, secrets: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "fresh"
    monkeypatch.setenv("LAKESAGE_HOME", str(home))
    at = page(INGEST)
    assert any("Ingesting needs the admin password" in i.value for i in at.info)
    assert not at.button and not at.file_uploader  # nothing to write with before the password
    at.text_input(key="admin-password").set_value("wrong-password").run()
    assert [e.value for e in at.error] == ["Wrong admin password; try again."]
    assert not at.button
    assert not home.exists() or not (home / "ledger.sqlite").exists()
    assert not (home / "uploads").exists()

    at.text_input(key="admin-password").set_value(PASSWORD).run()
    assert not at.exception and not at.error
    at.text_input(key="ingest-source").set_value(str(notes))
    at.selectbox(key="ingest-product").set_value("team")
    at.button(key="ingest-start").click().run()
    wait_for_ingest(at)
    assert "1 files indexed" in at.success[0].value
    assert (home / "ledger.sqlite").exists()


def test_an_evaluation_run_needs_the_admin_password(
    index_home: Path, tmp_path: Path, secrets: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAKESAGE_HOME", str(index_home))
    questions = tmp_path / "questions.jsonl"
    questions.write_text(json.dumps({"id": "q1", "question": QUESTION}) + "\n")
    runs = index_home / "evals"
    before = sorted(runs.glob("*.json")) if runs.exists() else []
    at = page(EVALUATE)
    assert any("Running an evaluation needs the admin password" in i.value for i in at.info)
    at.text_input(key="eval-path").set_value(str(questions))
    at.button(key="eval-run").click().run()
    assert not at.exception
    assert [e.value for e in at.error] == ["Enter the admin password first; no evaluation was run."]
    at.text_input(key="admin-password").set_value("wrong-password")
    at.button(key="eval-run").click().run()
    assert "Wrong admin password; try again." in [e.value for e in at.error]
    assert (sorted(runs.glob("*.json")) if runs.exists() else []) == before

    at.text_input(key="admin-password").set_value(PASSWORD).run()
    assert not at.exception and not at.error
    at.text_input(key="eval-path").set_value(str(questions))
    at.button(key="eval-run").click().run()
    assert not at.exception and not at.error
    assert len(sorted(runs.glob("*.json"))) == len(before) + 1


def test_without_a_password_the_pages_write_freely(
    index_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAKESAGE_HOME", str(index_home))
    at = page(INGEST)
    assert not [t for t in at.text_input if t.key == "admin-password"]
    assert at.button(key="ingest-start") is not None
    assert any("No admin password is set" in c.value for c in at.caption)


def test_a_readers_llm_url_never_receives_the_configured_key(
    index_home: Path, secrets: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    reader = Server(openai_route(["finops-42 [1]."], key=None))
    threading.Thread(target=reader.serve_forever, args=(0.02,), daemon=True).start()
    try:
        monkeypatch.setenv("LAKESAGE_HOME", str(index_home))
        monkeypatch.setenv("LAKESAGE_LLM_BASE_URL", f"http://127.0.0.1:{closed_port()}/v1")
        monkeypatch.setenv("LAKESAGE_LLM_MODEL", MODEL)
        at = page(CHAT)
        at.selectbox(key="engine").set_value("openai").run()
        at.text_input(key="llm_base_url").set_value(f"{reader.url}/v1").run()
        at.chat_input(key="ask").set_value(QUESTION).run()
        assert not at.exception and not at.error
        assert "finops-42" in at.chat_message[1].markdown[0].value
        [request] = reader.seen
        assert "Authorization" not in request.headers
        assert leaks(json.dumps(request.body)) == []
    finally:
        reader.shutdown()
        reader.server_close()


def test_a_readers_databricks_host_never_receives_the_configured_token(
    index_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reader = Server(openai_route(["finops-42 [1]."], key=None))
    threading.Thread(target=reader.serve_forever, args=(0.02,), daemon=True).start()
    try:
        monkeypatch.setenv("LAKESAGE_HOME", str(index_home))
        monkeypatch.setenv("LAKESAGE_DATABRICKS_HOST", f"http://127.0.0.1:{closed_port()}")
        monkeypatch.setenv("LAKESAGE_DATABRICKS_TOKEN", KEY)
        monkeypatch.setenv("LAKESAGE_LLM_MODEL", MODEL)
        at = page(CHAT)
        at.selectbox(key="engine").set_value("databricks").run()
        assert not [t for t in at.text_input if t.key == "llm_base_url"]
        at.text_input(key="databricks_host").set_value(reader.url).run()
        at.chat_input(key="ask").set_value(QUESTION).run()
        assert not at.exception
        assert any("LAKESAGE_DATABRICKS_TOKEN" in e.value for e in at.error)
        assert reader.seen == []
    finally:
        reader.shutdown()
        reader.server_close()
