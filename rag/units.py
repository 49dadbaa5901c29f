"""Passages cut into quotable units: sentences, list items, table rows (with their header) and
code blocks (with the sentence that leads into them)."""

from __future__ import annotations

import re
from dataclasses import dataclass

FENCED = re.compile(r"^[ \t]*(`{3,}|~{3,})([^\n`]*)\n.*?^[ \t]*\1[ \t]*$", re.DOTALL | re.MULTILINE)
INLINE_CODE = re.compile(r"`[^`\n]+`")
# After "e.g." or "i.e." a sentence goes on; " - " after a sentence starts a list item run into
# the paragraph (an upstream list that lost its line breaks).
SENTENCE_END = re.compile(r"(?<=[.!?])(?<!e\.g\.)(?<!i\.e\.)\s+(?:-\s+)?(?=[A-Z`\"'(\[*])")
ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
QUOTE_MARK = re.compile(r"^\s*>\s?")
RULE_ROW = re.compile(r"^\s*\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)*\|?\s*$")
UNDERLINE = re.compile(r"^\s*(?:-{3,}|={3,})\s*$")
# The heading line the retriever puts before a neighbouring chunk of another section.
SECTION_LINE = re.compile(r"^[^\n]{1,120}:$")
# Each paragraph of a language's code tab starts "(Scala) " (after its marker, when it is a list).
TAB_LANGUAGES = {"scala": "Scala", "java": "Java", "r": "R"}
TAB_MARK = re.compile(r"^\((Scala|Java|R)\) ")
TERMINAL = re.compile(r"[.!?:]$")  # how a sentence, or the lead-in of a list, ends
MAX_CODE_LINES = 25
MIN_WORDS = 3
LANGUAGE_ALIASES = {
    "py": "python",
    "python3": "python",
    "pycon": "python",
    "pyspark": "python",
    "ipython": "python",
    "sh": "shell",
    "bash": "shell",
    "console": "shell",
    "shell-session": "shell",
    "zsh": "shell",
    "scala": "scala",
    "java": "java",
    "r": "r",
    "sql": "sql",
    "sparksql": "sql",
}


@dataclass(frozen=True)
class Unit:
    """A quotable piece of passage `hit`: verbatim text, or a row with its table header."""

    text: str
    hit: int
    position: int
    kind: str  # sentence, item, row or code
    language: str = ""  # of a code block: python, sql, scala, java, r, shell or "" (unknown);
    # of prose: the language of the code tab it is in (scala, java, r), else ""
    lead_in: str = ""  # of code or a list item: the sentence before it that ends with ":"
    header: tuple[str, ...] = ()  # of a row: its table's header cells
    section: str = ""  # the heading of the section the unit sits in

    @property
    def code(self) -> bool:
        """Whether the unit is a code block."""
        return self.kind == "code"

    @property
    def cells(self) -> tuple[str, ...]:
        """A row's cells."""
        return split_row(self.text) if self.kind == "row" else ()


def passage_units(text: str, hit: int, heading: str = "", *, titles: bool = True) -> list[Unit]:
    """Every quotable unit of a passage in reading order; `heading` is the section the passage
    starts in (a "Heading:" line in the passage starts another). With `titles`, a one-line
    paragraph that reads as a title is no unit (a guide's image alt text); a docstring's
    one-line summary often has no period either, so API entries are read without."""
    units: list[Unit] = []
    position = 0
    section = heading
    header: tuple[str, ...] = ()  # the last table header seen: a table cut in two keeps it
    label = ""  # the last short "Something:" line, a heading or the label of what follows
    for kind, segment in _segments(text):
        if kind == "code":
            if units and units[-1].code:  # a run of code blocks (tabs) shares its lead-in
                lead_in = units[-1].lead_in
            else:
                lead_in = label or (units[-1].text if units and _leads_in(units[-1]) else "")
            fence = FENCED.match(segment)
            language = _language(fence.group(2) if fence else "")
            if segment.count("\n") <= MAX_CODE_LINES:
                units.append(Unit(segment, hit, position, "code", language, lead_in, (), section))
                position += 1
            label = ""
            continue
        for block in re.split(r"\n\s*\n", segment):
            lines = [line.rstrip() for line in block.splitlines() if line.strip()]
            if not lines:
                continue
            first = lines[0].strip()
            if len(lines) == 1 and SECTION_LINE.match(first) and len(first.split()) <= 8:
                label, section = first, first[:-1]
                continue
            if titles and len(lines) == 1 and _is_caption(first):
                label = first  # it names what follows, as a figure's or a tab's title does
                continue
            if len(lines) >= 2 and UNDERLINE.match(lines[1]) and len(first.split()) <= 8:
                # A heading underlined, as docstrings head "Returns" and "Parameters".
                label, section, lines = "", first, lines[2:]
                if not lines:
                    continue
            if _is_table(lines):
                header, block_units = _table_units(lines, header, hit, position, section)
            else:
                intro = units[-1].text if units and _leads_in(units[-1]) else label
                block_units = _block_units(lines, hit, position, section, intro)
            label = ""
            units += block_units
            position += len(block_units)
    return units


def _is_caption(line: str) -> bool:
    """Whether a paragraph of one line is a title rather than a sentence: short, with no
    closing punctuation, no list marker and nothing a setting or code would have (backticks,
    digits, dots, underscores, "=") ("Create Prompt Alias", an image's alt text, a <summary>)."""
    return (
        len(line.split()) <= 8
        and not re.search(r"[.!?:;,)]$", line.rstrip("*_"))
        and not re.search(r"[`|\d=_]|\w\.\w", line)
        and not ITEM.match(line)
    )


