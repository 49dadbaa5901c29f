"""Blocks in reading order under their heading path, and the text helpers the formats share."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from rag.models import Block, Document
from rag.units import SENTENCE_END

# Larger tables are split into several blocks, each repeating the header row.
TABLE_BLOCK_CHARS = 1500
# A longer row is cut in its longest cell into parts of about ROW_PART_CHARS, each a row that
# repeats the other cells: one part then answers with the name it belongs to and the header, as
# a quote or a chunk (a config's row with a list of modes or caveats runs to 1,000 characters).
ROW_CHARS = 450
ROW_PART_CHARS = 300


def words(text: str) -> frozenset[str]:
    """The set of whitespace-separated words in text."""
    return frozenset(text.split())


def collapse_blank_lines(text: str) -> str:
    """Collapse runs of three or more blank lines to two."""
    return re.sub(r"\n{4,}", "\n\n\n", text)


def title_from_filename(source: str) -> str:
    """A readable title derived from a file name (or its folder for index files)."""
    path = PurePosixPath(source.replace("\\", "/"))
    stem = path.stem
    if stem.lower() in {"index", "readme", "_index"} and path.parent.name:
        stem = path.parent.name
    words = re.split(r"[-_\s]+", stem)
    title = " ".join(word[:1].upper() + word[1:] for word in words if word)
    return title or source


def same_title(heading: str, title: str | None) -> bool:
    """Whether a heading merely repeats the document title."""
    if not title:
        return False

    def norm(text: str) -> str:
        return " ".join(text.replace("`", "").replace("*", "").split()).casefold().rstrip(".:")

    return norm(heading) == norm(title)


def dedent(lines: list[str]) -> list[str]:
    """Remove the common leading whitespace of the non-blank lines."""
    widths = [len(line) - len(line.lstrip()) for line in lines if line.strip()]
    cut = min(widths, default=0)
    return [line[cut:] for line in lines]


def indent_width(line: str) -> int:
    """The indentation of a line, counting a tab as four columns."""
    width = 0
    for char in line:
        if char == " ":
            width += 1
        elif char == "\t":
            width += 4 - width % 4
        else:
            break
    return width


def has_words(text: str) -> bool:
    """Whether text contains at least one letter or digit."""
    return any(char.isalnum() for char in text)


def table_blocks(rows: list[str], header: list[str]) -> list[str]:
    """Group table rows into texts of bounded size, each starting with the header rows."""
    head = "\n".join(header)
    texts: list[str] = []
    current: list[str] = []
    size = len(head)
    for row in rows:
        if current and size + len(row) > TABLE_BLOCK_CHARS:
            texts.append("\n".join([*header, *current]))
            current, size = [], len(head)
        current.append(row)
        size += len(row) + 1
    if current or not texts:
        texts.append("\n".join([*header, *current]))
    return texts


@dataclass
class _Section:
    level: int
    text: str
    cell: int | None
    used: bool = False


class Outline:
    """Collects blocks in reading order under the current heading path (and notebook cell)."""

    def __init__(self, title: str | None, *, title_level: int = 1) -> None:
        self.title = " ".join(title.split()) if title else None
        self.blocks: list[Block] = []
        # The notebook cell being read: the blocks added (and headings entered) belong to it.
        self.cell: int | None = None
        self._title_level = title_level
        self._stack: list[_Section] = []
        self._seen_heading = False

    def heading(self, level: int, text: str) -> None:
        """Enter a section; the first heading becomes the title when none is known."""
        text = " ".join(text.split())
        if not text:
            return
        first = not self._seen_heading
        self._seen_heading = True
        if self.title is None and level <= self._title_level:
            self.title = text
            return
        if first and same_title(text, self.title):
            return
        while self._stack and self._stack[-1].level >= level:
            self._close()
        self._stack.append(_Section(level, text, self.cell))

    def add(
        self,
        text: str,
        *,
        code: bool = False,
        page: int | None = None,
        cell: int | None = None,
        table_header: int = 0,
    ) -> None:
        """Append a block under the current heading path, in the current cell unless given; a
        table's block says how many header lines it starts with."""
        if not text.strip():
            return
        self.blocks.append(
            Block(text, self.path(), code, page, cell=cell or self.cell, table_header=table_header)
        )
        for section in self._stack:
            section.used = True

    def path(self) -> tuple[str, ...]:
        """The current heading path."""
        return tuple(section.text for section in self._stack)

    def document(self, source: str, fmt: str) -> Document:
        """The blocks as a document, titled from the file name when no title was found."""
        blocks = self.finish()
        return Document(source, self.title or title_from_filename(source), blocks, format=fmt)

    def finish(self) -> list[Block]:
        """Close open sections and return the blocks."""
        while self._stack:
            self._close()
        return self.blocks

    def _close(self) -> None:
        # A heading with nothing under it would otherwise vanish from the output.
        section = self._stack[-1]
        if not section.used:
            self.add(section.text, cell=section.cell)
        self._stack.pop()


def row_parts(cells: list[str]) -> list[list[str]]:
    """A table row's cells on one line each (a cell's lines joined); a row longer than
    ROW_CHARS as several, its longest cell (never the first, the name) cut between its lines
    (line breaks, list items) and sentences, a line ending in ":" kept with what follows."""
    flat = [" ".join(cell.split()) for cell in cells]
    if len(cells) < 2 or sum(len(cell) + 3 for cell in flat) <= ROW_CHARS:
        return [flat]
    k = max(range(1, len(cells)), key=lambda i: len(flat[i]))
    pieces = [
        sentence
        for line in cells[k].split("\n")
        for sentence in SENTENCE_END.split(" ".join(line.split()))
        if sentence
    ]
    parts: list[str] = []
    for piece in pieces:
        if parts and (parts[-1].endswith(":") or len(parts[-1]) + len(piece) < ROW_PART_CHARS):
            parts[-1] = f"{parts[-1]} {piece}"
        else:
            parts.append(piece)
    return [[*flat[:k], part, *flat[k + 1 :]] for part in parts]
