"""The Chroma clients a caller owns and passes to its stores, against a real `chroma run`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import chromadb
import numpy as np
import pytest

from ingest.pipeline import Pipeline
from ingest.sources import SourceSpec
from rag.kb import KnowledgeBase
from rag.settings import load_settings
from rag.store import ChromaClients, ChromaStore
from tests.chroma_servers import start_server
from tests.commands import stop
from tests.documents import RETENTION
from tests.table_rows import chunk, vector

QUESTION = "How long do bronze tables keep their history?"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a real Chroma server with its data in a tmp folder."""
    process, url = start_server(tmp_path_factory.mktemp("chroma-server") / "data")
    yield url
    stop(process)


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The hosts of the HttpClients made from now on."""
    hosts: list[str] = []
    real = chromadb.HttpClient

    def counted(*args: Any, **kwargs: Any) -> Any:
        hosts.append(f"{kwargs['host']}:{kwargs['port']}")
        return real(*args, **kwargs)

    monkeypatch.setattr(chromadb, "HttpClient", counted)
    return hosts


def test_clients_make_one_http_client_per_server_and_owner(
    server: str, tmp_path: Path, made: list[str]
) -> None:
    settings = load_settings(home=tmp_path / "home", chroma_url=server)
    clients = ChromaClients()
    assert clients.client(settings) is clients.client(settings)
    assert ChromaStore(settings, clients).client is clients.client(settings)
    assert len(made) == 1
    assert ChromaClients().client(settings) is not clients.client(settings), "no process cache"
    assert len(made) == 2


def test_an_ingest_and_a_knowledge_base_share_the_clients_passed_to_them(
    server: str, tmp_path: Path, embedder: Any, made: list[str]
) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "retention.md").write_text(RETENTION, encoding="utf-8")
    clients = ChromaClients()
    writer = load_settings(home=tmp_path / "writer", chroma_url=server, collection="shared")
    pipeline = Pipeline(writer, embedder, clients=clients)
    pipeline.run([SourceSpec(str(notes))])
    pipeline.run([SourceSpec(str(notes))], rebuild=True)
    reader = load_settings(home=tmp_path / "reader", chroma_url=server, collection="shared")
    kb = KnowledgeBase(reader, embedder=embedder, clients=clients)
    for _ in range(3):  # each search reads the published stamp from the server
        assert kb.search(QUESTION, k=1)[0].source == "retention.md"
    assert kb.status()["files"] == 1
    assert len(made) == 1, made

    other = KnowledgeBase(reader, embedder=embedder)  # its own clients, made once
    assert other.search(QUESTION, k=1) and other.status()["files"] == 1
    assert len(made) == 2, made


def test_delete_sources_removes_only_the_named_files_of_the_origin(tmp_path: Path) -> None:
    store = ChromaStore(load_settings(home=tmp_path / "home"))
    made = [
        chunk(source, ordinal, f"text {ordinal} of {source}", origin)
        for origin in ("docs", "notes")
        for source in ("a.md", "b.md", "c.md")
        for ordinal in range(2)
    ]
    store.upsert(made, np.array([vector(c.text) for c in made], dtype=np.float32))
    store.delete_sources("docs", ["a.md", "c.md"])
    kept = store.collection.get(include=["metadatas"])["metadatas"] or []  # type: ignore[list-item]
    assert sorted({(m["origin"], m["source"]) for m in kept}) == [
        ("docs", "b.md"),
        ("notes", "a.md"),
        ("notes", "b.md"),
        ("notes", "c.md"),
    ]
    assert store.count() == 8
