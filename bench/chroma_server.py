"""Query latency through a `chroma run` server against the embedded store, on the same data.

For the real index and for synthetic ones of 10k and 100k chunks (bench/query.py's perturbed
copies of the real chunks), the same collection is loaded into an embedded store and into a
fresh server on loopback. Measured per mode: KnowledgeBase.search p50/p95 (query embedding,
exact dense + BM25 over the in-memory snapshot, the index-stamp check: a stat of the ledger
embedded, at most one request a second on a server), a raw
Chroma top-10 query p50/p95 (HNSW), the snapshot load (a reader's refresh after an ingest)
and bytes on disk per chunk. Each question is embedded once up front and its vector reused,
so search latency is retrieval only: the model costs the same in both modes, and on a busy
machine its noise would drown the difference (its own p50 is printed). Prints ratios
server/embedded and a JSON line.

    python bench/chroma_server.py --home .lakesage ../shared/eval/dev.jsonl [--sizes 10000 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from query import percentiles, replicate  # bench/query.py, beside this script

from rag.embedding import Embedder, model_identity
from rag.evaluate import read_questions
from rag.kb import KnowledgeBase
from rag.ledger import Ledger
from rag.retrieval import Snapshot
from rag.settings import Settings, load_settings
from rag.store import ChromaStore

BIN = Path(sys.executable).parent


class Remembered:
    """A real embedder that embeds each distinct input once and then reuses the vectors."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.max_tokens = inner.max_tokens
        self.query_prefix = inner.query_prefix
        self._seen: dict[tuple[str, ...], np.ndarray] = {}

    @property
    def dim(self) -> int:
        """Vector dimensions."""
        return self.inner.dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """The inner embedder's vectors, computed on first sight."""
        key = tuple(texts)
        if key not in self._seen:
            self._seen[key] = self.inner.embed(texts)
        return self._seen[key]

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """The inner embedder's counts."""
        return self.inner.count_tokens(texts)

    def is_word(self, word: str) -> bool:
        """The inner embedder's answer."""
        return self.inner.is_word(word)


