"""Records of a chat: what each answer cites, reader feedback in feedback.jsonl, a Markdown transcript."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from rag.answer import citation_matches
from rag.errors import LakesageError
from rag.keywords import tokenize
from rag.models import Answer, Hit

Role = Literal["user", "assistant"]
Rating = Literal["up", "down"]
FENCE = "```"
BULLET = re.compile(r"^\s*(?:[-*+>]|\d+[.)])\s+")
# Sentence ends, or a blank line: where a passage is cut into highlightable pieces.
BOUNDARY = re.compile(r"(?<=[.!?])\s+|\n\s*\n")
MIN_OVERLAP = 0.6


@dataclass
class ChatTurn:
    """One message of a chat: the user's question, or the assistant's answer with its passages."""

    role: Role
    text: str
    answer: Answer | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])


def history_of(turns: Sequence[ChatTurn]) -> list[tuple[str, str]]:
    """The turns as (role, text) pairs, the history `KnowledgeBase.ask_stream` takes."""
    return [(turn.role, turn.text) for turn in turns]


def cited_claims(answer: Answer) -> dict[int, list[str]]:
    """For each cited passage number, the pieces of the answer text that cite it."""
    claims: dict[int, list[str]] = {}
    position = 0
    previous = ""
    for match in citation_matches(answer.text):
        claim = _claim(answer.text[position : match.start()]) or previous
        position = match.end()
        previous = claim
        n = int(match.group(1))
        if claim and 0 < n <= len(answer.hits) and claim not in claims.get(n, []):
            claims.setdefault(n, []).append(claim)
    return claims


def _claim(segment: str) -> str:
    """What a citation closes: the code block before it, else its line without list markup."""
    if FENCE in segment:
        lines = segment[segment.find(FENCE) :].strip().splitlines()
        return "\n".join(line for line in lines if not line.strip().startswith(FENCE)).strip()
    lines = segment.strip().splitlines()
    return BULLET.sub("", lines[-1]).strip() if lines else ""


def highlight_spans(passage: str, claims: Iterable[str]) -> list[tuple[int, int]]:
    """Character ranges of the passage that the claims quote (or closely paraphrase), merged."""
    spans: list[tuple[int, int]] = []
    for claim in claims:
        spans += _verbatim(passage, claim) or _paraphrased(passage, claim)
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _verbatim(passage: str, claim: str) -> list[tuple[int, int]]:
    """Where the claim's words occur in the passage in order, whatever the whitespace between."""
    words = claim.split()
    if not words:
        return []
    pattern = re.compile(r"\s+".join(re.escape(word) for word in words))
    return [m.span() for m in pattern.finditer(passage)]


def _paraphrased(passage: str, claim: str) -> list[tuple[int, int]]:
    """The passage's sentences whose words the claim mostly repeats (LLM answers reword)."""
    claim_words = set(tokenize(claim))
    if not claim_words:
        return []
    spans = []
    for start, end in sentence_spans(passage):
        words = set(tokenize(passage[start:end]))
        if len(words) >= 3 and len(words & claim_words) / len(words) >= MIN_OVERLAP:
            spans.append((start, end))
    return spans


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character ranges of the sentences and paragraphs of a text, surrounding spaces left out."""
    spans = []
    start = 0
    for boundary in [*BOUNDARY.finditer(text), None]:
        end = boundary.start() if boundary else len(text)
        piece = text[start:end]
        if piece.strip():
            lead = len(piece) - len(piece.lstrip())
            spans.append((start + lead, start + len(piece.rstrip())))
        if boundary:
            start = boundary.end()
    return spans


def citation_records(answer: Answer) -> list[dict[str, Any]]:
    """The cited passages as plain dicts: number, where it comes from, and the claims citing it."""
    claims = cited_claims(answer)
    return [
        {
            "n": n,
            "source": hit.source,
            "title": hit.title,
            "heading_path": hit.heading_path,
            "product": hit.product,
            "url": hit.url,
            "page": hit.page,
            "cell": hit.cell,
            "last_cell": hit.last_cell,
            "claims": claims.get(n, []),
        }
        for n, hit in answer.cited_hits()
    ]


@dataclass
class Feedback:
    """A reader's verdict on one answer, with what was asked, answered and cited."""

    answer_id: str
    rating: Rating
    question: str
    answer: str
    comment: str = ""
    citations: list[dict[str, Any]] = field(default_factory=list)
    persona: str = ""
    engine: str = ""
    refused: bool = False
    at: float = field(default_factory=time.time)

    @classmethod
    def of(cls, answer_id: str, answer: Answer, rating: Rating, comment: str = "") -> Feedback:
        """Feedback on an Answer."""
        return cls(
            answer_id=answer_id,
            rating=rating,
            question=answer.question,
            answer=answer.text,
            comment=comment.strip(),
            citations=citation_records(answer),
            persona=answer.persona,
            engine=answer.engine,
            refused=answer.refused,
        )


class FeedbackLog:
    """Feedback appended to a JSONL file, one object a line; a later line about an answer wins."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def add(self, entry: Feedback) -> None:
        """Append one entry (a single write, so concurrent sessions do not interleave lines)."""
        if entry.rating not in ("up", "down"):
            raise LakesageError(f"feedback rating must be 'up' or 'down', not {entry.rating!r}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(asdict(entry), ensure_ascii=False) + "\n"
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(line)

    def read(self) -> list[Feedback]:
        """Every entry in file order; a damaged line names the file and line number."""
        if not self.path.exists():
            return []
        entries = []
        with self.path.open(encoding="utf-8") as fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    entries.append(Feedback(**json.loads(line)))
                except (ValueError, TypeError) as exc:
                    raise LakesageError(
                        f"{self.path}:{number}: not a feedback entry ({exc}); "
                        "fix or delete that line"
                    ) from exc
        return entries

    def latest(self) -> dict[str, Feedback]:
        """The last entry per answer."""
        return {entry.answer_id: entry for entry in self.read()}


def transcript_markdown(
    turns: Sequence[ChatTurn], *, title: str = "lakesage chat", when: float | None = None
) -> str:
    """The chat as a Markdown document: questions, answers and each answer's numbered sources."""
    stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(time.time() if when is None else when))
    lines = [f"# {title}", "", f"Exported {stamp}.", ""]
    for turn in turns:
        if turn.role == "user":
            lines += ["## Question", "", turn.text.strip(), ""]
            continue
        lines += ["### Answer", "", turn.text.strip(), ""]
        cited = turn.answer.cited_hits() if turn.answer else []
        if cited:
            lines += ["Sources:", ""]
            lines += [f"{n}. {_source_line(hit)}" for n, hit in cited]
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _source_line(hit: Hit) -> str:
    """One source as a Markdown list item: linked heading path, file, product, page or cell."""
    where = hit.breadcrumb or hit.source
    label = f"[{where}]({hit.url})" if hit.url else where
    details = ", ".join(part for part in (hit.product, hit.place) if part)
    return f"{label} — `{hit.source}`" + (f" ({details})" if details else "")
