"""Calibrate the extractive engine's refusal threshold on a question set.

Prints the confidence of every question and the threshold that refuses the most
unanswerable questions while keeping false refusals of answerable ones under a cap.

    python bench/calibrate_refusal.py --home .lakesage ../shared/eval/dev.jsonl
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rag.evaluate import read_questions
from rag.kb import KnowledgeBase
from rag.settings import load_settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("questions", type=Path)
    parser.add_argument("--home", type=Path)
    parser.add_argument("--max-false", type=float, default=0.05, help="false-refusal cap")
    args = parser.parse_args()
    kb = KnowledgeBase(load_settings(home=args.home))
    rows = []
    for q in read_questions(args.questions):
        hits = kb.search(q.question, kb.settings.top_k)
        rows.append((kb.confidence(q.question, hits), q.answerable, q.id))
    answerable = [c for c, a, _ in rows if a]
    unanswerable = [c for c, a, _ in rows if not a]
    levels = sorted({c for c, _, _ in rows})
    best = (0.0, 0.0, -1.0)  # (cut, false refusals, refusals): refuse every confidence <= cut
    for cut in levels:
        false = sum(c <= cut for c in answerable) / len(answerable)
        refused = sum(c <= cut for c in unanswerable) / max(1, len(unanswerable))
        if false <= args.max_false and refused > best[2]:
            best = (cut, false, refused)
    # Halfway to the next confidence leaves a margin on both sides for unseen questions.
    above = min((c for c in levels if c > best[0]), default=best[0])
    threshold = round((best[0] + above) / 2, 3)
    for conf, answerable_q, qid in sorted(rows):
        print(f"{conf:6.3f} {'answerable' if answerable_q else 'OFF-CORPUS':10} {qid}")
    print(json.dumps({"threshold": threshold, "false_refusal": best[1], "refusal": best[2]}))


if __name__ == "__main__":
    main()
