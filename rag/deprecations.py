"""The deprecated API entries an answer cites, and the notes that open the answer with them:
what the entries' metadata says (ingest.lifecycle reads it from the source), nothing more."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence

from rag.models import DEPRECATED_UNKNOWN, Deprecation, Hit, symbol_matches, symbol_of
from rag.question import Question
from rag.selection import Selection

MAX_NOTES = 3
_LIST = re.compile(r",\s*(?:or\s+)?|\s+or\s+")


def deprecations(hits: Sequence[Hit], numbers: Iterable[int]) -> list[Deprecation]:
    """The deprecated API entries among the passages numbered (from 1), each symbol once."""
    found: dict[str, Deprecation] = {}
    for n in numbers:
        if not 0 < n <= len(hits):
            continue
        meta = hits[n - 1].metadata
        symbol, deprecated = symbol_of(meta), meta.get("deprecated")
        if deprecated and symbol and symbol not in found:
            since = None if deprecated == DEPRECATED_UNKNOWN else str(deprecated)
            use = meta.get("deprecated_use")
            found[symbol] = Deprecation(symbol, since, str(use) if use else None, n)
    return list(found.values())[:MAX_NOTES]


def of_extract(selection: Selection, question: str) -> list[Deprecation]:
    """The deprecated entries an extractive answer quotes: in its lead, or anywhere when the
    question names them (`DataFrame.registerTempTable` names pyspark.sql.DataFrame's)."""
    named = Question(question).code_names
    numbers = [piece.n for piece in selection.lead] + [
        piece.n
        for piece in selection.support
        if any(symbol_matches(symbol_of(selection.hits[piece.n - 1].metadata), n) for n in named)
    ]
    return deprecations(selection.hits, numbers)


def describe(entry: Deprecation, *, quote: bool = True) -> str:
    """What an entry's docs say of it, "`X` is deprecated since 2.0.0; use `Y` instead.", its
    names in backticks when quote."""
    code: Callable[[str], str] = (lambda name: f"`{name}`") if quote else (lambda name: name)
    since = f" since {entry.since}" if entry.since else ""
    use = f"; use {_replacement(entry.use, code)} instead" if entry.use else ""
    return f"{code(entry.symbol)} is deprecated{since}{use}."


def notes(deprecated: Sequence[Deprecation]) -> str:
    """The lines that open an answer citing deprecated entries, each with its [n], and a blank
    line after them ("" for none)."""
    if not deprecated:
        return ""
    return "\n".join(f"Note: {describe(entry)} [{entry.n}]" for entry in deprecated) + "\n\n"


def with_notes(text: str, framing: str, deprecated: Sequence[Deprecation]) -> str:
    """An answer's text with the notes first after its framing line."""
    if not deprecated:
        return text
    head = f"{framing}\n\n" if framing else ""
    return head + notes(deprecated) + text[len(framing) :].lstrip("\n")


def _replacement(use: str, code: Callable[[str], str]) -> str:
    """The replacement as its docs name it, each name quoted: `a`, `b` or `c`; a phrase that
    is more than names stays as written."""
    names = [part.strip() for part in _LIST.split(use) if part.strip()]
    if not names or any(re.search(r"\s|`", name) for name in names):
        return use
    quoted = [code(name) for name in names]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"
