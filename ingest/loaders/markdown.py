"""Markdown and MDX to blocks: front matter title, heading paths, code fences, tables."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass

from ingest.fence import fenced
from ingest.loaders.decoding import normalise
from ingest.loaders.html import MAX_TAG_CHARS, HtmlReader
from ingest.loaders.outline import (
    TABLE_BLOCK_CHARS,
    Outline,
    collapse_blank_lines,
    dedent,
    has_words,
    indent_width,
    strip_indent,
    table_blocks,
    words,
)
from rag.models import Document


def _is_list_item(stripped: str) -> bool:
    """Whether a stripped line starts a Markdown list item."""
    if stripped[:1] in ("-", "*", "+"):
        return len(stripped) == 1 or stripped[1] in " \t"
    digits = len(stripped) - len(stripped.lstrip("0123456789"))
    if 1 <= digits <= 9 and stripped[digits : digits + 1] in (".", ")"):
        return len(stripped) == digits + 1 or stripped[digits + 1] in " \t"
    return False


def _is_table_row(line: str) -> bool:
    """Whether a line looks like a pipe-table row."""
    stripped = line.strip()
    return stripped.startswith("|") or stripped.endswith("|")


@dataclass
class _Segment:
    kind: str  # "prose", "code" or "html"
    text: str


def _front_matter(lines: list[str]) -> tuple[dict[str, str], int]:
    """Top-level scalar keys of YAML front matter and the index of the first body line."""
    if not lines or lines[0].strip() != "---":
        return {}, 0
    end = next((i for i in range(1, len(lines)) if lines[i].strip() in ("---", "...")), 0)
    if not end:
        return {}, 0
    meta: dict[str, str] = {}
    i = 1
    while i < end:
        line = lines[i]
        i += 1
        if not line or line[0].isspace() or ":" not in line or line.startswith("#"):
            continue
        key, _, value = line.partition(":")
        value = value.strip()
        if value[:1] in ("|", ">"):
            folded: list[str] = []
            while i < end and (not lines[i].strip() or lines[i][0].isspace()):
                folded.append(lines[i].strip())
                i += 1
            value = " ".join(part for part in folded if part)
        elif len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        meta[key.strip()] = value
    return meta, end + 1


def _fence_open(line: str) -> tuple[int, str, int] | None:
    """(indent, fence char, fence length) when the line opens a code fence."""
    stripped = line.lstrip()
    char = stripped[:1]
    if char not in ("`", "~"):
        return None
    count = len(stripped) - len(stripped.lstrip(char))
    if count < 3 or (char == "`" and "`" in stripped[count:]):
        return None
    return len(line) - len(stripped), char, count


def _read_fence(lines: list[str], start: int, fence: tuple[int, str, int]) -> tuple[str, int]:
    """The fenced code block starting at start (fence lines included) and the next index."""
    indent, char, count = fence
    info = lines[start].strip()[count:].strip()
    body: list[str] = []
    inline_end = -1
    i = start + 1
    while i < len(lines):
        stripped = lines[i].strip()
        if len(stripped) >= count and stripped == char * len(stripped):
            break
        if inline_end < 0 and stripped.endswith(char * count):
            inline_end = i
        body.append(strip_indent(lines[i], indent))
        i += 1
    # Code written on the fence line and closed at the end of a later line is an upstream
    # typo; end the block there rather than swallowing the rest of the file.
    code_in_info = len(info.split()) >= 3 and not re.search(r"\w=[\"'{]", info)
    if inline_end >= 0 and (i == len(lines) or code_in_info):
        words = info.split(None, 1)
        info = words[0] if words else ""
        body = words[1:] + body[: inline_end - start]
        body[-1] = body[-1].rstrip()[:-count].rstrip()
        i = inline_end
    code = "\n".join(body).strip("\n")
    if not code.strip():
        return "", i + 1
    # Re-fence with backticks so every code block looks alike to the chunker.
    return collapse_blank_lines(fenced(code, info)), i + 1


def _read_highlight(lines: list[str], start: int) -> tuple[str, int]:
    """A Liquid {% highlight lang %} block as a fenced code block, and the next index."""
    words = lines[start].strip().strip("{}%- ").split()
    lang = words[1] if len(words) > 1 else ""
    body: list[str] = []
    i = start + 1
    while i < len(lines) and "endhighlight" not in lines[i]:
        body.append(lines[i])
        i += 1
    code = "\n".join(dedent(body)).strip("\n")
    if not code.strip():
        return "", i + 1
    return collapse_blank_lines(fenced(code, lang)), i + 1


def _read_indented(lines: list[str], start: int) -> tuple[str, int]:
    """An indented Markdown code block as a fenced code block, and the next index."""
    i = start
    body: list[str] = []
    while i < len(lines) and (not lines[i].strip() or indent_width(lines[i]) >= 4):
        body.append(lines[i])
        i += 1
    while body and not body[-1].strip():
        body.pop()
        i -= 1
    code = "\n".join(dedent(body))
    return collapse_blank_lines(fenced(code, "")), i


def _read_html_table(lines: list[str], start: int, *, liquid: bool) -> tuple[str, int]:
    """Raw lines of an HTML table (nested tables included), and the next index."""
    depth = 0
    i = start
    while i < len(lines):
        lower = lines[i].lower()
        depth += lower.count("<table") - lower.count("</table")
        i += 1
        if depth <= 0:
            break
    table = lines[start:i]
    return "\n".join(_liquid_to_html(table) if liquid else table), i


def _liquid_to_html(lines: list[str]) -> list[str]:
    """Turn Liquid highlight blocks inside raw HTML into <pre> and drop other Liquid tags."""
    out: list[str] = []
    in_code = False
    for line in lines:
        stripped = line.strip()
        if stripped.startswith(("{% highlight", "{%- highlight")):
            words = stripped.strip("{}%- ").split()
            lang = html.escape(words[1]) if len(words) > 1 else ""
            out.append(f'<pre class="language-{lang}">' if lang else "<pre>")
            in_code = True
        elif in_code and "endhighlight" in stripped:
            out.append("</pre>")
            in_code = False
        elif in_code:
            out.append(html.escape(line, quote=False))
        else:
            out.append(_remove_between(line, "{%", "%}", same_line=True))
    return out


def _skip_esm(lines: list[str], start: int) -> int:
    """The index after an MDX import/export statement starting at start."""
    line = lines[start]
    if line.startswith("import"):
        i = start
        while i < len(lines) and lines[i].strip():  # multi-line imports have no blank lines
            if re.search(r"""\bfrom\s*["']|^import\s*["']""", lines[i]):
                return i + 1
            i += 1
        return i
    balance = 0
    i = start
    while i < len(lines):
        text = lines[i]
        balance += sum(text.count(c) for c in "{[(") - sum(text.count(c) for c in "}])")
        i += 1
        if balance <= 0:
            break
    return i


def _strip_html_comments(line: str, in_comment: bool) -> tuple[str, bool]:
    """Remove HTML comments from a line; returns the rest and whether a comment stays open."""
    out: list[str] = []
    pos = 0
    while True:
        if in_comment:
            end = line.find("-->", pos)
            if end < 0:
                return "".join(out), True
            pos = end + 3
            in_comment = False
        start = line.find("<!--", pos)
        if start < 0:
            out.append(line[pos:])
            return "".join(out), False
        out.append(line[pos:start])
        pos = start + 4
        in_comment = True


_ESM_START = re.compile(
    r"(?:import\s+[\w{*\"']|export\s+(?:const|let|var|default|function|class|async|\{|\*))"
)


def _segments(lines: list[str], *, mdx: bool, liquid: bool) -> list[_Segment]:
    """Split Markdown lines into prose, code and HTML-table segments."""
    segments: list[_Segment] = []
    prose: list[str] = []

    def emit(kind: str, text: str) -> None:
        if prose:
            segments.append(_Segment("prose", "\n".join(prose)))
            prose.clear()
        if text:
            segments.append(_Segment(kind, text))

    i = 0
    prev_blank = True
    in_list = False
    in_comment = False
    while i < len(lines):
        was_in_comment = in_comment
        line, in_comment = _strip_html_comments(lines[i], in_comment)
        if was_in_comment and not line.strip():
            i += 1
            continue
        stripped = line.strip()
        fence = _fence_open(line)
        if fence is not None:
            code, i = _read_fence(lines, i, fence)
            emit("code", code)
        elif liquid and stripped.startswith(("{% highlight", "{%- highlight")):
            code, i = _read_highlight(lines, i)
            emit("code", code)
        elif liquid and stripped.startswith(("{% include", "{%- include")):
            i += 1  # include_example and friends reference external files
        elif not mdx and prev_blank and not in_list and stripped and indent_width(line) >= 4:
            code, i = _read_indented(lines, i)
            emit("code", code)
        elif stripped.lower().startswith("<table"):
            table, i = _read_html_table(lines, i, liquid=liquid)
            emit("html", table)
        elif mdx and _ESM_START.match(line):
            i = _skip_esm(lines, i)
        elif mdx and stripped.startswith(":::"):
            prose.extend(["", _admonition_title(stripped), ""])
            i += 1
        else:
            if stripped and _is_list_item(stripped):
                in_list = True
            elif stripped and prev_blank and indent_width(line) == 0:
                in_list = False
            prose.append(line)
            prev_blank = not stripped
            i += 1
            continue
        prev_blank = True
    emit("prose", "")
    return segments


def _admonition_title(stripped: str) -> str:
    """The title of a Docusaurus ':::type Title' or ':::type[Title]' marker, if any."""
    rest = stripped.lstrip(":").strip()
    if "[" in rest and rest.endswith("]"):
        return rest[rest.index("[") + 1 : -1].strip()
    parts = rest.split(None, 1)
    return parts[1].strip() if len(parts) > 1 else ""


# ---- inline clean-up of prose

_PLACEHOLDER = re.compile("\ue000(\\d+)\ue001")
_BACKSLASH_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_AUTOLINK = re.compile(r"<((?:https?|ftp|mailto):[^\s<>]*)>")
_IMAGE = re.compile(r"!\[([^\[\]]*)\]\([^()]*\)")
_LINK = re.compile(r"\[([^\[\]]*)\]\([^()]*\)")
_REF_LINK = re.compile(r"\[([^\[\]]+)\]\[[^\[\]]*\]")
_TAG_NAME = re.compile(r"[A-Za-z][\w.:-]*+")
_ATTR_NAME = re.compile(r"[^\s=/>{}\"'<]++")
_UNQUOTED = re.compile(r"[^\s>]++")
_SPACES = re.compile(r"\s*+")


_BRACE_TOKEN = re.compile(r"[{}\"]")
_TEXT_KEYS = re.compile(
    r"\b(?:title|description|text|headerText)\s*:\s*\"([^\"\\]*(?:\\.[^\"\\]*)*)\""
)
_TEXT_ATTRS = frozenset({"title", "description", "text", "headerText", "alt", "caption"})
_HTML_TAGS = words(
    "a abbr address article aside b big blockquote body br caption center cite code col "
    "colgroup dd del details dfn div dl dt em figcaption figure font footer h1 h2 h3 h4 "
    "h5 h6 head header hr html i iframe img input ins kbd label li main mark nav ol p "
    "picture pre q s samp section small source span strike strong sub summary sup table "
    "tbody td tfoot th thead time tr tt u ul var video wbr"
)
_BLOCK_TAGS = words(
    "address article aside blockquote body br caption center dd details div dl dt "
    "figcaption figure footer h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section "
    "summary table tbody td tfoot th thead tr ul"
)


def _skip_spaces(text: str, j: int, limit: int) -> int:
    """The index of the first non-space character at or after j (before limit)."""
    match = _SPACES.match(text, j, limit)
    return match.end() if match else j


def _protect_code_spans(text: str) -> tuple[str, list[str]]:
    """Replace inline code spans with placeholders so later clean-up leaves them alone."""
    spans: list[str] = []
    out: list[str] = []
    pos = 0
    para_end = -1
    i = text.find("`")
    while i >= 0:
        j = i
        while j < len(text) and text[j] == "`":
            j += 1
        if para_end < j:
            para_end = text.find("\n\n", j)
            para_end = len(text) if para_end < 0 else para_end
        close = _find_tick_run(text, j - i, j, para_end)
        if close < 0:
            i = text.find("`", j)
            continue
        out.append(text[pos:i])
        out.append(f"\ue000{len(spans)}\ue001")
        spans.append(text[i : close + j - i])
        pos = close + j - i
        i = text.find("`", pos)
    out.append(text[pos:])
    return "".join(out), spans


def _find_tick_run(text: str, length: int, start: int, end: int) -> int:
    """The start of the next run of exactly length backticks in text[start:end], or -1."""
    ticks = "`" * length
    k = text.find(ticks, start, end)
    while k >= 0:
        stop = k
        while stop < end and text[stop] == "`":
            stop += 1
        if stop - k == length:
            return k
        k = text.find(ticks, stop, end)
    return -1


def _remove_between(
    text: str,
    opener: str,
    closer: str,
    *,
    same_line: bool,
    keep: Callable[[str], bool] | None = None,
) -> str:
    """Remove opener...closer spans (optionally only within a line, or unless keep(inner))."""
    out: list[str] = []
    pos = 0
    while True:
        start = text.find(opener, pos)
        if start < 0:
            break
        limit = text.find("\n", start) if same_line else -1
        limit = len(text) if limit < 0 else limit
        end = text.find(closer, start + len(opener), limit)
        if end < 0:
            # No closer up to limit, so none for any later opener before it either.
            if limit == len(text):
                break
            out.append(text[pos:limit])
            pos = limit
            continue
        inner = text[start + len(opener) : end]
        out.append(text[pos:start])
        if keep is not None and keep(inner):
            out.append(text[start : end + len(closer)])
        pos = end + len(closer)
    out.append(text[pos:])
    return "".join(out)


def _keep_liquid_output(inner: str) -> bool:
    """Keep {{ ... }} unless it is a Jekyll site/page variable (those render to nothing useful)."""
    name = inner.strip()
    return not (
        name.startswith(("site.", "page.", "layout.", "include.", "jekyll."))
        or name == "rel_path_to_root"
    )


def _clean_prose(text: str, *, mdx: bool, liquid: bool) -> str:
    """Strip markup from Markdown prose while keeping its words and inline code."""
    text, spans = _protect_code_spans(text)
    if mdx:
        text = _remove_between(text, "{/*", "*/}", same_line=False)
        text = text.replace('{" "}', " ").replace("{' '}", " ")
    if liquid:
        text = _remove_between(text, "{%", "%}", same_line=True)
        text = _remove_between(text, "{{", "}}", same_line=True, keep=_keep_liquid_output)
        text = _remove_between(text, "{:", "}", same_line=True)
    text = _AUTOLINK.sub(r"\1", text)
    text = _TagStripper(text, mdx=mdx).run()
    text = _REF_LINK.sub(r"\1", _LINK.sub(r"\1", _IMAGE.sub(r"\1", text)))
    text = _BACKSLASH_ESCAPE.sub(r"\1", text)
    text = html.unescape(text)
    return _PLACEHOLDER.sub(lambda m: spans[int(m.group(1))], text)


class _TagStripper:
    """Removes HTML/JSX tags from prose, keeping the text between them and text-like props."""

    def __init__(self, text: str, *, mdx: bool, depth: int = 0) -> None:
        self.text = text
        self.mdx = mdx
        self.depth = depth
        # A work budget keeps the scan linear even when many '<' start unterminated tags.
        self.budget = 5 * len(text) + 1000

    def run(self) -> str:
        """The text with tags replaced."""
        text = self.text
        out: list[str] = []
        pos = 0
        while True:
            start = text.find("<", pos)
            if start < 0:
                out.append(text[pos:])
                return "".join(out)
            out.append(text[pos:start])
            parsed = self._tag(start) if self.budget > 0 else None
            if parsed is None:
                out.append("<")
                pos = start + 1
            else:
                pos, replacement = parsed
                out.append(replacement)

    def _tag(self, start: int) -> tuple[int, str] | None:
        """(end, replacement) for a well-formed tag at start, else None."""
        text = self.text
        if start and text[start - 1] == "\\":  # an escaped '<' is text
            return None
        limit = min(len(text), start + MAX_TAG_CHARS)
        j = start + 1
        closing = text.startswith("/", j)
        j += closing
        if text.startswith(">", j):  # JSX fragment <> or </>
            return (j + 1, "") if self.mdx else None
        match = _TAG_NAME.match(text, j, limit)
        if match is None:
            return None
        name = match.group()
        known = name.lower() in _HTML_TAGS
        if not known and not self.mdx:
            return None
        j = match.end()
        if j < len(text) and not (text[j].isspace() or text[j] in "/>"):
            return None
        attrs = self._attributes(j, limit, closing)
        self.budget -= (attrs[0] if attrs else limit) - start
        if attrs is None:
            return None
        end, props, self_closing = attrs
        return end, self._replacement(name.lower() if known else name, props, closing, self_closing)

    def _attributes(
        self, j: int, limit: int, closing: bool
    ) -> tuple[int, list[tuple[str, str, str]], bool] | None:
        """Parse attributes up to the tag end: (end, [(name, kind, value)], self-closing)."""
        text = self.text
        props: list[tuple[str, str, str]] = []
        while True:
            j = _skip_spaces(text, j, limit)
            if text.startswith("/>", j):
                return j + 2, props, True
            if text.startswith(">", j):
                return j + 1, props, False
            if closing or j >= limit:
                return None
            if text[j] == "{":
                end = self._braces(j, limit)
                if end < 0:
                    return None
                props.append(("", "expr", text[j + 1 : end - 1]))
                j = end
                continue
            match = _ATTR_NAME.match(text, j, limit)
            if match is None:
                return None
            name = match.group()
            j = _skip_spaces(text, match.end(), limit)
            if not text.startswith("=", j):
                props.append((name, "flag", ""))
                continue
            j = _skip_spaces(text, j + 1, limit)
            value = self._value(j, limit)
            if value is None:
                return None
            j, kind, raw = value
            props.append((name, kind, raw))

    def _value(self, j: int, limit: int) -> tuple[int, str, str] | None:
        """(end, kind, raw) of an attribute value at j."""
        text = self.text
        quote = text[j : j + 1]
        if quote in ('"', "'"):
            end = text.find(quote, j + 1, limit)
            return None if end < 0 else (end + 1, "str", text[j + 1 : end])
        if quote == "{":
            end = self._braces(j, limit)
            return None if end < 0 else (end, "expr", text[j + 1 : end - 1])
        match = _UNQUOTED.match(text, j, limit)
        return None if match is None else (match.end(), "str", match.group())

    def _braces(self, j: int, limit: int) -> int:
        """The index after the brace matching the one at j (strings skipped), or -1."""
        text = self.text
        depth = 0
        k = j
        while True:
            match = _BRACE_TOKEN.search(text, k, limit)
            if match is None:
                return -1
            char = match.group()
            k = match.end()
            if char == '"':
                close = text.find('"', k, limit)
                if close < 0:
                    return -1
                k = close + 1
            elif char == "{":
                depth += 1
            else:
                depth -= 1
                if depth == 0:
                    return k

    def _replacement(
        self, name: str, props: list[tuple[str, str, str]], closing: bool, self_closing: bool
    ) -> str:
        """What a tag turns into: inline-code backticks, a line break, prop text or nothing."""
        if name == "code":
            return "`"
        texts = [] if closing else self._prop_texts(props, self_closing)
        if texts:
            return "\n".join(texts)
        return "\n" if name in _BLOCK_TAGS else ""

    def _prop_texts(self, props: list[tuple[str, str, str]], self_closing: bool) -> list[str]:
        """Human-readable text carried in props (titles, descriptions, JSX fragments)."""
        texts: list[str] = []
        for name, kind, raw in props:
            if kind == "str" and name in _TEXT_ATTRS and raw.strip():
                texts.append(" ".join(raw.split()))
            elif kind == "str" and name == "fn" and self_closing:
                texts.append(f"`{raw}`")
            elif kind == "expr" and raw.strip().startswith("<") and self.depth < 2:
                inner = _TagStripper(raw, mdx=self.mdx, depth=self.depth + 1).run()
                if inner.strip():
                    texts.append(" ".join(inner.split()))
            elif kind == "expr":
                texts.extend(" ".join(m.group(1).split()) for m in _TEXT_KEYS.finditer(raw))
        return [text for text in texts if text]


# ---- block assembly


def _atx_heading(line: str, *, mdx: bool) -> tuple[int, str]:
    """(level, text) of an ATX heading line, or (0, '')."""
    if not mdx and indent_width(line) > 3:
        return 0, ""
    stripped = line.strip()
    level = len(stripped) - len(stripped.lstrip("#"))
    rest = stripped[level:]
    if not 1 <= level <= 6 or (rest and rest[0] not in " \t"):
        return 0, ""
    rest = rest.strip()
    trimmed = rest.rstrip("#")
    if trimmed != rest and (not trimmed or trimmed[-1] in " \t"):
        rest = trimmed.strip()
    return level, _clean_heading(rest)


def _clean_heading(text: str) -> str:
    """Drop a trailing {#custom-id} anchor and bold markers from heading text."""
    text = text.strip()
    if text.endswith("}") and "{#" in text:
        text = text[: text.rfind("{#")].strip()
    return text.replace("**", "").strip()


def _is_setext_underline(stripped: str) -> bool:
    """Whether a stripped line is a run of '=' or '-' only."""
    return bool(stripped) and stripped[0] in "=-" and stripped == stripped[0] * len(stripped)


def _is_thematic_break(stripped: str) -> bool:
    """Whether a stripped line is ---, *** or ___ (spaces allowed)."""
    compact = stripped.replace(" ", "")
    return len(compact) >= 3 and compact[0] in "-*_" and compact == compact[0] * len(compact)


def _is_link_definition(stripped: str) -> bool:
    """Whether a line is a Markdown link reference definition '[ref]: url'."""
    end = stripped.find("]:")
    if not stripped.startswith("[") or end < 2 or "]" in stripped[1:end]:
        return False
    rest = stripped[end + 2 :].split(None, 1)
    return len(rest) == 1 or (len(rest) == 2 and rest[1][:1] in "\"'(")


def _is_toc_line(stripped: str) -> bool:
    """Whether a line is a kramdown table-of-contents marker."""
    return stripped.lstrip("*- ").startswith("This will become a table of contents")


class MarkdownReader:
    """Turns Markdown or MDX text into blocks under an outline."""

    def __init__(self, outline: Outline, *, mdx: bool, liquid: bool) -> None:
        self.outline = outline
        self.mdx = mdx
        self.liquid = liquid

    def feed(self, text: str) -> None:
        """Parse one piece of Markdown (a whole file or a notebook cell)."""
        for segment in _segments(text.split("\n"), mdx=self.mdx, liquid=self.liquid):
            if segment.kind == "code":
                self.outline.add(segment.text, code=True)
            elif segment.kind == "html":
                HtmlReader(self.outline, inline=_markdown_links).read(segment.text)
            else:
                self._prose(_clean_prose(segment.text, mdx=self.mdx, liquid=self.liquid))

    def _prose(self, text: str) -> None:
        """Split cleaned prose into headings and paragraph blocks."""
        para: list[str] = []
        for line in text.split("\n"):
            stripped = line.strip()
            if not stripped:
                self._flush(para)
                continue
            level, heading = _atx_heading(line, mdx=self.mdx)
            if level:
                self._flush(para)
                self.outline.heading(level, heading)
            elif para and _is_setext_underline(stripped) and indent_width(line) <= 3:
                if len(para) == 1 and not _is_list_item(para[0].strip()):
                    self.outline.heading(1 if stripped[0] == "=" else 2, _clean_heading(para[0]))
                    para.clear()
                else:
                    self._flush(para)
            elif not (
                (not para and _is_thematic_break(stripped))
                or _is_toc_line(stripped)
                or _is_link_definition(stripped)
            ):
                para.append(line)
        self._flush(para)

    def _flush(self, para: list[str]) -> None:
        """Emit the pending paragraph (splitting big tables) and clear it."""
        if not para:
            return
        lines = dedent(para)
        para.clear()
        text = "\n".join(lines)
        if not has_words(text):
            return
        if len(text) > TABLE_BLOCK_CHARS and len(lines) > 3 and all(map(_is_table_row, lines)):
            for part in table_blocks(lines[2:], lines[:2]):
                self.outline.add(part)
        else:
            self.outline.add(text)


def _parse_markdown(text: str, source: str, *, mdx: bool, liquid: bool) -> Document:
    """Markdown or MDX: front matter title, heading paths, code fences."""
    lines = normalise(text).split("\n")
    meta, body = _front_matter(lines)
    title = meta.get("displayTitle") or meta.get("title") or None
    outline = Outline(title)
    MarkdownReader(outline, mdx=mdx, liquid=liquid).feed("\n".join(lines[body:]))
    return outline.document(source, "mdx" if mdx else "md")


def parse_markdown(text: str, source: str) -> Document:
    """Plain (Jekyll-flavoured) Markdown."""
    return _parse_markdown(text, source, mdx=False, liquid=True)


def parse_mdx(text: str, source: str) -> Document:
    """MDX (Docusaurus / Astro Starlight)."""
    return _parse_markdown(text, source, mdx=True, liquid=False)


def _markdown_links(text: str) -> str:
    """Markdown images and links reduced to their text, inline code left alone."""
    text, spans = _protect_code_spans(text)
    text = _REF_LINK.sub(r"\1", _LINK.sub(r"\1", _IMAGE.sub(r"\1", text)))
    return _PLACEHOLDER.sub(lambda m: spans[int(m.group(1))], text)
