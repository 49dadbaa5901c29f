"""The Chroma vector store: embedded on disk, or a client of a shared `chroma run` server."""

from __future__ import annotations

import contextlib
import copy
import json
import re
import socket
import threading
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import numpy as np

from rag.errors import SettingsError, StoreCorruptError, StoreUnavailableError
from rag.models import Chunk, Hit
from rag.offline import go_offline
from rag.store_repair import keep_log, rebuild_vectors, torn_segment

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

    from rag.settings import Settings

# Wide HNSW search: the corpus is small enough that recall matters more than microseconds.
HNSW = {"space": "cosine", "ef_construction": 200, "ef_search": 200, "max_neighbors": 32}
PAGE = 2000
# Index metadata the pipeline publishes on the collection, so readers need no ledger.
META_PREFIX = "lakesage:"
STAMP = "stamp"
# Seconds to wait for the server's TCP port: Chroma's own HTTP client never times out.
CONNECT_TIMEOUT = 5.0


def server_address(url: str) -> tuple[str, int, bool]:
    """Host, port and TLS of a chroma_url, or a SettingsError naming the setting."""
    parsed = urlparse(url)
    try:
        port = parsed.port
    except ValueError:
        port = -1
    if parsed.scheme not in ("http", "https") or not parsed.hostname or port == -1:
        raise SettingsError(
            f"LAKESAGE_CHROMA_URL={url!r} is not a server URL; "
            "set it like http://127.0.0.1:8000 (or unset it for the embedded store)"
        )
    return (
        parsed.hostname,
        port or (443 if parsed.scheme == "https" else 8000),
        parsed.scheme == "https",
    )


def unreachable(url: str, reason: object) -> StoreUnavailableError:
    """The one-line error for a Chroma server that does not answer."""
    return StoreUnavailableError(
        f"cannot reach the Chroma server at {url} ({reason}); start it with "
        "`chroma run --path DIR --host HOST --port PORT` or fix LAKESAGE_CHROMA_URL"
    )


def make_client(settings: Settings) -> ClientAPI:
    """An embedded PersistentClient under the home folder, or an HttpClient for chroma_url."""
    go_offline()
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=True)
    if not settings.chroma_url:
        settings.chroma_path.mkdir(parents=True, exist_ok=True)
        client = chromadb.PersistentClient(path=str(settings.chroma_path), settings=chroma_settings)
        keep_log(settings.chroma_path)
        return client
    url = settings.chroma_url
    host, port, ssl = server_address(url)
    try:
        # A quick TCP probe: a dead or firewalled host fails here instead of hanging.
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT).close()
        return chromadb.HttpClient(host=host, port=port, ssl=ssl, settings=chroma_settings)
    except (OSError, ValueError) as exc:
        raise unreachable(url, _reason(exc)) from exc


class ChromaClients:
    """The Chroma clients of one owner (a KnowledgeBase, an ingest run, the UI's process),
    passed to the stores it opens."""

    def __init__(self) -> None:
        # One HttpClient per URL: creating one costs several round trips to the server.
        self._servers: dict[str, ClientAPI] = {}
        self._lock = threading.Lock()

    def client(self, settings: Settings) -> ClientAPI:
        """The client of the settings' store: its server's, made once per URL, or a new one on
        its embedded folder."""
        if not settings.chroma_url:
            # Not kept: Chroma backs every client of a folder with the one system it keeps per
            # folder, and once a store is reopened (_fresh_client) new clients must get that one.
            return make_client(settings)
        with self._lock:
            if settings.chroma_url not in self._servers:
                self._servers[settings.chroma_url] = make_client(settings)
            return self._servers[settings.chroma_url]


def _fresh_client(client: ClientAPI) -> ClientAPI:
    """A new embedded client on the same folder, which loads the segments from disk again."""
    import chromadb
    from chromadb.api.shared_system_client import SharedSystemClient

    settings = client.get_settings()
    # Chroma shares one system per path in a process; the old one keeps what it loaded.
    SharedSystemClient._identifier_to_system.pop(str(settings.persist_directory), None)
    return chromadb.PersistentClient(path=str(settings.persist_directory), settings=settings)


