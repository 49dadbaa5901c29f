"""Load: many askers share one KnowledgeBase for a bounded time; every result is checked.

Each asker thread loops over the questions, taking turns at ask(), ask_stream() and search(),
with and without a product filter. Every result is checked (citations point at passages,
filters hold); an exception or a malformed result counts as an error. bench/load.py runs it on
an index and prints the figures; tests run it on a small one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rag.evaluate import answer_problems, hit_problems
from rag.kb import KnowledgeBase
from rag.retrieval import Filters

OPERATIONS = ("ask", "ask_stream", "search")


@dataclass
class LoadReport:
    """What the askers did: calls per operation, latencies, and every error seen."""

    askers: int
    seconds: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    refused: int = 0

    @property
    def questions(self) -> int:
        """Calls made, errors included."""
        return sum(len(v) for v in self.latencies.values())

    def summary(self) -> dict[str, Any]:
        """Counts, p50/p95 in ms overall and per operation, and calls per second."""
        every = [s for samples in self.latencies.values() for s in samples]
        out: dict[str, Any] = {
            "askers": self.askers,
            "questions": self.questions,
            "errors": len(self.errors),
            "refused": self.refused,
            "seconds": round(self.seconds, 1),
            "throughput_qps": round(self.questions / self.seconds, 2) if self.seconds else 0.0,
            **percentiles(every),
        }
        for op, samples in sorted(self.latencies.items()):
            out[op] = {"calls": len(samples), **percentiles(samples)}
        return out


def percentiles(samples: Sequence[float]) -> dict[str, float]:
    """p50 and p95 of latencies in seconds, as milliseconds."""
    if not samples:
        return {"p50_ms": 0.0, "p95_ms": 0.0}
    ms = np.asarray(samples) * 1000
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p95_ms": round(float(np.percentile(ms, 95)), 1),
    }


def one_call(kb: KnowledgeBase, op: str, question: str, filters: Filters) -> tuple[list[str], bool]:
    """Run one operation; its problems and whether it declined."""
    if op == "search":
        hits = kb.search(question, 8, filters)
        return hit_problems(hits, filters) + ([] if len(hits) <= 8 else ["more than k hits"]), False
    if op == "ask":
        answer = kb.ask(question, filters=filters)
        return answer_problems(answer, filters), answer.refused
    stream = kb.ask_stream(question, filters=filters)
    text = "".join(stream)
    if stream.answer is None:
        return ["the stream ended without an answer"], False
    joined = [] if text == stream.answer.text else ["streamed pieces differ from the answer"]
    return joined + answer_problems(stream.answer, filters), stream.answer.refused


def run_load(
    kb: KnowledgeBase,
    questions: Sequence[str],
    *,
    askers: int = 20,
    seconds: float = 15.0,
    products: Sequence[str] = (),
) -> LoadReport:
    """Askers threads share kb for about `seconds`, mixing operations, questions and filters."""
    report = LoadReport(askers)
    lock = threading.Lock()
    start_gate = threading.Barrier(askers + 1)
    deadline = 0.0
    filter_choices = [Filters(), *(Filters(products=(p,)) for p in products)]

    def asker(number: int) -> None:
        start_gate.wait()
        turn = number
        while time.perf_counter() < deadline:
            op = OPERATIONS[turn % len(OPERATIONS)]
            question = questions[(turn * 7 + number) % len(questions)]
            filters = filter_choices[(turn // len(OPERATIONS)) % len(filter_choices)]
            turn += 1
            started = time.perf_counter()
            try:
                problems, refused = one_call(kb, op, question, filters)
            except Exception as exc:  # noqa: BLE001 - every failure is counted, none ends the run
                problems, refused = [f"{type(exc).__name__}: {exc}"], False
            elapsed = time.perf_counter() - started
            with lock:
                report.latencies.setdefault(op, []).append(elapsed)
                report.refused += refused
                report.errors += [f"{op} {question!r} {filters}: {p}" for p in problems]

    threads = [
        threading.Thread(target=asker, args=(n,), name=f"asker-{n}", daemon=True)
        for n in range(askers)
    ]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    deadline = began + seconds
    start_gate.wait()
    for thread in threads:
        thread.join()
    report.seconds = time.perf_counter() - began
    return report
