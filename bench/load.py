"""Load: many askers share one KnowledgeBase for a bounded time; errors, p50/p95 and throughput.

rag.load runs the askers and checks every result (an exception or a malformed result counts
as an error); this prints a table and a JSON line.

    python bench/load.py --home .lakesage [--askers 20] [--seconds 15] [../shared/eval/dev.jsonl]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rag.evaluate import read_questions
from rag.kb import KnowledgeBase
from rag.load import OPERATIONS, run_load
from rag.settings import load_settings

DEFAULT_QUESTIONS = (
    "How do I enable column mapping with delta.columnMapping.mode?",
    "How do I add a CHECK constraint to a Delta table?",
    "What does spark.sql.shuffle.partitions control?",
    "How do I register a model in the MLflow Model Registry?",
    "How long do we keep bronze tables before VACUUM?",
    "Who won the 2018 FIFA World Cup?",
    "How do I configure a Snowpipe with auto-ingest?",
)


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
