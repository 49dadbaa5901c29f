"""Load: many askers share one KnowledgeBase for a bounded time; errors, p50/p95 and throughput.

Each asker thread loops over the questions, taking turns at ask(), ask_stream() and search(),
with and without a product filter. Every result is checked (citations point at passages,
filters hold); an exception or a malformed result counts as an error. Prints a table and a
JSON line.

    python bench/load.py --home .lakesage [--askers 20] [--seconds 15] [../shared/eval/dev.jsonl]
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rag.evaluate import citation_check, read_questions
from rag.kb import KnowledgeBase
from rag.models import Answer, Hit
from rag.retrieval import Filters
from rag.settings import load_settings

OPERATIONS = ("ask", "ask_stream", "search")
DEFAULT_QUESTIONS = (
    "How do I enable column mapping with delta.columnMapping.mode?",
    "How do I add a CHECK constraint to a Delta table?",
    "What does spark.sql.shuffle.partitions control?",
    "How do I register a model in the MLflow Model Registry?",
    "How long do we keep bronze tables before VACUUM?",
    "Who won the 2018 FIFA World Cup?",
    "How do I configure a Snowpipe with auto-ingest?",
)


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


def answer_problems(answer: Answer, filters: Filters) -> list[str]:
    """What is wrong with an answer: citations out of range, a cited refusal, filter leaks."""
    problems = []
    if not answer.text.strip():
        problems.append("empty answer")
    if any(not 1 <= n <= len(answer.hits) for n in answer.citations):
        problems.append(f"citation out of range: {answer.citations} for {len(answer.hits)} hits")
    if answer.refused and answer.citations:
        problems.append("a refusal with citations")
    if not answer.refused and not answer.citations:
        problems.append("an answer without citations")
    total, valid = citation_check(answer)
    if valid != total:
        problems.append(f"{total - valid} of {total} [n] markers point at no passage")
    return problems + hit_problems(answer.hits, filters)


def hit_problems(hits: Sequence[Hit], filters: Filters) -> list[str]:
    """Hits that escape the product filter or repeat."""
    problems = []
    if filters.products and (leaks := {h.product for h in hits} - set(filters.products)):
        problems.append(f"filter {filters.products} leaked {sorted(leaks)}")
    if len({h.id for h in hits}) != len(hits):
        problems.append("a passage returned twice")
    return problems


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("questions", type=Path, nargs="?", help="JSONL questions (dev.jsonl)")
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--askers", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args()
    questions = (
        [q.question for q in read_questions(args.questions)]
        if args.questions
        else list(DEFAULT_QUESTIONS)
    )
    kb = KnowledgeBase(load_settings(home=args.home))
    products = sorted(kb.status()["products"])
    kb.ask(questions[0])  # load the model and the snapshot before the clock starts
    report = run_load(kb, questions, askers=args.askers, seconds=args.seconds, products=products)
    summary = report.summary()
    print(f"{'operation':<12}{'calls':>8}{'p50 ms':>10}{'p95 ms':>10}")
    for op in OPERATIONS:
        if op in summary:
            row = summary[op]
            print(f"{op:<12}{row['calls']:>8}{row['p50_ms']:>10}{row['p95_ms']:>10}")
    print(
        f"{'all':<12}{summary['questions']:>8}{summary['p50_ms']:>10}{summary['p95_ms']:>10}"
        f"   {summary['throughput_qps']} calls/s, {summary['errors']} errors"
    )
    for error in report.errors[:10]:
        print(f"error: {error}")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
