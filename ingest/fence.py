"""Markdown code fences: writing one around any code, and reading one back."""

from __future__ import annotations

import re

# A whole text that is one fenced block: its backtick fence, info string and code.
FENCED = re.compile(
    r"\A(?P<ticks>`{3,})(?P<info>[^\n]*)\n(?P<code>.*?)\n?(?P=ticks)\s*\Z", re.DOTALL
)


def fenced(code: str, lang: str = "") -> str:
    """Wrap code in a backtick fence longer than any backtick run inside it."""
    longest = max((len(run) for run in re.findall(r"`{3,}", code)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{lang}\n{code}\n{ticks}"
