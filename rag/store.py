"""The Chroma vector store: embedded on disk, or a client of a shared `chroma run` server."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import numpy as np

from rag.models import Chunk, Hit
from rag.offline import go_offline

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

    from rag.settings import Settings

# Wide HNSW search: the corpus is small enough that recall matters more than microseconds.
HNSW = {"space": "cosine", "ef_construction": 200, "ef_search": 200, "max_neighbors": 32}
PAGE = 2000


def make_client(settings: Settings) -> ClientAPI:
    """An embedded PersistentClient under the home folder, or an HttpClient for chroma_url."""
    go_offline()
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=True)
    if settings.chroma_url:
        url = urlparse(settings.chroma_url)
        return chromadb.HttpClient(
            host=url.hostname or "127.0.0.1",
            port=url.port or (443 if url.scheme == "https" else 8000),
            ssl=url.scheme == "https",
            settings=chroma_settings,
        )
    settings.chroma_path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(settings.chroma_path), settings=chroma_settings)


class ChromaStore:
    """Chunks with explicit embeddings in one cosine-space collection."""

    def __init__(self, settings: Settings, client: ClientAPI | None = None) -> None:
        self.name = settings.collection
        self.client = client or make_client(settings)
        self._collection: Collection | None = None

    @property
    def collection(self) -> Collection:
        """The collection, created on first use with no embedding function of Chroma's own."""
        if self._collection is None:
            self._collection = self.client.get_or_create_collection(
                self.name,
                embedding_function=None,
                configuration={"hnsw": dict(HNSW)},  # type: ignore[arg-type]
            )
        return self._collection

    def count(self) -> int:
        """Number of chunks stored."""
        return int(self.collection.count())

    def drop(self) -> None:
        """Delete the whole collection (for --rebuild)."""
        with contextlib.suppress(Exception):  # an absent collection: nothing to drop
            self.client.delete_collection(self.name)
        self._collection = None

    def upsert(self, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        """Store chunks with their vectors; ids are deterministic, so repeats overwrite."""
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
        self.collection.delete(where=where)  # type: ignore[arg-type]

    def vectors_for(self, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        """Stored vectors of chunks whose embedded text has one of these hashes."""
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(hashes))
        for start in range(0, len(unique), 500):
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
        offset = 0
        while True:
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
