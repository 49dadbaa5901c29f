"""Query latency on a real index and on a 100k-chunk one, and HNSW recall against exact search.

The large index replicates the real chunks with perturbed embeddings (text kept, so BM25
works on real words). Latencies include the query embedding. Prints a table and a JSON line.

    python bench/query.py --home .lakesage ../shared/eval/dev.jsonl [--size 100000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from machine import describe, line  # bench/machine.py, beside this script

from rag.evaluate import read_questions
from rag.kb import KnowledgeBase
from rag.ledger import Ledger
from rag.settings import Settings, load_settings
from rag.store import ChromaStore


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50 and p95 in milliseconds."""
    ms = np.asarray(samples) * 1000
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p95_ms": round(float(np.percentile(ms, 95)), 2),
    }


def latencies(kb: KnowledgeBase, questions: list[str], *, answer: bool) -> dict[str, float]:
    """Search (and, with answer, extractive ask) latency over the questions, after a warm-up."""
    kb.search(questions[0], 10)
    kb.ask(questions[0])
    search, ask = [], []
    for q in questions:
        started = time.perf_counter()
        kb.search(q, 10)
        search.append(time.perf_counter() - started)
        if answer:
            started = time.perf_counter()
            kb.ask(q)
            ask.append(time.perf_counter() - started)
    out = {f"search_{k}": v for k, v in percentiles(search).items()}
    if answer:
        out.update({f"answer_{k}": v for k, v in percentiles(ask).items()})
    return out


def ann_recall(kb: KnowledgeBase, questions: list[str], k: int = 10) -> float:
    """Share of the exact top k that Chroma's HNSW returns."""
    snap = kb.retriever.snapshot()
    recalls = []
    for q in questions:
        query = kb.embedder.embed([q])[0]
        exact = {snap.ids[i] for i in np.argsort(-(snap.vectors @ query))[:k]}
        approximate = {h.id for h in kb.retriever.store.query(query, k)}
        recalls.append(len(exact & approximate) / k)
    return round(float(np.mean(recalls)), 4)


def replicate(source: Settings, home: Path, size: int, seed: int = 7) -> Settings:
    """A home whose collection holds `size` chunks: real ones, then perturbed copies."""
    snap = KnowledgeBase(source).retriever.snapshot()
    target = source.model_copy(update={"home": home})
    store = ChromaStore(target)
    rng = np.random.default_rng(seed)
    n = len(snap)
    batch = 5000
    for start in range(0, size, batch):
        rows = range(start, min(size, start + batch))
        picks = [r % n for r in rows]
        vectors = snap.vectors[picks] + rng.normal(0, 0.02, (len(picks), snap.vectors.shape[1]))
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        metas: list[dict[str, Any]] = []
        for r, p in zip(rows, picks, strict=True):
            meta = dict(snap.metas[p])
            if r >= n:
                meta["source"] = f"copy{r // n}/{meta['source']}"
                meta["hash"] = f"{meta['hash']}-{r}"
            metas.append(meta)
        store.collection.add(
            ids=[f"bench-{r}" for r in rows],
            embeddings=vectors.astype(np.float32),
            documents=[snap.texts[p] for p in picks],
            metadatas=metas,  # type: ignore[arg-type]
        )
    ledger = Ledger(target.ledger_path)
    ledger.set_meta("model", source.embed_model)
    ledger.close()
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("questions", type=Path)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--size", type=int, default=100_000)
    args = parser.parse_args()
    questions = [q.question for q in read_questions(args.questions)]
    settings = load_settings(home=args.home)
    real = KnowledgeBase(settings)
    results: dict[str, Any] = {"backend": settings.embed_backend}
    results["real"] = {
        "chunks": len(real.retriever.snapshot()),
        **latencies(real, questions, answer=True),
    }
    results["real"]["ann_recall@10"] = ann_recall(real, questions)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        big = KnowledgeBase(
            replicate(settings, Path(tmp) / "big", args.size), embedder=real.embedder
        )
        big.retriever.snapshot()
        results["large_build_s"] = round(time.perf_counter() - started, 1)
        results["large"] = {"chunks": args.size, **latencies(big, questions, answer=True)}
        results["large"]["ann_recall@10"] = ann_recall(big, questions)
    results["machine"] = describe()
    print(f"machine: {line(results['machine'])}")
    print(f"{'':<18}{'real':>12}{'large':>12}")
    for key in (
        "chunks",
        "search_p50_ms",
        "search_p95_ms",
        "answer_p50_ms",
        "answer_p95_ms",
        "ann_recall@10",
    ):
        print(f"{key:<18}{results['real'][key]:>12}{results['large'][key]:>12}")
    results["large_over_real_search_p50"] = round(
        results["large"]["search_p50_ms"] / results["real"]["search_p50_ms"], 2
    )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