def start_server(path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`chroma run` on a free loopback port, once its heartbeat answers."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False", "DO_NOT_TRACK": "1"}
    process = subprocess.Popen(
        [BIN / "chroma", "run", "--path", path, "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    for _ in range(300):
        try:
            with direct.open(f"{url}/api/v2/heartbeat", timeout=1):
                return process, url
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("chroma run did not start")


def stop(process: subprocess.Popen[bytes]) -> None:
    """End a server this script started."""
    process.terminate()
    process.wait(timeout=30)


def copy_collection(source: ChromaStore, target: ChromaStore) -> int:
    """Every chunk of one store into another, vectors included; returns how many."""
    copied = 0
    for ids, texts, metas, vectors in source.scan(with_vectors=True):
        target.collection.add(
            ids=ids,
            embeddings=np.asarray(vectors, dtype=np.float32),
            documents=texts,
            metadatas=metas,  # type: ignore[arg-type]
        )
        copied += len(ids)
    return copied


def disk_bytes(path: Path) -> int:
    """Bytes of every file under a folder."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def measure(
    kbs: dict[str, KnowledgeBase], questions: list[str], vectors: np.ndarray
) -> dict[str, dict[str, float]]:
    """Snapshot load, KnowledgeBase.search and raw Chroma query latencies of each mode, the
    modes taking turns question by question so a noisy machine slows both alike."""
    out: dict[str, dict[str, float]] = {}
    search: dict[str, list[float]] = {mode: [] for mode in kbs}
    raw: dict[str, list[float]] = {mode: [] for mode in kbs}
    for mode, kb in kbs.items():
        started = time.perf_counter()
        Snapshot.load(kb.retriever.store)
        out[mode] = {"snapshot_load_s": round(time.perf_counter() - started, 2)}
        kb.search(questions[0], 10)  # warm: the snapshot, the model, the connection
        kb.retriever.store.query(vectors[0], 10)
    for question, vector in zip(questions, vectors, strict=True):
        for mode, kb in kbs.items():
            started = time.perf_counter()
            kb.search(question, 10)
            search[mode].append(time.perf_counter() - started)
            started = time.perf_counter()
            kb.retriever.store.query(vector, 10)
            raw[mode].append(time.perf_counter() - started)
    for mode in kbs:
        out[mode].update({f"search_{k}": v for k, v in percentiles(search[mode]).items()})
        out[mode].update({f"raw_query_{k}": v for k, v in percentiles(raw[mode]).items()})
    return out


def compare(
    embedded: Settings, tmp: Path, label: str, kb: KnowledgeBase, questions: list[str]
) -> dict[str, Any]:
    """The same collection embedded and through a fresh server: latencies and disk per chunk."""
    vectors = kb.embedder.embed(questions)
    count = ChromaStore(embedded).count()
    data = tmp / f"server-{label}"
    process, url = start_server(data)
    try:
        served = embedded.model_copy(update={"chroma_url": url, "home": tmp / f"reader-{label}"})
        store = ChromaStore(served)
        copy_collection(ChromaStore(embedded), store)
        store.publish({"model": model_identity(embedded), "chunks": count})
        kbs = {
            "embedded": KnowledgeBase(embedded, embedder=kb.embedder),
            "server": KnowledgeBase(served, embedder=kb.embedder),
        }
        results: dict[str, Any] = {"chunks": count, **measure(kbs, questions, vectors)}
    finally:
        stop(process)  # flushes the server's files before they are measured
    results["embedded"]["bytes_per_chunk"] = round(disk_bytes(embedded.chroma_path) / count)
    results["server"]["bytes_per_chunk"] = round(disk_bytes(data) / count)
    results["server_over_embedded"] = {
        key: round(results["server"][key] / results["embedded"][key], 2)
        for key in results["embedded"]
        if results["embedded"][key]
    }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("questions", type=Path)
    parser.add_argument("--home", type=Path, required=True, help="a home with an embedded index")
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000])
    args = parser.parse_args()
    questions = [q.question for q in read_questions(args.questions)]
    settings = load_settings(home=args.home)
    if settings.chroma_url:
        raise SystemExit("unset LAKESAGE_CHROMA_URL: --home must hold an embedded index")
    kb = KnowledgeBase(settings)
    embed_s = []
    for question in questions:
        started = time.perf_counter()
        kb.embedder.embed([question])
        embed_s.append(time.perf_counter() - started)
    kb = KnowledgeBase(settings, embedder=Remembered(kb.embedder))
    for question in questions:
        kb.embedder.embed([question])
    runs: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        real = kb.settings.model_copy(update={"home": tmp / "real"})
        copy_collection(ChromaStore(kb.settings), ChromaStore(real))  # the source stays untouched
        ledger = Ledger(real.ledger_path)
        ledger.set_meta("model", model_identity(real))
        ledger.close()
        runs["real"] = compare(real, tmp, "real", kb, questions)
        for size in args.sizes:
            synthetic = replicate(kb.settings, tmp / f"synthetic-{size}", size)
            runs[str(size)] = compare(synthetic, tmp, str(size), kb, questions)
    for r in runs.values():
        r["chunks_per_gb"] = {
            m: round(1e9 / r[m]["bytes_per_chunk"]) for m in ("embedded", "server")
        }
    print("embedded / server (server over embedded)")
    rows = {"chunks": [str(r["chunks"]) for r in runs.values()]}
    for key in runs["real"]["embedded"]:
        rows[key] = [
            f"{r['embedded'][key]} / {r['server'][key]} ({r['server_over_embedded'].get(key)}x)"
            for r in runs.values()
        ]
    rows["chunks per GB"] = [
        f"{r['chunks_per_gb']['embedded']} / {r['chunks_per_gb']['server']}" for r in runs.values()
    ]
    print(f"{'':<20}" + "".join(f"{name:>30}" for name in runs))
    for key, cells in rows.items():
        print(f"{key:<20}" + "".join(f"{cell:>30}" for cell in cells))
    embedding = percentiles(embed_s)
    print(
        f"query embedding (both modes): p50 {embedding['p50_ms']} ms, p95 {embedding['p95_ms']} ms"
    )
    print(
        json.dumps(
            {
                "backend": kb.settings.embed_backend,
                "questions": len(questions),
                "query_embedding": embedding,
                **runs,
            }
        )
    )


if __name__ == "__main__":
    main()
