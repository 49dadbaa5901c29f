"""The batches a store crash test writes, the same in every process, and the check of what a
reopened store kept of them."""

from __future__ import annotations

import numpy as np

from rag.store import ChromaStore

SIZE = 500  # chunks per batch: Chroma saves the HNSW files every 1000 writes


def vectors(batch: int) -> np.ndarray:
    """The unit vectors of one batch, the same in every process."""
    v = np.random.default_rng(batch).standard_normal((SIZE, 384))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def check(store: ChromaStore, done: list[int]) -> dict[str, int]:
    """Count, wrong or missing vectors of the completed batches, and self-queries that miss."""
    got = store.collection.get(include=["embeddings"])  # type: ignore[list-item]
    stored = dict(
        zip(got["ids"], got["embeddings"] if got["embeddings"] is not None else [], strict=True)
    )
    wrong = misses = 0
    for batch in done:
        expected = vectors(batch)
        for i in range(SIZE):
            vector = stored.get(f"b{batch}-{i}")
            wrong += vector is None or not np.allclose(vector, expected[i], atol=1e-6)
        for i in (0, SIZE // 2, SIZE - 1):
            hits = store.query(expected[i], 3)
            misses += not hits or hits[0].id != f"b{batch}-{i}" or hits[0].score < 0.99
    return {"count": store.count(), "wrong": wrong, "misses": misses}
