"""HTML to blocks: headings build the path, <pre> gives code, tables give rows under a header."""

from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser

from ingest.fence import fenced
from ingest.loaders.decoding import normalise
from ingest.loaders.outline import (
    Outline,
    collapse_blank_lines,
    dedent,
    has_words,
    row_parts,
    table_blocks,
    words,
)
from rag.models import Document

# Upper bound on the characters one tag may span.
MAX_TAG_CHARS = 10_000

_HTML_SKIP = frozenset({"script", "style", "noscript", "template", "svg"})
_HTML_VOID = words("area base br col embed hr img input link meta source track wbr")
_HTML_FLOW = words(
    "address article aside blockquote body caption center dd details div dl dt fieldset "
    "figcaption figure footer form header hr main nav p section summary"
)
_WHITESPACE = re.compile(r"\s+")


class HtmlReader(HTMLParser):
    """Turns HTML into blocks: headings build the path, <pre> gives code, tables give rows."""

    def __init__(self, outline: Outline, *, inline: Callable[[str], str] | None = None) -> None:
        super().__init__(convert_charrefs=True)
        self.outline = outline
        self.inline = inline  # what text goes through: HTML inside Markdown may hold Markdown
        self.page_title: list[str] | None = None
        self._buf: list[str] = []
        self._skip = 0
        self._heading = 0
        self._heading_buf: list[str] = []
        self._pre = 0
        self._pre_buf: list[str] = []
        self._pre_lang = ""
        self._lists = 0
        self._tables: list[tuple[list[str], list[str]]] = []  # (header rows, body rows)
        self._cells: list[str] | None = None
        self._in_cell = False
        self._row_is_header = False
        self._nested_tables = 0  # tables inside a cell are flattened into its text
        self._in_title = False

    def read(self, markup: str) -> None:
        """Parse a whole document or fragment."""
        self.feed(_escape_broken_tags(markup))
        self.close()
        if self._pre:
            self._end_pre()
        self._end_row()
        while self._tables:
            self._end_table()
        self._flush()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Open an element."""
        if tag in _HTML_SKIP:
            self._skip += 1
        if self._skip:
            return
        if tag == "title" and self.page_title is None:
            self._in_title = True
            self.page_title = []
        elif len(tag) == 2 and tag[0] == "h" and tag[1] in "123456":
            self._flush()
            self._heading = int(tag[1])
            self._heading_buf = []
        elif tag == "pre":
            self._flush()
            self._pre += 1
            self._pre_lang = self._pre_lang or _code_lang(attrs)
        elif tag == "code":
            if self._pre:
                self._pre_lang = self._pre_lang or _code_lang(attrs)
            else:
                self._text("`")
        elif tag == "br":
            self._text("\n")
        elif tag == "img":
            self._text(f" {_image_text(dict(attrs))} ")
        elif tag in ("ul", "ol"):
            if not self._lists and self._cells is None:
                self._flush()
            self._lists += 1
        elif tag == "li":
            self._text("\n" + "  " * max(0, self._lists - 1) + "- ")
        elif tag == "table" and (self._in_cell or self._nested_tables):
            self._nested_tables += 1
        elif tag in ("tr", "td", "th") and self._nested_tables:
            self._text("\n" if tag == "tr" else " ")
        elif tag == "table":
            self._flush()
            self._tables.append(([], []))
        elif tag == "tr":
            self._end_row()
            self._flush()
            self._cells = []
            self._row_is_header = True
        elif tag in ("td", "th"):
            if self._cells is None:  # a cell without <tr>
                self._flush()
                self._cells = []
                self._row_is_header = True
            self._end_cell()
            self._buf = []
            self._in_cell = True
            self._row_is_header &= tag == "th"
        elif tag in _HTML_FLOW:
            self._break()

    def handle_endtag(self, tag: str) -> None:
        """Close an element."""
        if tag in _HTML_SKIP:
            self._skip = max(0, self._skip - 1)
            return
        if self._skip or tag in _HTML_VOID:
            return
        if tag == "title":
            self._in_title = False
        elif len(tag) == 2 and tag[0] == "h" and tag[1] in "123456" and self._heading:
            self._heading = 0
            self.outline.heading(int(tag[1]), "".join(self._heading_buf))
        elif tag == "pre" and self._pre:
            self._pre -= 1
            if not self._pre:
                self._end_pre()
        elif tag == "code" and not self._pre:
            self._text("`")
        elif tag in ("ul", "ol") and self._lists:
            self._lists -= 1
            if not self._lists and self._cells is None:
                self._flush()
        elif tag == "table" and self._nested_tables:
            self._nested_tables -= 1
        elif tag in ("tr", "td", "th") and self._nested_tables:
            return
        elif tag in ("td", "th"):
            self._end_cell()
        elif tag == "tr":
            self._end_row()
        elif tag == "table" and self._tables:
            self._end_row()
            self._end_table()
        elif tag in _HTML_FLOW:
            self._break()

    def handle_data(self, data: str) -> None:
        """Collect text."""
        if self._skip:
            return
        if self._in_title and self.page_title is not None:
            self.page_title.append(data)
        elif self._heading:
            self._heading_buf.append(data)
        elif self._pre:
            self._pre_buf.append(data)
        else:
            self._text(_WHITESPACE.sub(" ", data))

    def _text(self, text: str) -> None:
        self._buf.append(text)

    def _text_of_buffer(self) -> str:
        """The collected text, whitespace-squashed (and read as inline Markdown if asked)."""
        text = _squash("".join(self._buf))
        return self.inline(text) if self.inline else text

    def _break(self) -> None:
        """A flow element boundary: a new block, or a space inside lists and cells."""
        if self._lists or self._cells is not None:
            self._text(" ")
        else:
            self._flush()

    def _end_cell(self) -> None:
        if self._cells is not None and self._in_cell:
            self._cells.append(self._text_of_buffer())
            self._buf = []
        self._in_cell = False

    def _end_row(self) -> None:
        if self._cells is None:
            return
        self._end_cell()
        self._buf = []
        cells, self._cells = self._cells, None
        if not any(cells):
            return
        if not self._tables:  # a stray row outside any <table>
            self.outline.add("\n".join(" | ".join(part) for part in row_parts(cells)))
            return
        header, rows = self._tables[-1]
        if self._row_is_header and not rows:
            header.append(" | ".join(" ".join(cell.split()) for cell in cells))
        else:
            rows.extend(" | ".join(part) for part in row_parts(cells))

    def _end_table(self) -> None:
        header, rows = self._tables.pop()
        if rows or header:
            for text in table_blocks(rows, header):
                self.outline.add(text, table_header=len(header))

    def _end_pre(self) -> None:
        code = "".join(self._pre_buf).strip("\n")
        self._pre_buf = []
        lang, self._pre_lang = self._pre_lang, ""
        lines = dedent([line.rstrip() for line in code.split("\n")])
        if any(line.strip() for line in lines):
            self.outline.add(collapse_blank_lines(fenced("\n".join(lines), lang)), code=True)

    def _flush(self) -> None:
        """Emit the pending text as a block."""
        if self._cells is not None:
            return
        text = self._text_of_buffer()
        self._buf = []
        if has_words(text):
            self.outline.add(text)


def _escape_broken_tags(markup: str) -> str:
    """Escape '<' that opens no complete tag or comment.

    html.parser rescans from every unterminated '<' to the end of the input, which is
    quadratic on junk like '<a <a <a ...'; escaped, those become plain text.
    """
    out: list[str] = []
    pos = 0
    gt = -1
    comment_end = -1
    start = markup.find("<")
    while start >= 0:
        nxt = markup.find("<", start + 1)
        nxt = len(markup) if nxt < 0 else nxt
        broken = False
        if markup.startswith("<!--", start):
            if comment_end != -2 and comment_end < start:
                found = markup.find("-->", start + 4)
                comment_end = found + 3 if found >= 0 else -2
            if comment_end == -2:
                broken = True
            else:
                nxt = markup.find("<", comment_end)
                nxt = len(markup) if nxt < 0 else nxt
        elif markup[start + 1 : start + 2].isalpha() or markup[start + 1 : start + 2] in "/!?":
            if gt < start:
                gt = markup.find(">", start)
                gt = len(markup) if gt < 0 else gt
            broken = gt > nxt or gt == len(markup) or gt - start > MAX_TAG_CHARS
        if broken:
            out.append(markup[pos:start])
            out.append("&lt;")
            pos = start + 1
        start = nxt if nxt < len(markup) else -1
    out.append(markup[pos:])
    return "".join(out)


def _squash(text: str) -> str:
    """Collapse whitespace within lines and drop empty lines."""
    lines = (" ".join(line.split()) for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def _image_text(attrs: dict[str, str | None]) -> str:
    """What stands in for an image, as for a Markdown one: its alt text, and its title (a
    caption, "Figure 1: Architecture") when the alt text does not already say it."""
    alt = " ".join((attrs.get("alt") or "").split())
    title = " ".join((attrs.get("title") or "").split())
    return f"{alt} ({title})" if alt and title and title not in alt else alt or title


def _code_lang(attrs: list[tuple[str, str | None]]) -> str:
    """The language named by a 'language-xxx' / 'lang-xxx' class, if any."""
    for name, value in attrs:
        if name == "class" and value:
            for cls in value.split():
                for prefix in ("language-", "lang-", "highlight-source-"):
                    if cls.startswith(prefix):
                        return cls[len(prefix) :]
    return ""


def parse_html(text: str, source: str) -> Document:
    """HTML: <title> or first <h1> for the title, headings for the path."""
    outline = Outline(None)
    reader = HtmlReader(outline)
    markup = normalise(text)
    head_end = markup.lower().find("</title>")
    if head_end >= 0:  # learn the <title> first so a matching <h1> is not repeated
        probe = HtmlReader(Outline(""))
        probe.read(markup[: head_end + len("</title>")])
        outline.title = _squash("".join(probe.page_title or [])) or None
    reader.read(markup)
    return outline.document(source, "html")
