"""Markdown (Jekyll's), MDX and notebook Markdown to blocks, parsed by markdown-it-py.

After the dialect's extras are taken out (ingest.loaders.dialects), markdown-it reads the text as
CommonMark with GFM tables and strikethrough, YAML front matter and, in MDX, Docusaurus
admonitions. Its syntax tree becomes blocks: headings build the path, fenced and indented code
become backtick-fenced code blocks, a table becomes `| a | b |` rows under its header, HTML blocks
go through the HTML reader, and each paragraph, list or quote is one prose block that keeps
its Markdown (list markers, emphasis, inline code) but not link targets.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence

import yaml
from markdown_it import MarkdownIt
from markdown_it.parser_block import RuleFuncBlockType
from markdown_it.rules_block import StateBlock
from markdown_it.rules_block.paragraph import paragraph
from markdown_it.tree import SyntaxTreeNode
from mdit_py_plugins.container import container_plugin
from mdit_py_plugins.front_matter import front_matter_plugin

from ingest.fence import fenced
from ingest.loaders.decoding import normalise
from ingest.loaders.dialects import (
    COMMONMARK,
    JEKYLL,
    MDX,
    Dialect,
    liquid_text,
    plain_markdown,
)
from ingest.loaders.html import HtmlReader
from ingest.loaders.outline import (
    Outline,
    collapse_blank_lines,
    dedent,
    has_words,
    row_parts,
    table_blocks,
)
from ingest.loaders.tags import strip_tags
from rag.models import Document
from rag.units import tab_marked

# markdown-it's "default" preset allows this much nesting (CommonMark's 20 drops deeper text).
MAX_NESTING = 100
_TABLE_START = re.compile(r"<table(?=[\s>/]|$)", re.IGNORECASE)
_ADMONITION = re.compile(r"\s*[A-Za-z]")  # :::note, :::tip Title, :::warning[Title]
# Jekyll's code tabs (Spark's docs): `<div data-lang="scala" markdown="1">` ... `</div>`.
_DIV = re.compile(r"<div\b([^>]*)>|</div\s*>", re.IGNORECASE)
_DATA_LANG = re.compile(r"""data-lang\s*=\s*["']?([\w+-]+)""", re.IGNORECASE)


def parse_markdown(text: str, source: str) -> Document:
    """Markdown as Jekyll (Spark's docs) writes it: front matter title, Liquid code blocks."""
    return _parse(text, source, JEKYLL, "md")


def parse_mdx(text: str, source: str) -> Document:
    """MDX (Docusaurus, Astro Starlight): front matter title, JSX text, admonitions."""
    return _parse(text, source, MDX, "mdx")


def add_markdown(outline: Outline, text: str) -> None:
    """Plain CommonMark (a notebook's Markdown cell) as blocks of an existing outline."""
    _Reader(outline, COMMONMARK).read(_tree(text, COMMONMARK).children)


def _parse(text: str, source: str, dialect: Dialect, fmt: str) -> Document:
    """A Markdown file of a dialect as a document, titled by its front matter if it has one."""
    nodes = _tree(text, dialect).children
    title = None
    if nodes and nodes[0].type == "front_matter":
        title = _front_matter_title(nodes[0].content)
        nodes = nodes[1:]
    outline = Outline(title)
    _Reader(outline, dialect).read(nodes)
    return outline.document(source, fmt)


def _tree(text: str, dialect: Dialect) -> SyntaxTreeNode:
    """markdown-it's syntax tree of a Markdown text of a dialect."""
    return SyntaxTreeNode(_parser(dialect).parse(plain_markdown(normalise(text), dialect)))


@functools.cache
def _parser(dialect: Dialect) -> MarkdownIt:
    """A markdown-it parser for a dialect (made once; parsing does not change it)."""
    md = MarkdownIt("commonmark", {"html": not dialect.mdx, "maxNesting": MAX_NESTING})
    md.enable(["table", "strikethrough"])
    md.block.ruler.before(
        "code", "html_table", _html_table, {"alt": ["paragraph", "reference", "blockquote"]}
    )
    if dialect.front_matter:
        md.use(front_matter_plugin)
    if dialect.mdx:
        # MDX has no indented code: indentation (inside JSX, mostly) means nothing, and a
        # fence or heading as deep as the paragraph before it ends that paragraph.
        md.disable("code")
        md.block.ruler.at("paragraph", _from_own_column(paragraph))
        md.use(container_plugin, "admonition", validate=_is_admonition)
    return md


@functools.cache
def _inline_parser() -> MarkdownIt:
    """A parser of inline Markdown inside HTML, where tags are already gone: `<` is text."""
    return MarkdownIt("commonmark", {"html": False}).enable("strikethrough")


