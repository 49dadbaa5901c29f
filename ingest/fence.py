"""Markdown code fences: writing one around any code, and reading one back."""

from __future__ import annotations

import re
from dataclasses import dataclass

# A whole text that is one fenced block: its backtick fence, info string and code.
FENCED = re.compile(
    r"\A(?P<ticks>`{3,})(?P<info>[^\n]*)\n(?P<code>.*?)\n?(?P=ticks)\s*\Z", re.DOTALL
)


@dataclass(frozen=True)
class Opening:
    """The line that opens a fence: its indentation, fence character and length, info string."""

    indent: int
    char: str
    length: int
    info: str


def fenced(code: str, lang: str = "") -> str:
    """Wrap code in a backtick fence longer than any backtick run inside it."""
    longest = max((len(run) for run in re.findall(r"`{3,}", code)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{lang}\n{code}\n{ticks}"


def opening(line: str) -> Opening | None:
    """The fence a line opens, as CommonMark reads one (three or more ` or ~; a backtick fence's
    info string has no backtick, so ```x``` starting a line is inline code), or None."""
    stripped = line.lstrip()
    char = stripped[:1]
    if char not in ("`", "~"):
        return None
    length = len(stripped) - len(stripped.lstrip(char))
    info = stripped[length:].strip()
    if length < 3 or (char == "`" and "`" in info):
        return None
    return Opening(len(line) - len(stripped), char, length, info)


def closes(line: str, fence: Opening) -> bool:
    """Whether a line closes a fence: its character alone, at least as many times."""
    stripped = line.strip()
    return len(stripped) >= fence.length and stripped == fence.char * len(stripped)


def read_fenced(lines: list[str], start: int) -> tuple[str, str, int] | None:
    """The code and info string of the fenced block that lines[start] opens, and the index after
    it (an unclosed fence runs to the end, as in CommonMark); None when no fence opens there."""
    fence = opening(lines[start])
    if fence is None:
        return None
    end = next((i for i in range(start + 1, len(lines)) if closes(lines[i], fence)), len(lines))
    # The content loses as much indentation as the opening line has, no more.
    body = [
        line[min(fence.indent, len(line) - len(line.lstrip(" "))) :]
        for line in lines[start + 1 : end]
    ]
    return "\n".join(body), fence.info, min(end + 1, len(lines))
