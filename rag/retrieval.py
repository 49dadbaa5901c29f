"""Hybrid retrieval: exact (or Chroma ANN) dense search plus BM25, fused by reciprocal rank."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rag.embedding import Embedder
from rag.keywords import KeywordIndex
from rag.models import Hit
from rag.store import ChromaStore

RRF_K = 60
CANDIDATES = 100
NEAR_DUPLICATE = 0.98


@dataclass(frozen=True)
class Filters:
    """Restrict a search to some products, source path prefixes or versions (empty: no limit)."""

    products: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    versions: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.products or self.sources or self.versions)

    def where(self) -> dict[str, Any] | None:
        """The same restriction as a Chroma where clause (source prefixes excepted)."""
        clauses: list[dict[str, Any]] = []
        if self.products:
            clauses.append({"product": {"$in": list(self.products)}})
        if self.versions:
            clauses.append({"version": {"$in": list(self.versions)}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}


@dataclass
class Snapshot:
    """Every chunk of the index in memory: texts, metadata, vectors and the keyword index."""

    ids: list[str]
    texts: list[str]
    metas: list[dict[str, Any]]
    vectors: np.ndarray
    keywords: KeywordIndex
    _by_position: dict[tuple[str, str, int], int] = field(default_factory=dict)

    @classmethod
    def load(cls, store: ChromaStore) -> Snapshot:
        """Read the whole collection from the store."""
        ids: list[str] = []
        texts: list[str] = []
        metas: list[dict[str, Any]] = []
        blocks: list[np.ndarray] = []
        for page_ids, page_texts, page_metas, page_vectors in store.scan(with_vectors=True):
            ids += page_ids
            texts += page_texts
            metas += page_metas
            blocks.append(np.asarray(page_vectors, dtype=np.float32))
        vectors = np.concatenate(blocks) if blocks else np.zeros((0, 1), dtype=np.float32)
        indexed = [f"{m.get('heading_path', '')}\n{t}" for m, t in zip(metas, texts, strict=True)]
        return cls(ids, texts, metas, vectors, KeywordIndex(indexed))

    def __len__(self) -> int:
        return len(self.ids)

    def mask(self, filters: Filters) -> np.ndarray | None:
        """Which chunks pass the filters (None: all)."""
        if not filters:
            return None
        keep = np.ones(len(self), dtype=bool)
        for i, meta in enumerate(self.metas):
            keep[i] = (
                (not filters.products or meta.get("product") in filters.products)
                and (not filters.versions or meta.get("version") in filters.versions)
                and (not filters.sources or str(meta.get("source", "")).startswith(filters.sources))
            )
        return keep

    def position(self, index: int) -> tuple[str, str, int]:
        """Where a chunk sits: origin, source and ordinal."""
        meta = self.metas[index]
        return str(meta.get("origin", "")), str(meta.get("source", "")), int(meta.get("ordinal", 0))

    def window(self, index: int, radius: int) -> list[int]:
        """The chunk and its neighbours in the same file, in reading order."""
        if not self._by_position:
            self._by_position = {self.position(i): i for i in range(len(self))}
        origin, source, ordinal = self.position(index)
        found = (
            self._by_position.get((origin, source, o))
            for o in range(ordinal - radius, ordinal + radius + 1)
        )
        return [i for i in found if i is not None]

    def hit(self, index: int, score: float, radius: int = 0, **extra: float) -> Hit:
        """A Hit for chunk number index, its text widened to the neighbouring chunks."""
        meta = dict(self.metas[index])
        meta.update(extra)
        parts = []
        for i in self.window(index, radius) if radius else [index]:
            heading = self.metas[i].get("heading_path")
            if i != index and heading != meta.get("heading_path"):
                parts.append(f"{str(heading).rsplit(' > ', 1)[-1]}:")
            parts.append(self.texts[i])
        return Hit(id=self.ids[index], text="\n\n".join(parts), score=score, metadata=meta)


class Retriever:
    """Finds the chunks for a question in a snapshot of the index."""

    def __init__(
        self,
        store: ChromaStore,
        embedder: Embedder,
        *,
        exact_limit: int = 200_000,
        keyword_weight: float = 1.0,
        per_source: int = 3,
        window: int = 1,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.exact_limit = exact_limit
        self.keyword_weight = keyword_weight
        self.per_source = per_source
        self.window = window
        self._snapshot: Snapshot | None = None
        self._stale = False
        self._lock = threading.Lock()

    def snapshot(self) -> Snapshot:
        """The in-memory copy of the index, loaded on first use and reloaded once stale;
        while a reload fails (an ingest is writing), the previous copy keeps answering."""
        with self._lock:
            if self._snapshot is None or self._stale:
                try:
                    if self._stale:
                        self.store = self.store.reopened()
                    self._snapshot = Snapshot.load(self.store)
                    self._stale = False
                except Exception:
                    if self._snapshot is None:
                        raise
            return self._snapshot

    def refresh(self) -> None:
        """Have the next search load the latest ingest (through a fresh Chroma client)."""
        with self._lock:
            self._stale = True

    def search(self, question: str, k: int = 10, filters: Filters | None = None) -> list[Hit]:
        """The k best chunks for a question, dense and keyword ranks fused."""
        snap = self.snapshot()
        filters = filters or Filters()
        if not len(snap) or k <= 0:
            return []
        query = self.embedder.embed([question])[0]
        mask = snap.mask(filters)
        dense = self._dense(snap, query, mask, filters)
        keyword = snap.keywords.scores(question)
        if mask is not None:
            keyword = np.where(mask, keyword, 0.0)
        fused = self._fuse(dense, keyword)
        return self._select(snap, fused, dense, keyword, k)

    def _dense(
        self, snap: Snapshot, query: np.ndarray, mask: np.ndarray | None, filters: Filters
    ) -> dict[int, float]:
        """Cosine scores of the best candidates: exact while the index is small, else Chroma's HNSW."""
        if len(snap) <= self.exact_limit:
            sims = snap.vectors @ query
            if mask is not None:
                sims = np.where(mask, sims, -np.inf)
            top = _top(sims, CANDIDATES)
            return {int(i): float(sims[i]) for i in top if np.isfinite(sims[i])}
        positions = {chunk_id: i for i, chunk_id in enumerate(snap.ids)}
        hits = self.store.query(query, CANDIDATES, filters.where())
        found = {positions[h.id]: h.score for h in hits if h.id in positions}
        # Chroma cannot filter by path prefix: apply the full mask to what it returns.
        return {i: score for i, score in found.items() if mask is None or mask[i]}

    def _fuse(self, dense: dict[int, float], keyword: np.ndarray) -> dict[int, float]:
        """Reciprocal rank fusion of the two rankings."""
        fused: dict[int, float] = {}
        for rank, i in enumerate(sorted(dense, key=dense.__getitem__, reverse=True)):
            fused[i] = 1.0 / (RRF_K + rank + 1)
        for rank, i in enumerate(_top(keyword, CANDIDATES)):
            if keyword[i] <= 0:
                break
            fused[int(i)] = fused.get(int(i), 0.0) + self.keyword_weight / (RRF_K + rank + 1)
        return fused

    def _select(
        self,
        snap: Snapshot,
        fused: dict[int, float],
        dense: dict[int, float],
        keyword: np.ndarray,
        k: int,
    ) -> list[Hit]:
        """The top k passages: none repeats text another already shows, and one file gives at
        most per_source of them before the other files get a turn."""
        picker = _Picker(snap, self.window)
        overflow: list[int] = []
        per_source: dict[str, int] = {}
        for i in sorted(fused, key=fused.__getitem__, reverse=True):
            if len(picker.chosen) >= k:
                break
            if picker.repeats(i):
                continue
            source = str(snap.metas[i].get("source", ""))
            if per_source.get(source, 0) >= self.per_source:
                overflow.append(i)
                continue
            per_source[source] = per_source.get(source, 0) + 1
            picker.take(i)
        for i in overflow:
            if len(picker.chosen) >= k:
                break
            if not picker.repeats(i):
                picker.take(i)
        return [
            snap.hit(
                i,
                fused[i],
                self.window,
                dense_score=dense.get(i, 0.0),
                keyword_score=float(keyword[i]),
            )
            for i in picker.chosen
        ]


