"""reStructuredText to blocks: adorned section titles, code-block directives, literal blocks."""

from __future__ import annotations

import re

from ingest.fence import fenced
from ingest.loaders.decoding import normalise
from ingest.loaders.outline import (
    Outline,
    collapse_blank_lines,
    dedent,
    has_words,
    indent_width,
    words,
)
from rag.models import Document

_RST_ADORNMENT = "=-~^\"'`#*+_"
_RST_SKIP_DIRECTIVES = words(
    "toctree image raw include literalinclude contents meta highlight index sectnum "
    "automodule autoclass autofunction autosummary autodata automethod"
)
_RST_CODE_DIRECTIVES = frozenset({"code-block", "code", "sourcecode"})
_RST_ROLE = re.compile(r":[A-Za-z][\w.+-]{0,40}(?::[A-Za-z][\w.+-]{0,40}){0,3}:`([^`]+)`")
_RST_LITERAL = re.compile(r"``([^`]+)``")
_RST_LINK = re.compile(r"`([^`<]*)<([^`>]*)>`_{1,2}")
_RST_REF = re.compile(r"`([^`]+)`_{1,2}")


def _is_adornment(stripped: str) -> bool:
    """Whether a stripped line is a reST section adornment."""
    return (
        len(stripped) >= 2
        and stripped[0] in _RST_ADORNMENT
        and stripped == stripped[0] * len(stripped)
    )


def _is_rst_option(line: str, indent: int) -> bool:
    """Whether line is a ':name: value' option of a directive indented at indent."""
    stripped = line.strip()
    return indent_width(line) > indent and stripped.startswith(":") and stripped.count(":") >= 2


def _rst_inline(text: str) -> str:
    """Strip reST roles and hyperlink markup, keeping their text."""

    def role(match: re.Match[str]) -> str:
        inner = match.group(1).lstrip("~!")
        if inner.endswith(">") and "<" in inner:
            label = inner[: inner.rfind("<")].strip()
            inner = label or inner[inner.rfind("<") + 1 : -1]
        return f"`{inner}`" if match.group(0).startswith((":code:", ":literal:")) else inner

    text = _RST_ROLE.sub(role, text)
    text = _RST_LITERAL.sub(r"`\1`", text)
    text = _RST_LINK.sub(lambda m: m.group(1).strip() or m.group(2), text)
    return _RST_REF.sub(r"\1", text)


class _RstReader:
    """A line-based reader for the common subset of reStructuredText."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.outline = Outline(None, title_level=99)
        self.styles: list[tuple[str, bool]] = []
        self.para: list[str] = []
        self.literal_indent = -1

    def read(self) -> None:
        """Parse all lines into blocks."""
        i = 0
        while i < len(self.lines):
            i = self._step(i)
        self._flush()

    def _step(self, i: int) -> int:
        """Handle the construct starting at line i; returns the next index."""
        lines = self.lines
        line = lines[i]
        stripped = line.strip()
        nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if not stripped:
            self._flush()
            return i + 1
        if self.literal_indent >= 0 and not self.para:
            indent, self.literal_indent = self.literal_indent, -1
            if indent_width(line) > indent:
                return self._literal(i, indent, "")
        if not self.para and _is_adornment(stripped) and i + 2 < len(lines):
            title, under = lines[i + 1].strip(), lines[i + 2].strip()
            if title and under == stripped and not _is_adornment(title):
                self._section(title, (stripped[0], True))
                return i + 3
        if (
            not self.para
            and indent_width(line) == 0
            and _is_adornment(nxt)
            and len(nxt) >= min(len(stripped), 4)
            and not _is_adornment(stripped)
        ):
            self._section(stripped, (nxt[0], False))
            return i + 2
        if not self.para and _is_adornment(stripped) and len(stripped) >= 4:
            return i + 1  # transition
        if stripped.startswith(".. ") or stripped == "..":
            self._flush()
            return self._explicit(i)
        self.para.append(line)
        return i + 1

    def _section(self, title: str, style: tuple[str, bool]) -> None:
        """Enter a section whose level follows the order adornment styles first appear."""
        self._flush()
        if style not in self.styles:
            self.styles.append(style)
        self.outline.heading(self.styles.index(style) + 1, _rst_inline(title))

    def _body_end(self, start: int, indent: int) -> int:
        """The index after the block of lines indented deeper than indent (blanks included)."""
        i = start
        while i < len(self.lines) and (
            not self.lines[i].strip() or indent_width(self.lines[i]) > indent
        ):
            i += 1
        return i

    def _explicit(self, i: int) -> int:
        """A directive, comment, target or footnote starting at line i."""
        line = self.lines[i]
        indent = indent_width(line)
        stripped = line.strip()
        marker = stripped.find("::")
        if stripped.startswith(".. ["):
            self.para.append(stripped[stripped.find("]") + 1 :])
            return i + 1
        name = stripped[3:marker].strip() if marker > 0 else ""
        if not name or " " in name or stripped.startswith((".. _", ".. |")):
            return self._body_end(i + 1, indent)  # comment, target or substitution
        argument = stripped[marker + 2 :].strip()
        j = i + 1
        while j < len(self.lines) and _is_rst_option(self.lines[j], indent):
            j += 1
        if name in _RST_CODE_DIRECTIVES:
            return self._literal(j, indent, argument.split()[0] if argument else "")
        if name in _RST_SKIP_DIRECTIVES or name.startswith("auto"):
            return self._body_end(j, indent)
        if argument and name not in ("figure", "only"):
            self.outline.add(_rst_inline(argument))
        return j

    def _literal(self, start: int, indent: int, lang: str) -> int:
        """A literal or code block of lines indented deeper than indent."""
        end = self._body_end(start, indent)
        body = self.lines[start:end]
        while body and not body[-1].strip():
            body.pop()
        code = "\n".join(dedent(body)).strip("\n")
        if code.strip():
            self.outline.add(collapse_blank_lines(fenced(code, lang)), code=True)
        return end

    def _flush(self) -> None:
        """Emit the pending paragraph, noting a trailing '::' literal-block marker."""
        if not self.para:
            return
        lines = dedent(self.para)
        indent = indent_width(self.para[0])
        self.para = []
        text = "\n".join(lines).rstrip()
        if text.endswith("::"):
            self.literal_indent = indent
            text = (
                text[:-2].rstrip() if text[:-2].endswith((" ", "\n")) or text == "::" else text[:-1]
            )
        text = _rst_inline(text)
        if has_words(text):
            self.outline.add(text)


def parse_rst(text: str, source: str) -> Document:
    """reStructuredText: adorned section titles, code-block directives, literal blocks."""
    reader = _RstReader(normalise(text).split("\n"))
    reader.read()
    return reader.outline.document(source, "rst")
