"""Docstrings as text pieces: paragraphs, code examples and rendered version notes."""

from __future__ import annotations

import re
import textwrap

from ingest.fence import fenced, read_fenced

PARAGRAPH_CHARS = 1000

_CODE_DIRECTIVE = re.compile(r"^\s*\.\.\s+(?:code-block|code|sourcecode)::\s*(?P<lang>\S*)\s*$")
_UNDERLINE = re.compile(r"^\s*([-=~^])\1{2,}\s*$")
_VERSION_DIRECTIVE = re.compile(
    r"^(?P<indent>\s*)\.\.\s+(?P<kind>versionadded|versionchanged|deprecated|versionremoved)::"
    r"[ \t]*(?P<version>[^\s,]*),?[ \t]*(?P<text>.*)$"
)
_NOTE_LEADS = {
    "versionadded": "New in version",
    "versionchanged": "Changed in version",
    "deprecated": "Deprecated since version",
    "versionremoved": "Removed in version",
}
_ROLE = re.compile(r":(?:[\w-]+:)+`~?(?P<target>[^`<]*?)(?:\s*<[^>]*>)?`")
_RST_LITERAL = re.compile(r"(?<!`)``([^`\n]+)``(?!`)")


def version_notes(doc: str) -> tuple[list[str], str]:
    """The docstring's versionadded/versionchanged/deprecated notes as sentences, and the rest.

    `.. versionadded:: 3.4.0` reads "New in version 3.4.0.", `.. versionchanged:: 3.4.0`
    with text "Changed in version 3.4.0: text", `.. deprecated:: 2.0` "Deprecated since
    version 2.0: text", as Sphinx renders them.
    """
    lines = doc.splitlines()
    notes: list[str] = []
    kept: list[str] = []
    i = 0
    while i < len(lines):
        match = _VERSION_DIRECTIVE.match(lines[i])
        if not match:
            kept.append(lines[i])
            i += 1
            continue
        depth = len(match["indent"])
        body = [match["text"].strip()]
        i += 1
        while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > depth):
            body.append(lines[i].strip())
            i += 1
        notes.append(_note(match["kind"], match["version"], " ".join(p for p in body if p)))
    return notes, "\n".join(kept).strip("\n")


def _note(kind: str, version: str, text: str) -> str:
    """One version note as Sphinx words it, with rst roles reduced to their target."""
    lead = f"{_NOTE_LEADS[kind]} {version}".rstrip()
    text = reduce_roles(text).strip()
    return f"{lead}: {text}" if text else f"{lead}."


def reduce_roles(text: str) -> str:
    """Text with rst roles reduced to their target in backticks (:func:`~a.b` -> `a.b`)."""
    return _ROLE.sub(lambda m: f"`{m['target']}`", text)


def split_docstring(doc: str) -> list[tuple[str, bool]]:
    """Cut a cleaned docstring into (text, is_code) pieces: paragraphs, doctests and code blocks."""
    lines = doc.splitlines()
    pieces: list[tuple[str, bool]] = []
    para: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        code, end = _code_at(lines, i)
        if code is not None:
            pieces += _paragraphs(para) + ([(code, True)] if code else [])
            para, i = [], end
        elif not stripped:
            pieces += _paragraphs(para)
            para, i = [], i + 1
        elif stripped.endswith("::") and _indented(lines, i):
            body, end = _indented_body(lines, i + 1, _indent(line))
            para.append(_literal_intro(line))
            pieces += [*_paragraphs([p for p in para if p.strip()]), (fenced(body, "python"), True)]
            para, i = [], end
        else:
            if para and i + 1 < len(lines) and _UNDERLINE.match(lines[i + 1]):
                pieces += _paragraphs(para)
                para = []
            para.append(line)
            i += 1
    return pieces + _paragraphs(para)


