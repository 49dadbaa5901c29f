"""The evaluation harness behind `rag eval`: retrieval, answer and refusal figures on a question set."""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.answer import citation_matches
from rag.errors import LakesageError
from rag.keywords import tokenize
from rag.models import Answer, Hit

if TYPE_CHECKING:
    from rag.retrieval import Filters

KS = (1, 3, 5, 10)
LEAD_CHARS = 300
# What each figure of `rag eval` measures, for its --help and the Evaluate page.
FIGURE_HELP = {
    "hit@k": "share of answerable questions with a gold passage in the top k",
    "mrr@10": "mean of 1/rank of the first gold passage in the top 10 (0 when none)",
    "passage_hit@5": "share of answerable questions whose top 5 hold a gold-doc passage "
    "containing a keyword",
    "answer_keyword_recall": "share of the question's keywords the answer contains",
    "refusal_rate": "share of unanswerable questions refused",
    "false_refusal_rate": "share of answerable questions refused",
    "citation_validity": "share of [n] citations whose passage contains the cited text",
    "answer_chars_p50": "median answer length in characters without the persona framing, "
    "over answerable questions not refused",
    "lead_keyword_recall": f"answer_keyword_recall on the first {LEAD_CHARS} characters of the "
    "answer without the persona framing (refusals count 0)",
    "gold_piece_share": "share of the quoted pieces (each [n] naming a returned passage) "
    "whose passage is gold, pooled over answerable questions not refused",
    "latency_p50_ms": "median time to answer a question (retrieval and answer)",
    "latency_p95_ms": "95th percentile of the same",
    "hit@5_by_product": "hit@5 of the answerable questions of each product",
}
BULLET = re.compile(r"^\s*(?:[-*+]|\d+\.)\s+", re.MULTILINE)
SPACE = re.compile(r"\s+")
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_PATH = rf"{_NAME}(?:\.{_NAME})*"
# Where a question writes a Python name: a code span holding just it (perhaps called), a
# dotted name, or a call.
CODE_SPAN = re.compile(r"`([^`\n]+)`")
SPAN_NAME = re.compile(rf"\s*({_PATH})\s*(?:\(.*\))?\s*")
DOTTED = re.compile(rf"(?<![\w.])({_NAME}(?:\.{_NAME})+)(?!\w)")
CALLED = re.compile(rf"(?<![\w.])({_PATH})\(")
COMPOUND = re.compile(r"[A-Za-z0-9]_[A-Za-z0-9]|[a-z][A-Z]")


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
    answer_chars: int = 0
    lead_keyword_recall: float | None = None
    pieces: int = 0
    gold_pieces: int = 0


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


@functools.lru_cache(maxsize=1024)
def named_symbols(question: str) -> tuple[str, ...]:
    """The Python names a question writes verbatim: in backticks, dotted, or called."""
    found: dict[str, None] = {}
    for span in CODE_SPAN.finditer(question):
        if named := SPAN_NAME.fullmatch(span.group(1)):
            found.setdefault(named.group(1))
    for pattern in (DOTTED, CALLED):
        for match in pattern.finditer(question):
            found.setdefault(match.group(1))
    return tuple(found)


def is_gold(hit: Hit, question: Question) -> bool:
    """Whether a passage is gold for an answerable question (for hit@k, MRR and gold pieces).

    Gold is a passage from one of the question's gold_docs, or the API-reference entry
    (metadata "symbol") of a Python name the question writes verbatim: in backticks
    (`spark_udf`), dotted (DeltaTable.vacuum, mlflow.sklearn.log_model) or called
    (spark_udf(...)). A dotted name matches the symbol equal to it or ending in "." and
    it: DeltaTable.vacuum matches delta.tables.DeltaTable.vacuum, not MyDeltaTable.vacuum.
    A name without a dot counts only when it is compound (spark_udf, toPandas) and then
    matches the symbols ending in "." and it; a plain word such as col, json or collect()
    names no entry.
    """
    if not question.answerable:
        return False
    if hit.source in question.gold_docs:
        return True
    symbol = hit.metadata.get("symbol")
    if not symbol:
        return False
    symbol = str(symbol)
    for name in named_symbols(question.question):
        if "." not in name and not COMPOUND.search(name):
            continue
        if symbol == name or symbol.endswith(f".{name}"):
            return True
    return False


def gold_rank(hits: Sequence[Hit], question: Question) -> int | None:
    """1-based rank of the first gold passage (see is_gold)."""
    for rank, hit in enumerate(hits, 1):
        if is_gold(hit, question):
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


def lead_recall(answer: Answer, keywords: Sequence[str]) -> float:
    """Keyword recall of the first LEAD_CHARS characters of the answer's body; 0 when refused."""
    return 0.0 if answer.refused else keyword_recall(answer.body[:LEAD_CHARS], keywords)


def gold_pieces(answer: Answer, question: Question) -> tuple[int, int]:
    """(pieces, gold ones): each [n] marker naming a returned passage, gold when its passage is."""
    pieces = gold = 0
    for match in citation_matches(answer.text):
        n = int(match.group(1))
        if 0 < n <= len(answer.hits):
            pieces += 1
            gold += is_gold(answer.hits[n - 1], question)
    return pieces, gold


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
        pieces, gold = gold_pieces(answer, q)
        rows.append(
            Row(
                id=q.id,
                product=q.product,
                answerable=q.answerable,
                question=q.question,
                gold_rank=gold_rank(hits, q) if q.answerable else None,
                passage_hit5=passage_hit(hits, q) if q.answerable else False,
                keyword_recall=keyword_recall(answer.text, q.keywords) if q.answerable else None,
                refused=answer.refused,
                citations=citations,
                citations_valid=valid,
                latency_ms=round(latency, 2),
                retrieved=[h.source for h in hits],
                answer_chars=len(answer.body),
                lead_keyword_recall=lead_recall(answer, q.keywords) if q.answerable else None,
                pieces=pieces,
                gold_pieces=gold,
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
    # The answer itself: only answers that were given to questions the docs answer.
    answered = [r for r in answerable if not r.refused]
    figures["answer_chars_p50"] = (
        round(float(np.percentile([r.answer_chars for r in answered], 50)), 1) if answered else 0.0
    )
    figures["lead_keyword_recall"] = _mean([r.lead_keyword_recall or 0.0 for r in answerable])
    pieces = sum(r.pieces for r in answered)
    figures["gold_piece_share"] = (
        round(sum(r.gold_pieces for r in answered) / pieces, 4) if pieces else 0.0
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
