"""The evaluation harness behind `rag eval`: retrieval, answer and refusal figures on a question set."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rag.answer import citation_matches
from rag.errors import LakesageError
from rag.keywords import tokenize
from rag.models import Answer, Hit

KS = (1, 3, 5, 10)
BULLET = re.compile(r"^\s*(?:[-*+]|\d+\.)\s+", re.MULTILINE)
SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Question:
    """One evaluation question in the format of shared/eval/dev.jsonl."""

    id: str
    question: str
    gold_docs: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    product: str = "none"
    kind: str = ""
    answerable: bool = True


@dataclass
class Row:
    """The outcome for one question."""

    id: str
    product: str
    answerable: bool
    question: str
    gold_rank: int | None = None
    passage_hit5: bool = False
    keyword_recall: float | None = None
    refused: bool = False
    citations: int = 0
    citations_valid: int = 0
    latency_ms: float = 0.0
    retrieved: list[str] = field(default_factory=list)


def read_questions(path: Path) -> list[Question]:
    """Questions from a JSONL file; a bad line names the file and line number."""
    questions = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise LakesageError(
            f"{path}: cannot read questions ({exc.strerror}); check the path"
        ) from exc
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            if not isinstance(data, dict):
                raise TypeError(f"a JSON {type(data).__name__}, not an object")
            questions.append(
                Question(
                    id=str(data.get("id", number)),
                    question=data["question"],
                    gold_docs=tuple(data.get("gold_docs", ())),
                    keywords=tuple(data.get("keywords", ())),
                    product=data.get("product", "none"),
                    kind=data.get("kind", ""),
                    answerable=bool(data.get("answerable", True)),
                )
            )
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise LakesageError(
                f"{path}:{number}: not a question object ({exc}); each line needs at least "
                '{"question": ...}'
            ) from exc
    return questions


def gold_rank(sources: Sequence[str], gold: Sequence[str]) -> int | None:
    """1-based rank of the first retrieved chunk from a gold document."""
    for rank, source in enumerate(sources, 1):
        if source in gold:
            return rank
    return None


def passage_hit(hits: Sequence[Hit], question: Question, k: int = 5) -> bool:
    """Whether a top-k chunk from a gold doc contains one of the question's keywords."""
    for hit in hits[:k]:
        if hit.source in question.gold_docs:
            text = hit.text.lower()
            if any(keyword.lower() in text for keyword in question.keywords):
                return True
    return False


def keyword_recall(text: str, keywords: Sequence[str]) -> float:
    """Share of the keywords the answer contains (case-insensitive)."""
    if not keywords:
        return 1.0
    lower = text.lower()
    return sum(k.lower() in lower for k in keywords) / len(keywords)


def _normal(text: str) -> str:
    return SPACE.sub(" ", BULLET.sub("", text)).strip().lower()


def citation_check(answer: Answer) -> tuple[int, int]:
    """(citations, valid ones): a valid [n] names a returned passage that contains the cited text."""
    total = valid = 0
    position = 0
    for match in citation_matches(answer.text):
        segment = answer.text[position : match.start()]
        position = match.end()
        total += 1
        n = int(match.group(1))
        if not 0 < n <= len(answer.hits):
            continue
        # A code block is cited whole, from its opening fence (not the lines before it).
        cited = _normal(
            segment.splitlines()[-1] if "```" not in segment else segment[segment.find("```") :]
        )
        if not cited:
            cited = _normal(segment)
        passage = _normal(answer.hits[n - 1].text)
        if cited and cited in passage:
            valid += 1
            continue
        words = set(tokenize(cited))
        if words and len(words & set(tokenize(passage))) / len(words) >= 0.7:
            valid += 1  # a paraphrase (LLM engines) that stays within the passage's words
    return total, valid


def evaluate(
    kb: Any,
    questions: Sequence[Question],
    *,
    k: int = 10,
    engine: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[dict[str, Any], list[Row]]:
    """Run every question through search and ask; return the figures and the per-question rows."""
    rows = []
    for done, q in enumerate(questions, 1):
        hits = kb.search(q.question, k)
        started = time.perf_counter()
        answer = kb.ask(q.question, engine=engine)
        latency = (time.perf_counter() - started) * 1000
        citations, valid = citation_check(answer)
        rows.append(
            Row(
                id=q.id,
                product=q.product,
                answerable=q.answerable,
                question=q.question,
                gold_rank=gold_rank([h.source for h in hits], q.gold_docs)
                if q.answerable
                else None,
                passage_hit5=passage_hit(hits, q) if q.answerable else False,
                keyword_recall=keyword_recall(answer.text, q.keywords) if q.answerable else None,
                refused=answer.refused,
                citations=citations,
                citations_valid=valid,
                latency_ms=round(latency, 2),
                retrieved=[h.source for h in hits],
            )
        )
        if progress:
            progress(done, len(questions))
    return summarize(rows, k), rows


def summarize(rows: Sequence[Row], k: int = 10) -> dict[str, Any]:
    """The figures over all rows, named as `rag eval --json` prints them."""
    answerable = [r for r in rows if r.answerable]
    unanswerable = [r for r in rows if not r.answerable]
    figures: dict[str, Any] = {"questions": len(rows), "answerable": len(answerable)}
    for cut in (c for c in KS if c <= k):
        figures[f"hit@{cut}"] = _hit_share(answerable, cut)
    figures["mrr@10"] = _mean(
        [1.0 / r.gold_rank if r.gold_rank and r.gold_rank <= 10 else 0.0 for r in answerable]
    )
    figures["passage_hit@5"] = _share(answerable, lambda r: r.passage_hit5)
    figures["answer_keyword_recall"] = _mean([r.keyword_recall or 0.0 for r in answerable])
    figures["refusal_rate"] = _share(unanswerable, lambda r: r.refused)
    figures["false_refusal_rate"] = _share(answerable, lambda r: r.refused)
    total = sum(r.citations for r in rows)
    figures["citation_validity"] = (
        round(sum(r.citations_valid for r in rows) / total, 4) if total else 1.0
    )
    latencies = [r.latency_ms for r in rows]
    figures["latency_p50_ms"] = round(float(np.percentile(latencies, 50)), 2) if rows else 0.0
    figures["latency_p95_ms"] = round(float(np.percentile(latencies, 95)), 2) if rows else 0.0
    products = sorted({r.product for r in answerable})
    figures["hit@5_by_product"] = {
        p: _hit_share([r for r in answerable if r.product == p], 5) for p in products
    }
    return figures


def _hit_share(rows: Sequence[Row], cut: int) -> float:
    return _share(rows, lambda r: r.gold_rank is not None and r.gold_rank <= cut)


def _share(rows: Sequence[Row], test: Callable[[Row], bool]) -> float:
    return round(sum(1 for r in rows if test(r)) / len(rows), 4) if rows else 0.0


def _mean(values: Sequence[float]) -> float:
    return round(sum(values) / len(values), 4) if values else 0.0


def rows_as_dicts(rows: Sequence[Row]) -> list[dict[str, Any]]:
    """Rows as plain dicts, for JSON and MLflow artifacts."""
    return [asdict(r) for r in rows]