def _literal_intro(line: str) -> str:
    """The line introducing an rst literal block, as rst renders it (`Example::` -> `Example:`)."""
    text = line.rstrip()[:-2].rstrip()
    return text if not text or text.endswith((".", ":", ";", "!", "?", ",")) else f"{text}:"


def _code_at(lines: list[str], i: int) -> tuple[str | None, int]:
    """The code starting at line i (a ``` fence, code directive or doctest), fenced, and the
    line after it."""
    stripped = lines[i].strip()
    # Backtick fences only: in reST a line of ~ underlines a section title.
    block = read_fenced(lines, i) if stripped.startswith("```") else None
    if block is not None:
        # Fenced again: closed even when the docstring's fence is not, and longer than any
        # backtick run in the code.
        code, info, end = block
        code = textwrap.dedent(code).strip("\n")
        return (fenced(code, info) if code.strip() else ""), end
    directive = _CODE_DIRECTIVE.match(lines[i])
    if directive:
        body, end = _indented_body(lines, i + 1, _indent(lines[i]))
        return (fenced(body, directive["lang"]) if body else ""), end
    if stripped.startswith(">>>"):
        end = next((j for j in range(i, len(lines)) if not lines[j].strip()), len(lines))
        return fenced(textwrap.dedent("\n".join(lines[i:end])), "python"), end
    return None, i


def _indented(lines: list[str], i: int) -> bool:
    """Whether an indented block follows line i (after blank lines), as for an rst `::` literal."""
    following = next((line for line in lines[i + 1 :] if line.strip()), None)
    return following is not None and _indent(following) > _indent(lines[i])


def _indented_body(lines: list[str], start: int, base: int) -> tuple[str, int]:
    """The dedented block indented deeper than base from start (skipping directive options)."""
    i = start
    while i < len(lines) and lines[i].strip().startswith(":") and _indent(lines[i]) > base:
        i += 1
    end = i
    while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > base):
        end += 1
    body = lines[i:end]
    while body and not body[-1].strip():
        body.pop()
    return textwrap.dedent("\n".join(body)).strip("\n"), end


def _indent(line: str) -> int:
    """The number of leading spaces."""
    return len(line) - len(line.lstrip())


def _paragraphs(lines: list[str]) -> list[tuple[str, bool]]:
    """A paragraph as prose pieces, long ones cut at item boundaries (numpy or Google sections)."""
    if not lines:
        return []
    return [(_prose(textwrap.dedent("\n".join(group))), False) for group in _pack(_groups(lines))]


def _prose(text: str) -> str:
    """Docstring prose as Markdown reads it: rst roles reduced to their target and ``literals``
    in single backticks (`SparkContext`, not :class:`SparkContext`)."""
    return _RST_LITERAL.sub(r"`\1`", reduce_roles(text))


def _groups(lines: list[str]) -> list[list[str]]:
    """Lines cut where an item starts (as shallow as any line after the first), deeper as needed."""
    if len(lines) == 1 or _size(lines) <= PARAGRAPH_CHARS:
        return [lines]
    item_indent = min(_indent(line) for line in lines[1:])
    groups: list[list[str]] = [[lines[0]]]
    for line in lines[1:]:
        if _indent(line) <= item_indent and not _UNDERLINE.match(line):
            groups.append([line])
        else:
            groups[-1].append(line)
    if len(groups) == 1:
        return groups
    return [piece for group in groups for piece in _groups(group)]


def _size(lines: list[str]) -> int:
    """The characters of lines joined by newlines (plus one)."""
    return sum(len(line) + 1 for line in lines)


def _pack(groups: list[list[str]]) -> list[list[str]]:
    """Join consecutive groups while they fit in PARAGRAPH_CHARS."""
    packed: list[list[str]] = []
    size = 0
    for group in groups:
        group_size = _size(group)
        if packed and size + group_size <= PARAGRAPH_CHARS:
            packed[-1].extend(group)
            size += group_size
        else:
            packed.append(list(group))
            size = group_size
    return packed