class _Picker:
    """The passages chosen so far and the chunks and texts their windows already show."""

    def __init__(self, snap: Snapshot, window: int) -> None:
        self.snap = snap
        self.window = window
        self.chosen: list[int] = []
        self._shown: set[int] = set()
        self._hashes: set[str] = set()

    def repeats(self, i: int) -> bool:
        """Whether chunk i is already shown, word for word or nearly (cosine >= 0.98)."""
        if i in self._shown or str(self.snap.metas[i].get("hash", "")) in self._hashes:
            return True
        if not self.chosen or self.snap.vectors.shape[1] == 1:
            return False
        sims = self.snap.vectors[self.chosen] @ self.snap.vectors[i]
        return bool(np.max(sims) >= NEAR_DUPLICATE)

    def take(self, i: int) -> None:
        """Choose chunk i; its whole window counts as shown."""
        self.chosen.append(i)
        for j in self.snap.window(i, self.window):
            self._shown.add(j)
            self._hashes.add(str(self.snap.metas[j].get("hash", "")))


def _top(scores: np.ndarray, n: int) -> np.ndarray:
    """Indices of the n largest scores, best first."""
    n = min(n, len(scores))
    if n == 0:
        return np.zeros(0, dtype=int)
    part = np.argpartition(-scores, n - 1)[:n]
    return part[np.argsort(-scores[part])]