def _reason(exc: BaseException) -> str:
    """A short cause for an error line: "connection refused", "timed out"..."""
    if isinstance(exc, ValueError):  # Chroma's client: something answers, but not Chroma
        return "no Chroma server answers there"
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    text = re.sub(r"^\[Errno -?\d+\] ", "", text)
    return text[:1].lower() + text[1:]


class ChromaStore:
    """Chunks with explicit embeddings in one cosine-space collection."""

    def __init__(self, settings: Settings, clients: ChromaClients | None = None) -> None:
        self.name = settings.collection
        self.url = settings.chroma_url
        self.client = (clients or ChromaClients()).client(settings)
        self._collection: Collection | None = None
        # Set when opening rebuilt a torn HNSW segment from the log, a repair otherwise silent.
        self.repaired = False

    def reopened(self) -> ChromaStore:
        """The same store through a new embedded client, which reads the segments from disk:
        a client opened before another process wrote sees its new ids but not their vectors
        ("Error finding id"). A server store is returned as it is."""
        if self.url:
            return self
        fresh = copy.copy(self)
        fresh.client = _fresh_client(self.client)
        fresh._collection = None
        return fresh

    @contextlib.contextmanager
    def _reachable(self) -> Iterator[None]:
        """Turn a lost connection to the server into one clear error."""
        if not self.url:
            yield
            return
        import httpx

        try:
            yield
        except httpx.TransportError as exc:
            raise unreachable(self.url, _reason(exc)) from exc

    @property
    def collection(self) -> Collection:
        """The collection, created on first use with no embedding function of Chroma's own."""
        if self._collection is None:
            if not self.url:
                path = Path(str(self.client.get_settings().persist_directory))
                if torn_segment(path, self.name):
                    rebuild_vectors(path, self.name)
                    self.client = _fresh_client(self.client)
                    self.repaired = True
            with self._reachable():
                collection = self._open()
            if not self.url:
                collection = self._opened(collection)
            self._collection = collection
        return self._collection

    def _open(self) -> Collection:
        """Get or create the collection (no query runs yet)."""
        return self.client.get_or_create_collection(
            self.name,
            embedding_function=None,
            configuration={"hnsw": dict(HNSW)},  # type: ignore[arg-type]
        )

    def _opened(self, collection: Collection) -> Collection:
        """The embedded collection after a probe; an HNSW segment torn by a kill mid-persist
        is rebuilt from the write-ahead log once, else a StoreCorruptError names the fix."""
        from chromadb.errors import InternalError

        try:
            collection.count()  # the first read loads the HNSW segment: a torn one fails here
            return collection
        except InternalError as exc:
            if "hnsw" not in str(exc).lower():
                raise
        path = Path(str(self.client.get_settings().persist_directory))
        rebuild_vectors(path, self.name)
        self.client = _fresh_client(self.client)
        self.repaired = True
        collection = self._open()
        try:
            collection.count()
        except InternalError as exc:
            raise StoreCorruptError(
                f"the vector index in {path} cannot be opened after a rebuild ({exc}); "
                "run `ingest --rebuild` to build it again"
            ) from exc
        return collection

    def count(self) -> int:
        """Number of chunks stored."""
        with self._reachable():
            return int(self.collection.count())

    def drop(self) -> None:
        """Delete the whole collection (for --rebuild)."""
        from chromadb.errors import NotFoundError

        with self._reachable(), contextlib.suppress(NotFoundError):  # absent: nothing to drop
            self.client.delete_collection(self.name)
        self._collection = None

    def published(self) -> dict[str, Any] | None:
        """What the last ingest published on the collection (model, counts, last run, stamp);
        None when there is no collection yet."""
        from chromadb.errors import NotFoundError

        with self._reachable():
            try:
                collection = self.client.get_collection(self.name, embedding_function=None)  # type: ignore[arg-type]
            except NotFoundError:
                return None
        return {
            key.removeprefix(META_PREFIX): json.loads(str(value))
            for key, value in (collection.metadata or {}).items()
            if key.startswith(META_PREFIX)
        }

    def publish(self, values: dict[str, Any]) -> None:
        """Record index metadata on the collection with a fresh stamp: readers on other machines
        learn the model and notice new ingests from it, without the writer's ledger."""
        self._collection = None  # fetched again: the metadata must be the current one
        with self._reachable():
            collection = self.collection
            metadata = dict(collection.metadata or {})
            metadata.update(
                {META_PREFIX + k: json.dumps(v, sort_keys=True) for k, v in values.items()}
            )
            metadata[META_PREFIX + STAMP] = json.dumps(uuid.uuid4().hex)
            collection.modify(metadata=metadata)

    def upsert(self, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        """Store chunks with their vectors; ids are deterministic, so repeats overwrite."""
        with self._reachable():
            limit = self.client.get_max_batch_size()
            for start in range(0, len(chunks), limit):
                part = chunks[start : start + limit]
                self.collection.upsert(
                    ids=[c.id for c in part],
                    embeddings=vectors[start : start + limit],
                    documents=[c.text for c in part],
                    metadatas=[c.metadata() for c in part],
                )

    def delete(self, origin: str, source: str | None = None) -> None:
        """Remove the chunks of one file, or of a whole origin."""
        where: dict[str, Any] = {"origin": origin}
        if source is not None:
            where = {"$and": [{"origin": origin}, {"source": source}]}
        with self._reachable():
            self.collection.delete(where=where)  # type: ignore[arg-type]

    def delete_sources(self, origin: str, sources: Sequence[str]) -> None:
        """Remove the chunks of several files of one origin."""
        for start in range(0, len(sources), 500):
            where = {
                "$and": [
                    {"origin": origin},
                    {"source": {"$in": list(sources[start : start + 500])}},
                ]
            }
            with self._reachable():
                self.collection.delete(where=where)  # type: ignore[arg-type]

    def vectors_for(self, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        """Stored vectors of chunks whose embedded text has one of these hashes."""
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(hashes))
        for start in range(0, len(unique), 500):
            with self._reachable():
                got = self.collection.get(
                    where={"hash": {"$in": unique[start : start + 500]}},  # type: ignore[dict-item]
                    include=["embeddings", "metadatas"],  # type: ignore[list-item]
                )
            metas = got["metadatas"] or []
            embeddings = got["embeddings"] if got["embeddings"] is not None else []
            for meta, vector in zip(metas, embeddings, strict=True):
                found[str(meta["hash"])] = np.asarray(vector, dtype=np.float32)
        return found

    def query(self, vector: np.ndarray, k: int, where: dict[str, Any] | None = None) -> list[Hit]:
        """The k nearest chunks by cosine similarity (score = 1 - distance)."""
        with self._reachable():
            result = self.collection.query(
                query_embeddings=[vector],
                n_results=k,
                where=where,  # type: ignore[arg-type]
                include=["documents", "metadatas", "distances"],  # type: ignore[list-item]
            )
        return [
            Hit(id=i, text=d or "", score=1.0 - float(dist), metadata=dict(m or {}))
            for i, d, m, dist in zip(
                result["ids"][0],
                (result["documents"] or [[]])[0],
                (result["metadatas"] or [[]])[0],
                (result["distances"] or [[]])[0],
                strict=True,
            )
        ]

    def scan(
        self, with_vectors: bool = False
    ) -> Iterator[tuple[list[str], list[str], list[dict[str, Any]], Any]]:
        """Every stored chunk, page by page: ids, texts, metadata and (optionally) vectors."""
        include = ["documents", "metadatas"] + (["embeddings"] if with_vectors else [])
        self._collection = None  # fetched anew: `ingest --rebuild` elsewhere gives it a new id
        offset = 0
        while True:
            with self._reachable():
                got = self.collection.get(include=include, limit=PAGE, offset=offset)  # type: ignore[arg-type]
            if not got["ids"]:
                return
            yield (
                got["ids"],
                [d or "" for d in got["documents"] or []],
                [dict(m or {}) for m in got["metadatas"] or []],
                got.get("embeddings") if with_vectors else None,
            )
            offset += len(got["ids"])
