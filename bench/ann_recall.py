"""Chroma's HNSW (approximate) search against exact search on a real index: recall@10.

    python bench/ann_recall.py --home .lakesage ../shared/eval/dev.jsonl

Uses the evaluation questions as queries; prints recall@10 and a JSON line.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from rag.evaluate import read_questions
from rag.kb import KnowledgeBase
from rag.settings import load_settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("questions", type=Path)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()
    kb = KnowledgeBase(load_settings(home=args.home))
    snap = kb.retriever.snapshot()
    store = kb.retriever.store
    recalls = []
    for q in read_questions(args.questions):
        query = kb.embedder.embed([q.question])[0]
        exact = {snap.ids[i] for i in np.argsort(-(snap.vectors @ query))[: args.k]}
        approximate = {h.id for h in store.query(query, args.k)}
        recalls.append(len(exact & approximate) / args.k)
    result = {
        "chunks": len(snap),
        "queries": len(recalls),
        f"recall@{args.k}": round(float(np.mean(recalls)), 4),
        f"min_recall@{args.k}": round(float(np.min(recalls)), 4),
        "hnsw": store.collection.configuration.get("hnsw"),
    }
    print(f"HNSW vs exact over {len(snap)} chunks: recall@{args.k} {result[f'recall@{args.k}']}")
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
