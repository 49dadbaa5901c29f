"""Check (and refit) the weights that score quotable units for the extractive answer.

For each answerable question, every unit of the retrieved passages is labelled with the share
of the question's keywords it holds; a pairwise logistic regression (numpy, L2) learns which
signals put the best units first. Cross-validation over questions says how often the top unit,
and any of the top three, hold the answer: with the weights in rag/selection.py and with the
fitted ones. Fitted weights are printed for a person to round and judge, never applied.

    python bench/fit_unit_weights.py --home .lakesage ../shared/eval/dev.jsonl
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent]

from rag import selection  # noqa: E402
from rag.answer import render_row  # noqa: E402
from rag.evaluate import keyword_recall, read_questions  # noqa: E402
from rag.kb import KnowledgeBase  # noqa: E402
from rag.question import Question  # noqa: E402
from rag.settings import load_settings  # noqa: E402

NAMES = sorted(selection.WEIGHTS)
Sample = tuple[str, np.ndarray, np.ndarray]  # question id, signals per unit, keyword share


def samples(kb: KnowledgeBase, questions: Path) -> list[Sample]:
    """The signals of every unit (first part of each question) and how much answer it holds."""
    idf = kb.retriever.snapshot().keywords.idf
    out = []
    for q in read_questions(questions):
        if not q.answerable:
            continue
        hits = kb.search(q.question, kb.settings.top_k)
        asked = Question(q.question)
        units = selection._candidates(asked, hits)
        if not units:
            continue
        prefix = kb.embedder.query_prefix  # as the answer embeds the question
        signals = selection.signals(asked, hits, units, kb.embedder.embed, idf, prefix)
        x = np.array([[parts[0].get(n, 0.0) for n in NAMES] for parts in signals])
        shown = [render_row(u) if u.kind == "row" else f"{u.lead_in} {u.text}" for u in units]
        y = np.array([keyword_recall(text, q.keywords) for text in shown])
        out.append((q.id, x, y))
    return out


def pairs(data: list[Sample], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Differences of best-unit and other-unit signals, both ways round."""
    rows, labels = [], []
    for _, x, y in data:
        if y.max() == 0:
            continue
        worse = np.flatnonzero(y < y.max())
        for best in np.flatnonzero(y == y.max()):
            for other in rng.choice(worse, size=min(len(worse), 30), replace=False):
                rows += [x[best] - x[other], x[other] - x[best]]
                labels += [1.0, 0.0]
    return np.array(rows), np.array(labels)


def fit(a: np.ndarray, b: np.ndarray, l2: float = 0.1, steps: int = 8000) -> np.ndarray:
    """Logistic regression without intercept by gradient descent."""
    w = np.zeros(a.shape[1])
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(a @ w)))
        w -= 2.0 * (a.T @ (p - b) / len(b) + l2 * w / len(b))
    return w


def ranks(data: list[Sample], w: np.ndarray) -> tuple[float, float]:
    """Mean answer share of the top unit, and of the best of the top three."""
    top1 = top3 = 0.0
    for _, x, y in data:
        order = np.argsort(-(x @ w))
        top1 += y[order[0]]
        top3 += y[order[:3]].max()
    return round(top1 / len(data), 3), round(top3 / len(data), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("questions", type=Path)
    parser.add_argument("--home", type=Path)
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    data = samples(KnowledgeBase(load_settings(home=args.home)), args.questions)
    rng = np.random.default_rng(0)
    current = np.array([selection.WEIGHTS[n] for n in NAMES])
    scale = np.abs(np.concatenate([x for _, x, _ in data])).max(axis=0) + 1e-9
    folded = []
    for fold in range(args.folds):
        train = [d for k, d in enumerate(data) if k % args.folds != fold]
        test = [d for k, d in enumerate(data) if k % args.folds == fold]
        a, b = pairs([(i, x / scale, y) for i, x, y in train], rng)
        folded.append((ranks(test, fit(a, b) / scale), len(test)))
    cv = tuple(round(sum(r[k] * n for r, n in folded) / len(data), 3) for k in (0, 1))
    a, b = pairs([(i, x / scale, y) for i, x, y in data], rng)
    fitted = fit(a, b) / scale
    print(f"questions: {len(data)}")
    print(f"current weights (top 1, top 3): {ranks(data, current)}")
    print(f"fitted, cross-validated over questions: {cv}")
    norm = np.abs(current).sum() / np.abs(fitted).sum()
    for name, now, new in zip(NAMES, current, fitted * norm, strict=True):
        print(f"  {name:13} now {now:+.2f}   fitted {new:+.2f}")


if __name__ == "__main__":
    main()