def _html_table(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    """An HTML table as one HTML block up to its closing tag, blank lines and all, as kramdown
    and MDX read it (CommonMark ends an HTML block at a blank line, cutting rows from header)."""
    if state.is_code_block(start):
        return False
    begin = state.bMarks[start] + state.tShift[start]
    if not _TABLE_START.match(state.src, begin, state.eMarks[start]):
        return False
    if silent:
        return True
    depth = 0
    line = start
    while line < end:
        text = state.src[state.bMarks[line] : state.eMarks[line]].lower()
        depth += text.count("<table") - text.count("</table")
        line += 1
        if depth <= 0:
            break
    token = state.push("html_block", "", 0)
    token.map = [start, line]
    token.content = state.getLines(start, line, state.blkIndent, True)
    state.line = line
    return True


def _from_own_column(rule: RuleFuncBlockType) -> RuleFuncBlockType:
    """A paragraph rule that measures the next lines' indentation from the paragraph's own
    column rather than the container's, so that it reads no deeper line as a lazy continuation."""

    def at_own_column(state: StateBlock, start: int, end: int, silent: bool) -> bool:
        saved = state.blkIndent
        state.blkIndent = max(saved, state.sCount[start])
        try:
            return rule(state, start, end, silent)
        finally:
            state.blkIndent = saved

    return at_own_column


def _is_admonition(params: str, *_: object) -> bool:
    """Whether what follows a ::: run opens a Docusaurus admonition (a closing ::: has nothing)."""
    return bool(_ADMONITION.match(params))


def _front_matter_title(text: str) -> str | None:
    """The displayTitle (Spark's) or title of YAML front matter."""
    try:
        meta = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    if not isinstance(meta, dict):
        return None
    title = meta.get("displayTitle") or meta.get("title")
    return str(title) if title else None


class _Reader:
    """markdown-it's syntax tree as blocks under the outline's heading path."""

    def __init__(self, outline: Outline, dialect: Dialect) -> None:
        self.outline = outline
        # What prose text goes through: Liquid left in it goes (code keeps it as written).
        self.clean: Callable[[str], str] = liquid_text if dialect.liquid else _as_it_is
        self.lines: list[str] = []  # the prose block being written
        self.divs: list[str] = []  # the open <div>s: the language of a code tab, else ""

    def read(self, nodes: Sequence[SyntaxTreeNode]) -> None:
        """Each node as one or more blocks."""
        for node in nodes:
            self.node(node, "", "")
            self.flush()

    def node(self, node: SyntaxTreeNode, first: str, rest: str) -> None:
        """Write a node, its first line after the prefix first and its other lines after rest
        (a list marker, then its indentation; a quote's `> `)."""
        kind = node.type
        if kind == "paragraph":
            self.write(self.inline(node.children[0].children), first, rest)
        elif kind in ("bullet_list", "ordered_list"):
            self.list(node, first, rest)
        elif kind == "blockquote":
            self.children(node.children, f"{first}> ", f"{rest}> ", loose=True)
        elif kind == "heading":
            self.flush()
            self.outline.heading(int(node.tag[1:]), self.heading(node))
        elif kind in ("fence", "code_block"):
            self.flush()
            code = node.content.strip("\n")
            if code.strip():
                self.outline.add(collapse_blank_lines(fenced(code, node.info.strip())), code=True)
        elif kind == "table":
            self.flush()
            self.table(node)
        elif kind == "html_block":
            self.flush()
            self.enter_tabs(node.content)
            HtmlReader(self.outline, inline=self.html_text).read(node.content)
        elif kind == "container_admonition":
            self.flush()
            self.outline.add(_admonition_title(node.info))
            self.read(node.children)

    def children(
        self, nodes: Sequence[SyntaxTreeNode], first: str, rest: str, *, loose: bool
    ) -> None:
        """Write sibling nodes, the first after first, a blank line between them when loose."""
        for k, child in enumerate(nodes):
            if k and loose:
                self.write("", rest, rest)
            self.node(child, rest if k else first, rest)

    def list(self, node: SyntaxTreeNode, first: str, rest: str) -> None:
        """A list as its items' text after their markers; a loose list's items apart."""
        items = node.children
        loose = any(
            child.type == "paragraph" and not child.hidden
            for item in items
            for child in item.children
        )
        for k, item in enumerate(items):
            marker = f"{item.info}{item.markup}" if node.type == "ordered_list" else item.markup
            lead = rest if k else first
            if k and loose:
                self.write("", rest, rest)
            pad = " " * (len(marker) + 1)
            children = item.children
            if _is_term(children):
                # "* **ORDER BY**" over its description: one line, "**ORDER BY**: Specifies ..."
                term, meaning = (self.inline(c.children[0].children) for c in children[:2])
                self.write(f"{term}: {meaning}", f"{lead}{marker} ", rest + pad)
                if children[2:]:
                    self.write("", rest, rest)
                    self.children(children[2:], rest + pad, rest + pad, loose=loose)
            elif children:
                self.children(children, f"{lead}{marker} ", rest + pad, loose=loose)
            else:
                self.write(marker, lead, rest)

    def table(self, node: SyntaxTreeNode) -> None:
        """A table's rows as `| a | b |` lines under its header, split when it is large."""
        rows = [
            [self.cell(cell) for cell in row.children]
            for section in node.children
            for row in section.children
        ]
        if not rows:
            return
        header = [_row(rows[0]), "|" + "---|" * len(rows[0])]
        body = [_row(part) for row in rows[1:] for part in row_parts(row)]
        for text in table_blocks(body, header):
            self.outline.add(text, table_header=len(header))

    def inline(self, nodes: Sequence[SyntaxTreeNode], *, plain: bool = False) -> str:
        """Inline Markdown as text: inline code and (unless plain) emphasis kept as written, a
        link or image as its text, HTML tags as what they say."""
        out: list[str] = []
        for node in nodes:
            kind = node.type
            if kind in ("text", "text_special"):
                out.append(self.clean(node.content))
            elif kind == "code_inline":
                pad = " " if node.content.startswith("`") or node.content.endswith("`") else ""
                out.append(f"{node.markup}{pad}{node.content}{pad}{node.markup}")
            elif kind in ("softbreak", "hardbreak"):
                out.append("\n")
            elif kind == "html_inline" and not node.content.startswith("<!--"):
                out.append(strip_tags(node.content, jsx=False))
            elif kind in ("em", "strong", "s"):
                mark = "" if plain else node.markup
                out.append(f"{mark}{self.inline(node.children, plain=plain)}{mark}")
            elif kind != "html_inline":  # a link or an image: its text, without the target
                out.append(self.inline(node.children, plain=plain))
        return "".join(out)

    def heading(self, node: SyntaxTreeNode) -> str:
        """A heading's text without emphasis marks or a trailing {#custom-id} anchor."""
        text = self.inline(node.children[0].children, plain=True).strip()
        if text.endswith("}") and "{#" in text:
            text = text[: text.rfind("{#")].rstrip()
        return text

    def cell(self, cell: SyntaxTreeNode) -> str:
        """A table cell's text on one line, its pipes escaped."""
        text = self.inline(cell.children[0].children) if cell.children else ""
        return " ".join(text.split()).replace("|", "\\|")

    def html_text(self, text: str) -> str:
        """Text inside HTML within Markdown, read as inline Markdown (links become their text)."""
        tokens = _inline_parser().parseInline(text)
        return self.inline(SyntaxTreeNode(tokens).children[0].children) if tokens else text

    def write(self, text: str, first: str, rest: str) -> None:
        """Add text's lines to the prose block, the first after first, the others after rest."""
        for k, line in enumerate(text.split("\n")):
            self.lines.append(f"{rest if k else first}{line}".rstrip())

    def enter_tabs(self, html: str) -> None:
        """Follow the code tabs an HTML block opens and closes."""
        for match in _DIV.finditer(html):
            if match.group(0).startswith("</"):
                if self.divs:
                    self.divs.pop()
            else:
                language = _DATA_LANG.search(match.group(1))
                self.divs.append(language.group(1).lower() if language else "")

    def flush(self) -> None:
        """Emit the prose block written so far, marked with the language of the code tab it is
        in (a tab's prose speaks of that language's API: "returns a `Dataset<Row>`")."""
        text = "\n".join(dedent(self.lines)).strip("\n")
        self.lines = []
        if has_words(text):
            tab = next((language for language in reversed(self.divs) if language), "")
            self.outline.add(tab_marked(text, tab))


def _is_term(children: Sequence[SyntaxTreeNode]) -> bool:
    """Whether a list item is a term in bold over the paragraph that describes it (Spark's SQL
    reference lists its parameters so)."""
    if len(children) < 2 or any(c.type != "paragraph" for c in children[:2]):
        return False
    inline = [n for n in children[0].children[0].children if n.type != "text" or n.content.strip()]
    return len(inline) == 1 and inline[0].type == "strong"


def _as_it_is(text: str) -> str:
    """Text unchanged."""
    return text


def _row(cells: list[str]) -> str:
    """Cells as a pipe-table row."""
    return "| " + " | ".join(cells) + " |"


def _admonition_title(info: str) -> str:
    """The title of a Docusaurus admonition: ':::tip Title' or ':::warning[Title]'."""
    rest = info.strip()
    if "[" in rest and rest.endswith("]"):
        return rest[rest.index("[") + 1 : -1].strip()
    parts = rest.split(None, 1)
    return parts[1].strip() if len(parts) > 1 else ""
