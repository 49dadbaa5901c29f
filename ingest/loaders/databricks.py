"""Databricks notebooks in their source format (.py, .sql, .scala, .r exported as "Source file"):
cells split at COMMAND lines, MAGIC %md cells read as Markdown, other cells as code."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from ingest.fence import fenced
from ingest.loaders.decoding import normalise
from ingest.loaders.markdown import add_markdown
from ingest.loaders.outline import Outline, collapse_blank_lines
from rag.errors import SourceError
from rag.models import Document

# The notebook's language by file suffix: its plain cells are code in it.
LANGUAGES = {".py": "python", ".sql": "sql", ".scala": "scala", ".r": "r"}
SUFFIXES = frozenset(LANGUAGES)

# The first line of every exported notebook: the comment prefix of its language, then the mark.
_HEADER = re.compile(r"(#|--|//) Databricks notebook source[ \t]*")
# Enough of a file to hold the header line (and a byte-order mark and line end before and after).
_SNIFF_BYTES = 40
# Magic commands that switch a cell to another language; %md and %run are read apart.
_CELL_LANGUAGES = {"python": "python", "sql": "sql", "scala": "scala", "r": "r", "sh": "sh"}
_MARKDOWN = ("md", "md-sandbox")
# %run, the notebook's path (quoted when it has spaces), then its arguments as written.
_RUN = re.compile(r"%run\s+(?P<path>\"[^\"]*\"|'[^']*'|\S+)\s*(?P<args>.*)", re.IGNORECASE)
_FIX = 're-export the notebook from Databricks as "Source file"'


def is_notebook_source(path: Path, name: str | None = None) -> bool:
    """Whether a .py/.sql/.scala/.r file is a Databricks notebook: its first line says so (only
    the first few bytes of a regular file are read). name, when given, is the one that decides
    the format (a symlink's own, for its target's path)."""
    suffix = PurePosixPath(name).suffix if name is not None else path.suffix
    if suffix.lower() not in SUFFIXES or not path.is_file():
        return False
    try:
        with path.open("rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except OSError:
        return False
    first = head.removeprefix(b"\xef\xbb\xbf").split(b"\n", 1)[0].rstrip(b"\r")
    return _HEADER.fullmatch(first.decode("ascii", "replace")) is not None


def parse_databricks(text: str, source: str) -> Document:
    """A Databricks notebook source file: each cell read as Markdown, code or a %run reference."""
    lines = normalise(text).lstrip("\ufeff").split("\n")
    header = _HEADER.fullmatch(lines[0])
    if header is None:
        raise SourceError(
            f"{source}: not a Databricks notebook (its first line is not "
            '"# Databricks notebook source"); export it from Databricks as "Source file", '
            "or leave it out"
        )
    prefix = header.group(1)
    separator = re.compile(re.escape(prefix) + r" COMMAND -{10,}[ \t]*")
    lang = _language(source)
    outline = Outline(None, title_level=6)
    cells: list[list[str]] = [[]]
    for line in lines[1:]:
        if separator.fullmatch(line):
            cells.append([])
        else:
            cells[-1].append(line)
    for number, cell in enumerate(cells, 1):
        outline.cell = number
        _add_cell(outline, cell, prefix, lang, f"{source}: Databricks notebook cell {number}")
    return outline.document(source, "databricks")


def _language(source: str) -> str:
    """The notebook's language from its file name (a compressed one's inner suffix)."""
    for suffix in reversed(PurePosixPath(source.replace("\\", "/")).suffixes):
        if suffix.lower() in LANGUAGES:
            return LANGUAGES[suffix.lower()]
    return "python"


def _add_cell(outline: Outline, lines: list[str], prefix: str, lang: str, where: str) -> None:
    """One cell's blocks: its title, then Markdown, code or the notebook it runs."""
    lines = _trimmed(lines)
    title = re.compile(re.escape(prefix) + r" DBTITLE \d+,(.*)")
    if lines and (named := title.fullmatch(lines[0])):
        outline.add(named.group(1).strip())
        lines = _trimmed(lines[1:])
    magic = re.compile(re.escape(prefix) + r" MAGIC(?: |$)")
    marked = [bool(magic.match(line)) for line in lines if line.strip()]
    if not any(marked):
        code = "\n".join(lines)
        if code.strip():
            outline.add(fenced(collapse_blank_lines(code), lang), code=True)
        return
    if not all(marked):
        raise SourceError(f"{where} mixes MAGIC lines with plain lines; {_FIX}")
    body = [magic.sub("", line, count=1) for line in lines]
    command, _, rest = body[0].partition(" ")
    if not command.startswith("%"):
        raise SourceError(
            f"{where} has MAGIC lines but no %md, %sql, %python or other command first; {_FIX}"
        )
    name = command[1:].lower()
    content = _trimmed(([rest] if rest.strip() else []) + body[1:])
    if name in _MARKDOWN:
        add_markdown(outline, "\n".join(content))
    elif name == "run":
        outline.add(_runs(body[0]))
    elif name in _CELL_LANGUAGES:
        if content:
            code = collapse_blank_lines("\n".join(content))
            outline.add(fenced(code, _CELL_LANGUAGES[name]), code=True)
    else:  # another magic (%pip, %fs, %conda): the command itself is what to keep
        outline.add(fenced(collapse_blank_lines("\n".join(_trimmed(body))), ""), code=True)


def _runs(line: str) -> str:
    """A %run line as searchable text naming the notebook it runs (and its arguments)."""
    found = _RUN.fullmatch(line.strip())
    if found is None:
        return "Runs another notebook"
    path = found["path"].strip("\"'")
    arguments = f" with `{found['args']}`" if found["args"] else ""
    return f"Runs notebook `{path}`{arguments}"


def _trimmed(lines: list[str]) -> list[str]:
    """Lines without the blank ones at either end."""
    start = next((i for i, line in enumerate(lines) if line.strip()), len(lines))
    end = next((i for i in range(len(lines), start, -1) if lines[i - 1].strip()), start)
    return lines[start:end]