def _segments(text: str) -> list[tuple[str, str]]:
    """The passage as alternating prose and fenced code segments."""
    out: list[tuple[str, str]] = []
    at = 0
    for match in FENCED.finditer(text):
        if text[at : match.start()].strip():
            out.append(("prose", text[at : match.start()]))
        out.append(("code", match.group(0).strip()))
        at = match.end()
    if text[at:].strip():
        out.append(("prose", text[at:]))
    return out


def _table_units(
    lines: list[str], header: tuple[str, ...], hit: int, position: int, section: str
) -> tuple[tuple[str, ...], list[Unit]]:
    """A table's rows with their header: its first line, or the header of the table it continues."""
    rows = [line.strip() for line in lines if not RULE_ROW.match(line)]
    first = split_row(rows[0])
    ruled = len(lines) > 1 and bool(RULE_ROW.match(lines[1]))  # a Markdown table's header
    if ruled or _is_header(first):
        header, rows = first, rows[1:]
    elif len(header) != len(first):
        header = ()
    units = [
        Unit(row, hit, position + k, "row", header=header, section=section)
        for k, row in enumerate(rows)
    ]
    return header, units


def _is_header(cells: tuple[str, ...]) -> bool:
    """Whether table cells read as column names (short, no code, not all numbers)."""
    return all(
        cell and len(cell.split()) <= 5 and "`" not in cell and not cell.replace(".", "").isdigit()
        for cell in cells
    )


def _block_units(lines: list[str], hit: int, position: int, section: str, intro: str) -> list[Unit]:
    """The units of a paragraph that is no table: sentences, or list items with the sentence
    that introduces their list ("... the following settings:"), all in the language of the code
    tab the paragraph is marked with."""
    units: list[Unit] = []
    mark = TAB_MARK.match(ITEM.sub("", lines[0].lstrip(), count=1))
    language = mark.group(1).lower() if mark else ""
    for piece, kind in _pieces(lines):
        if kind == "item":
            units.append(
                Unit(piece, hit, position + len(units), kind, language, intro, (), section)
            )
            continue
        for sentence in _sentences(piece):
            if len(sentence.split()) >= MIN_WORDS:
                units.append(
                    Unit(sentence, hit, position + len(units), kind, language, section=section)
                )
                intro = sentence if sentence.endswith(":") else ""
    return units


def _pieces(lines: list[str]) -> list[tuple[str, str]]:
    """List items (continuation lines joined) and prose paragraphs (wrapped lines joined)."""
    lines = [QUOTE_MARK.sub("", line) for line in lines]
    if not any(ITEM.match(line) for line in lines):
        return [(" ".join(line.strip() for line in lines), "sentence")]
    pieces: list[tuple[str, str]] = []
    for line in lines:
        if match := ITEM.match(line):
            pieces.append((line[match.end() :].strip(), "item"))
        elif (
            pieces
            and pieces[-1][1] == "item"
            and (line[:1].isspace() or not TERMINAL.search(pieces[-1][0]))
        ):
            # Indented, or a lazy continuation of an item cut mid-sentence.
            pieces[-1] = (f"{pieces[-1][0]} {line.strip()}", "item")
        elif pieces and pieces[-1][1] == "sentence":
            pieces[-1] = (f"{pieces[-1][0]} {line.strip()}", "sentence")  # a wrapped line
        else:
            pieces.append((line.strip(), "sentence"))
    out: list[tuple[str, str]] = []
    for text, kind in pieces:
        # A long item reads as prose: quote its sentences, not the whole paragraph.
        out.append((text, "sentence" if kind == "item" and len(text) > 300 else kind))
    return out


def tab_marked(text: str, language: str) -> str:
    """Prose of a language's code tab with each paragraph marked "(Scala) " (after the marker of
    a list's first item); the prose of other tabs (Python, SQL) and outside tabs as it is."""
    name = TAB_LANGUAGES.get(language)
    if not name:
        return text
    paragraphs = []
    for paragraph in re.split(r"(\n\s*\n)", text):
        item = ITEM.match(paragraph)
        at = item.end() if item else len(paragraph) - len(paragraph.lstrip())
        if paragraph.strip():
            paragraph = f"{paragraph[:at]}({name}) {paragraph[at:]}"
        paragraphs.append(paragraph)
    return "".join(paragraphs)


def _sentences(text: str) -> list[str]:
    """Sentences of a paragraph (none ends inside inline code: `REORG TABLE ... APPLY`)."""
    spans = [m.span() for m in INLINE_CODE.finditer(text)]
    cuts = [
        m
        for m in SENTENCE_END.finditer(text)
        if not any(start < m.start() < end for start, end in spans)
    ]
    starts = [0, *(m.end() for m in cuts)]
    ends = [*(m.start() for m in cuts), len(text)]
    return [text[a:b].strip() for a, b in zip(starts, ends, strict=True) if text[a:b].strip()]


def _is_table(lines: list[str]) -> bool:
    """Whether a paragraph is table lines, each with cells split by `|`."""
    if len(lines) == 1:
        return len(split_row(lines[0])) >= 3
    return all(len(split_row(line)) >= 2 or RULE_ROW.match(line) for line in lines)


def split_row(line: str) -> tuple[str, ...]:
    """The cells of a `a | b | c` table line."""
    cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
    return tuple(cells)


def _leads_in(unit: Unit) -> bool:
    """Whether a unit introduces what follows it ("... as follows:")."""
    return unit.kind in ("sentence", "item") and unit.text.rstrip().endswith(":")


def _language(info: str) -> str:
    """The normalised language of a fence's info string."""
    word = info.strip().split(" ")[0].lower() if info.strip() else ""
    return LANGUAGE_ALIASES.get(word, word)
