"""Markdown that shows document and model text as text: escaped, images disarmed."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

# Every ASCII punctuation character can be backslash-escaped in (CommonMark) Markdown.
MARKDOWN_SPECIAL = re.compile(r"([!-/:-@\[-`{-~])")


def escape_markdown(text: str) -> str:
    """Text that Markdown shows literally: every punctuation character backslash-escaped."""
    return MARKDOWN_SPECIAL.sub(r"\\\1", text)


def safe_answer(text: str) -> str:
    """Answer Markdown with images disarmed: a quoted or generated image must not load a URL."""
    return text.replace("![", "!\\[")


def safe_pieces(pieces: Iterable[str]) -> Iterator[str]:
    """The streamed answer pieces, images disarmed even when '!' and '[' arrive apart."""
    held = ""
    for piece in pieces:
        text = safe_answer(held + piece)
        held = "!" if text.endswith("!") else ""
        yield text[:-1] if held else text
    if held:
        yield held


def is_web_url(url: str | None) -> bool:
    """Only http(s) links are offered (a document could name a javascript: URL)."""
    return bool(url) and str(url).lower().startswith(("http://", "https://"))
