"""Parse source files (Markdown, MDX, reST, text, HTML, notebooks, PDF) into documents of blocks."""

from __future__ import annotations

import bz2
import gzip
import html
import io
import json
import logging
import lzma
import re
import warnings
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
from typing import Any

from ingest.fence import fenced
from rag.errors import SourceError
from rag.models import Block, Document

# pypdf reports recoverable damage (missing fontTools, odd xrefs) through logging; keep it
# off stderr even when another library has configured the root logger.
_PYPDF_LOG = logging.getLogger("pypdf")
_PYPDF_LOG.addHandler(logging.NullHandler())
_PYPDF_LOG.propagate = False

SUPPORTED_SUFFIXES: frozenset[str] = frozenset(
    {".md", ".mdx", ".markdown", ".rst", ".txt", ".html", ".htm", ".ipynb", ".pdf"}
)

# A single document compressed on its own (notes.md.gz) is read; archives are not files.
COMPRESSED_SUFFIXES: frozenset[str] = frozenset({".gz", ".bz2", ".xz"})
_DECOMPRESS_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError)

_FORMATS: dict[str, str] = {
    "md": "md",
    "markdown": "md",
    "mdx": "mdx",
    "rst": "rst",
    "txt": "txt",
    "text": "txt",
    "html": "html",
    "htm": "html",
    "ipynb": "ipynb",
    "pdf": "pdf",
}

# Larger tables are split into several blocks, each repeating the header row.
_TABLE_BLOCK_CHARS = 1500
# Upper bound on the characters one inline HTML/JSX tag may span.
_MAX_TAG_CHARS = 10_000


def is_supported(name: str) -> bool:
    """Whether a file name is a format load_file reads, perhaps compressed (guide.md.gz)."""
    suffixes = [s.lower() for s in PurePosixPath(name).suffixes]
    if suffixes and suffixes[-1] in COMPRESSED_SUFFIXES:
        suffixes.pop()
    return bool(suffixes) and suffixes[-1] in SUPPORTED_SUFFIXES


def load_file(path: Path, source: str, *, max_bytes: int) -> Document:
    """Read a file (refusing ones over max_bytes, also once decompressed) and parse it."""
    compression = PurePosixPath(source.replace("\\", "/")).suffix.lower()
    if compression in COMPRESSED_SUFFIXES:
        inner = PurePosixPath(source.replace("\\", "/")).stem
        data = _decompress(path, source, compression, max_bytes)
        return load_bytes(data, source, fmt=PurePosixPath(inner).suffix)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise SourceError(
                f"{source}: file is {size} bytes, over the {max_bytes}-byte limit; "
                "raise the size limit or exclude the file"
            )
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise SourceError(f"{source}: cannot read file ({exc.strerror or exc})") from exc
    if len(data) > max_bytes:
        raise SourceError(
            f"{source}: file is over the {max_bytes}-byte limit; "
            "raise the size limit or exclude the file"
        )
    return load_bytes(data, source)


def _open_compressed(path: Path, compression: str) -> io.BufferedIOBase:
    """A stream of the decompressed bytes of a .gz, .bz2 or .xz file."""
    if compression == ".gz":
        return gzip.open(path, "rb")
    if compression == ".bz2":
        return bz2.open(path, "rb")
    return lzma.open(path, "rb")


def _decompress(path: Path, source: str, compression: str, max_bytes: int) -> bytes:
    """A compressed file's content, refusing more than max_bytes once expanded."""
    try:
        with _open_compressed(path, compression) as stream:
            data = stream.read(max_bytes + 1)
    except OSError as exc:
        if exc.strerror:  # the file itself cannot be read, rather than a bad stream
            raise SourceError(f"{source}: cannot read file ({exc.strerror})") from exc
        raise SourceError(f"{source}: cannot decompress ({_one_line(exc)})") from exc
    except _DECOMPRESS_ERRORS as exc:
        raise SourceError(f"{source}: cannot decompress ({_one_line(exc)})") from exc
    if len(data) > max_bytes:
        raise SourceError(
            f"{source}: expands to more than the {max_bytes}-byte file limit "
            "(a compression bomb?); refused"
        )
    return data


def load_bytes(data: bytes, source: str, *, fmt: str | None = None) -> Document:
    """Parse raw bytes into a Document; fmt defaults from the source's suffix."""
    kind = _format_of(source, fmt)
    if not data:
        raise SourceError(f"{source}: empty file; add content or exclude it")
    try:
        if kind == "pdf":
            title, blocks = _parse_pdf(data, source)
        else:
            title, blocks = _PARSERS[kind](_decode(data, source), source)
    except SourceError:
        raise
    except Exception as exc:  # bad input must surface as a named, one-line error
        raise SourceError(f"{source}: cannot parse as {kind} ({_one_line(exc)})") from exc
    if not blocks:
        raise SourceError(f"{source}: no text found; check that the file has content")
    return Document(source=source, title=title, blocks=blocks, format=kind)


def _format_of(source: str, fmt: str | None) -> str:
    """The canonical format name from an explicit fmt or the source's suffix."""
    name = fmt if fmt is not None else PurePosixPath(source.replace("\\", "/")).suffix
    kind = _FORMATS.get(name.lower().lstrip("."))
    if kind is None:
        supported = " ".join(sorted(SUPPORTED_SUFFIXES))
        raise SourceError(f"{source}: unsupported format {name!r}; supported: {supported}")
    return kind


def _one_line(exc: BaseException) -> str:
    """An exception as a short single line."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def _words(text: str) -> frozenset[str]:
    """The set of whitespace-separated words in text."""
    return frozenset(text.split())


# ---------------------------------------------------------------------------- decoding

_BOMS: tuple[tuple[bytes, str], ...] = (
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)
_CONTROL_BYTES = frozenset(range(32)) - {9, 10, 12, 13} | {127}
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def _decode(data: bytes, source: str) -> str:
    """Decode text bytes, refusing binary content and undecodable text."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return _checked_text(data.decode(encoding), source)
            except UnicodeDecodeError:
                raise SourceError(
                    f"{source}: invalid {encoding} text after its byte-order mark; re-save as UTF-8"
                ) from None
    if b"\x00" in data:
        raise SourceError(f"{source}: binary content (NUL bytes), not text; exclude the file")
    try:
        return _checked_text(data.decode("utf-8"), source)
    except UnicodeDecodeError:
        pass
    control = sum(1 for byte in data if byte in _CONTROL_BYTES)
    if control > len(data) * 0.01:
        raise SourceError(f"{source}: binary content, not text; exclude the file")
    high = sum(1 for byte in data if byte >= 0x80)
    # Legacy 8-bit text (cp1252/latin-1) has a few accented letters among ASCII; multi-byte
    # legacy encodings (Shift-JIS, GBK, ...) are mostly high bytes and cannot be guessed.
    if high > len(data) * 0.3:
        raise SourceError(f"{source}: not UTF-8 text; re-save as UTF-8")
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    return _checked_text(text, source)


def _checked_text(text: str, source: str) -> str:
    """Refuse decoded text that is mostly control characters or blank."""
    if len(_CONTROL_CHARS.findall(text)) > max(2, len(text) // 100):
        raise SourceError(f"{source}: binary content, not text; exclude the file")
    if not text.strip():
        raise SourceError(f"{source}: no text (only whitespace); add content or exclude it")
    return text


def _normalise(text: str) -> str:
    """Unify newlines, strip trailing whitespace and drop our private placeholder marks."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\ue000", "").replace("\ue001", "")
    return "\n".join(line.rstrip() for line in text.split("\n"))


def _collapse_blank_lines(text: str) -> str:
    """Collapse runs of three or more blank lines to two."""
    return re.sub(r"\n{4,}", "\n\n\n", text)


# ---------------------------------------------------------------------------- helpers


def _title_from_filename(source: str) -> str:
    """A readable title derived from a file name (or its folder for index files)."""
    path = PurePosixPath(source.replace("\\", "/"))
    stem = path.stem
    if stem.lower() in {"index", "readme", "_index"} and path.parent.name:
        stem = path.parent.name
    words = re.split(r"[-_\s]+", stem)
    title = " ".join(word[:1].upper() + word[1:] for word in words if word)
    return title or source


def _same_title(heading: str, title: str | None) -> bool:
    """Whether a heading merely repeats the document title."""
    if not title:
        return False

    def norm(text: str) -> str:
        return " ".join(text.replace("`", "").replace("*", "").split()).casefold().rstrip(".:")

    return norm(heading) == norm(title)


def _dedent(lines: list[str]) -> list[str]:
    """Remove the common leading whitespace of the non-blank lines."""
    widths = [len(line) - len(line.lstrip()) for line in lines if line.strip()]
    cut = min(widths, default=0)
    return [line[cut:] for line in lines]


def _strip_indent(line: str, width: int) -> str:
    """Remove up to width leading whitespace characters."""
    rest = line.lstrip()
    return line[min(width, len(line) - len(rest)) :]


def _indent(line: str) -> int:
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


def _has_words(text: str) -> bool:
    """Whether text contains at least one letter or digit."""
    return any(char.isalnum() for char in text)


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


def _table_blocks(rows: list[str], header: list[str]) -> list[str]:
    """Group table rows into texts of bounded size, each starting with the header rows."""
    head = "\n".join(header)
    texts: list[str] = []
    current: list[str] = []
    size = len(head)
    for row in rows:
        if current and size + len(row) > _TABLE_BLOCK_CHARS:
            texts.append("\n".join([*header, *current]))
            current, size = [], len(head)
        current.append(row)
        size += len(row) + 1
    if current or not texts:
        texts.append("\n".join([*header, *current]))
    return texts


# ---------------------------------------------------------------------------- outline


@dataclass
class _Section:
    level: int
    text: str
    used: bool = False


class _Outline:
    """Collects blocks in reading order under the current heading path."""

    def __init__(self, title: str | None, *, title_level: int = 1) -> None:
        self.title = " ".join(title.split()) if title else None
        self.blocks: list[Block] = []
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
        if first and _same_title(text, self.title):
            return
        while self._stack and self._stack[-1].level >= level:
            self._close()
        self._stack.append(_Section(level, text))

    def add(self, text: str, *, code: bool = False, page: int | None = None) -> None:
        """Append a block under the current heading path."""
        if not text.strip():
            return
        self.blocks.append(Block(text, self.path(), code, page))
        for section in self._stack:
            section.used = True

    def path(self) -> tuple[str, ...]:
        """The current heading path."""
        return tuple(section.text for section in self._stack)

    def finish(self) -> list[Block]:
        """Close open sections and return the blocks."""
        while self._stack:
            self._close()
        return self.blocks

    def _close(self) -> None:
        # A heading with nothing under it would otherwise vanish from the output.
        section = self._stack[-1]
        if not section.used:
            self.add(section.text)
        self._stack.pop()


# ---------------------------------------------------------------------------- markdown


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
        body.append(_strip_indent(lines[i], indent))
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
    return _collapse_blank_lines(fenced(code, info)), i + 1


def _read_highlight(lines: list[str], start: int) -> tuple[str, int]:
    """A Liquid {% highlight lang %} block as a fenced code block, and the next index."""
    words = lines[start].strip().strip("{}%- ").split()
    lang = words[1] if len(words) > 1 else ""
    body: list[str] = []
    i = start + 1
    while i < len(lines) and "endhighlight" not in lines[i]:
        body.append(lines[i])
        i += 1
    code = "\n".join(_dedent(body)).strip("\n")
    if not code.strip():
        return "", i + 1
    return _collapse_blank_lines(fenced(code, lang)), i + 1


def _read_indented(lines: list[str], start: int) -> tuple[str, int]:
    """An indented Markdown code block as a fenced code block, and the next index."""
    i = start
    body: list[str] = []
    while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) >= 4):
        body.append(lines[i])
        i += 1
    while body and not body[-1].strip():
        body.pop()
        i -= 1
    code = "\n".join(_dedent(body))
    return _collapse_blank_lines(fenced(code, "")), i


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
        elif not mdx and prev_blank and not in_list and stripped and _indent(line) >= 4:
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
            elif stripped and prev_blank and _indent(line) == 0:
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
_HTML_TAGS = _words(
    "a abbr address article aside b big blockquote body br caption center cite code col "
    "colgroup dd del details dfn div dl dt em figcaption figure font footer h1 h2 h3 h4 "
    "h5 h6 head header hr html i iframe img input ins kbd label li main mark nav ol p "
    "picture pre q s samp section small source span strike strong sub summary sup table "
    "tbody td tfoot th thead time tr tt u ul var video wbr"
)
_BLOCK_TAGS = _words(
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
        limit = min(len(text), start + _MAX_TAG_CHARS)
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
    if not mdx and _indent(line) > 3:
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


class _MarkdownReader:
    """Turns Markdown or MDX text into blocks under an outline."""

    def __init__(self, outline: _Outline, *, mdx: bool, liquid: bool) -> None:
        self.outline = outline
        self.mdx = mdx
        self.liquid = liquid

    def feed(self, text: str) -> None:
        """Parse one piece of Markdown (a whole file or a notebook cell)."""
        for segment in _segments(text.split("\n"), mdx=self.mdx, liquid=self.liquid):
            if segment.kind == "code":
                self.outline.add(segment.text, code=True)
            elif segment.kind == "html":
                _HtmlReader(self.outline, markdown=True).read(segment.text)
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
            elif para and _is_setext_underline(stripped) and _indent(line) <= 3:
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
        lines = _dedent(para)
        para.clear()
        text = "\n".join(lines)
        if not _has_words(text):
            return
        if len(text) > _TABLE_BLOCK_CHARS and len(lines) > 3 and all(map(_is_table_row, lines)):
            for part in _table_blocks(lines[2:], lines[:2]):
                self.outline.add(part)
        else:
            self.outline.add(text)


def _parse_markdown(text: str, source: str, *, mdx: bool, liquid: bool) -> tuple[str, list[Block]]:
    """Markdown or MDX: front matter title, heading paths, code fences."""
    lines = _normalise(text).split("\n")
    meta, body = _front_matter(lines)
    title = meta.get("displayTitle") or meta.get("title") or None
    outline = _Outline(title)
    _MarkdownReader(outline, mdx=mdx, liquid=liquid).feed("\n".join(lines[body:]))
    blocks = outline.finish()
    return outline.title or _title_from_filename(source), blocks


def _parse_md(text: str, source: str) -> tuple[str, list[Block]]:
    """Plain (Jekyll-flavoured) Markdown."""
    return _parse_markdown(text, source, mdx=False, liquid=True)


def _parse_mdx(text: str, source: str) -> tuple[str, list[Block]]:
    """MDX (Docusaurus / Astro Starlight)."""
    return _parse_markdown(text, source, mdx=True, liquid=False)


# ---------------------------------------------------------------------------- plain text


def _parse_txt(text: str, source: str) -> tuple[str, list[Block]]:
    """Plain text: blank-line separated paragraphs."""
    outline = _Outline(_title_from_filename(source))
    for para in re.split(r"\n[ \t]*\n", _normalise(text)):
        if _has_words(para):
            outline.add("\n".join(_dedent(para.strip("\n").split("\n"))))
    return outline.title or source, outline.finish()


# ---------------------------------------------------------------------------- reST

_RST_ADORNMENT = "=-~^\"'`#*+_"
_RST_SKIP_DIRECTIVES = _words(
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
    return _indent(line) > indent and stripped.startswith(":") and stripped.count(":") >= 2


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
        self.outline = _Outline(None, title_level=99)
        self.styles: list[tuple[str, bool]] = []
        self.para: list[str] = []
        self.literal_indent = -1

    def read(self) -> list[Block]:
        """Parse all lines into blocks."""
        i = 0
        while i < len(self.lines):
            i = self._step(i)
        self._flush()
        return self.outline.finish()

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
            if _indent(line) > indent:
                return self._literal(i, indent, "")
        if not self.para and _is_adornment(stripped) and i + 2 < len(lines):
            title, under = lines[i + 1].strip(), lines[i + 2].strip()
            if title and under == stripped and not _is_adornment(title):
                self._section(title, (stripped[0], True))
                return i + 3
        if (
            not self.para
            and _indent(line) == 0
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
            not self.lines[i].strip() or _indent(self.lines[i]) > indent
        ):
            i += 1
        return i

    def _explicit(self, i: int) -> int:
        """A directive, comment, target or footnote starting at line i."""
        line = self.lines[i]
        indent = _indent(line)
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
        code = "\n".join(_dedent(body)).strip("\n")
        if code.strip():
            self.outline.add(_collapse_blank_lines(fenced(code, lang)), code=True)
        return end

    def _flush(self) -> None:
        """Emit the pending paragraph, noting a trailing '::' literal-block marker."""
        if not self.para:
            return
        lines = _dedent(self.para)
        indent = _indent(self.para[0])
        self.para = []
        text = "\n".join(lines).rstrip()
        if text.endswith("::"):
            self.literal_indent = indent
            text = (
                text[:-2].rstrip() if text[:-2].endswith((" ", "\n")) or text == "::" else text[:-1]
            )
        text = _rst_inline(text)
        if _has_words(text):
            self.outline.add(text)


def _parse_rst(text: str, source: str) -> tuple[str, list[Block]]:
    """reStructuredText: adorned section titles, code-block directives, literal blocks."""
    reader = _RstReader(_normalise(text).split("\n"))
    blocks = reader.read()
    return reader.outline.title or _title_from_filename(source), blocks


# ---------------------------------------------------------------------------- HTML

_HTML_SKIP = frozenset({"script", "style", "noscript", "template", "svg"})
_HTML_VOID = _words("area base br col embed hr img input link meta source track wbr")
_HTML_FLOW = _words(
    "address article aside blockquote body caption center dd details div dl dt fieldset "
    "figcaption figure footer form header hr main nav p section summary"
)
_WHITESPACE = re.compile(r"\s+")


class _HtmlReader(HTMLParser):
    """Turns HTML into blocks: headings build the path, <pre> gives code, tables give rows."""

    def __init__(self, outline: _Outline, *, markdown: bool = False) -> None:
        super().__init__(convert_charrefs=True)
        self.outline = outline
        self.markdown = markdown  # HTML inside Markdown may hold Markdown links
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
        """The collected text, whitespace-squashed (and de-linked inside Markdown)."""
        text = _squash("".join(self._buf))
        return _markdown_links(text) if self.markdown else text

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
            self.outline.add(" | ".join(cells))
            return
        header, rows = self._tables[-1]
        (header if self._row_is_header and not rows else rows).append(" | ".join(cells))

    def _end_table(self) -> None:
        header, rows = self._tables.pop()
        if rows or header:
            for text in _table_blocks(rows, header):
                self.outline.add(text)

    def _end_pre(self) -> None:
        code = "".join(self._pre_buf).strip("\n")
        self._pre_buf = []
        lang, self._pre_lang = self._pre_lang, ""
        lines = _dedent([line.rstrip() for line in code.split("\n")])
        if any(line.strip() for line in lines):
            self.outline.add(_collapse_blank_lines(fenced("\n".join(lines), lang)), code=True)

    def _flush(self) -> None:
        """Emit the pending text as a block."""
        if self._cells is not None:
            return
        text = self._text_of_buffer()
        self._buf = []
        if _has_words(text):
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
            broken = gt > nxt or gt == len(markup) or gt - start > _MAX_TAG_CHARS
        if broken:
            out.append(markup[pos:start])
            out.append("&lt;")
            pos = start + 1
        start = nxt if nxt < len(markup) else -1
    out.append(markup[pos:])
    return "".join(out)


def _markdown_links(text: str) -> str:
    """Markdown images and links reduced to their text, inline code left alone."""
    text, spans = _protect_code_spans(text)
    text = _REF_LINK.sub(r"\1", _LINK.sub(r"\1", _IMAGE.sub(r"\1", text)))
    return _PLACEHOLDER.sub(lambda m: spans[int(m.group(1))], text)


def _squash(text: str) -> str:
    """Collapse whitespace within lines and drop empty lines."""
    lines = (" ".join(line.split()) for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def _code_lang(attrs: list[tuple[str, str | None]]) -> str:
    """The language named by a 'language-xxx' / 'lang-xxx' class, if any."""
    for name, value in attrs:
        if name == "class" and value:
            for cls in value.split():
                for prefix in ("language-", "lang-", "highlight-source-"):
                    if cls.startswith(prefix):
                        return cls[len(prefix) :]
    return ""


def _parse_html(text: str, source: str) -> tuple[str, list[Block]]:
    """HTML: <title> or first <h1> for the title, headings for the path."""
    outline = _Outline(None)
    reader = _HtmlReader(outline)
    markup = _normalise(text)
    head_end = markup.lower().find("</title>")
    if head_end >= 0:  # learn the <title> first so a matching <h1> is not repeated
        probe = _HtmlReader(_Outline(""))
        probe.read(markup[: head_end + len("</title>")])
        outline.title = _squash("".join(probe.page_title or [])) or None
    reader.read(markup)
    blocks = outline.finish()
    return outline.title or _title_from_filename(source), blocks


# ---------------------------------------------------------------------------- notebooks


def _parse_ipynb(text: str, source: str) -> tuple[str, list[Block]]:
    """Jupyter notebooks: Markdown cells parsed as Markdown, code cells as code blocks."""
    try:
        notebook = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceError(
            f"{source}: malformed notebook JSON (line {exc.lineno}: {exc.msg}); "
            "re-save it from Jupyter"
        ) from None
    if not isinstance(notebook, dict):
        raise SourceError(f"{source}: not a Jupyter notebook (top level is not an object)")
    cells = notebook.get("cells")
    worksheets = notebook.get("worksheets")
    if (
        cells is None
        and isinstance(worksheets, list)
        and worksheets
        and isinstance(worksheets[0], dict)
    ):
        cells = worksheets[0].get("cells")  # nbformat 3
    if not isinstance(cells, list):
        raise SourceError(f"{source}: notebook has no 'cells' list; not a Jupyter notebook?")
    lang = _notebook_language(notebook.get("metadata"))
    outline = _Outline(None, title_level=6)
    reader = _MarkdownReader(outline, mdx=False, liquid=False)
    for number, cell in enumerate(cells, 1):
        kind, body = _cell(cell, source, number)
        if kind == "markdown":
            reader.feed(_normalise(body))
        elif kind == "code" and body.strip():
            outline.add(
                fenced(_collapse_blank_lines(_normalise(body).strip("\n")), lang), code=True
            )
        elif kind == "raw" and _has_words(body):
            outline.add(_normalise(body).strip())
    blocks = outline.finish()
    return outline.title or _title_from_filename(source), blocks


def _cell(cell: Any, source: str, number: int) -> tuple[str, str]:
    """(cell type, source text) of a notebook cell."""
    if not isinstance(cell, dict):
        raise SourceError(
            f"{source}: notebook cell {number} is not an object; re-save it from Jupyter"
        )
    body = cell.get("source", cell.get("input", ""))
    if isinstance(body, list) and all(isinstance(part, str) for part in body):
        body = "".join(body)
    if not isinstance(body, str):
        raise SourceError(
            f"{source}: notebook cell {number} has no text source; re-save it from Jupyter"
        )
    return str(cell.get("cell_type", "")), body


def _notebook_language(metadata: Any) -> str:
    """The notebook's programming language (default python)."""
    if isinstance(metadata, dict):
        for key, field in (("kernelspec", "language"), ("language_info", "name")):
            section = metadata.get(key)
            if (
                isinstance(section, dict)
                and isinstance(section.get(field), str)
                and section[field].strip()
            ):
                return str(section[field]).strip().lower()
    return "python"


# ---------------------------------------------------------------------------- PDF

_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u00ad\ufeff\x00"), None)
_PDF_MARKER = re.compile(r"(?:[•▪●◦‣∙·\-–]|\(?[0-9]{1,3}[.)]|\(?[a-z][.)]|\(?[ivxlc]{1,5}[.)])$")
_PLACEHOLDER_TITLES = (
    "untitled",
    "title of your",
    "powerpoint presentation",
    "microsoft word",
    "slide 1",
)


def _parse_pdf(data: bytes, source: str) -> tuple[str, list[Block]]:
    """PDF via pypdf: one or more blocks per page, tagged with the 1-based page number."""
    if b"%PDF-" not in data[:1024]:
        raise SourceError(
            f"{source}: not a PDF file (no %PDF header); fix its extension or exclude it"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reader = _open_pdf(data, source)
        pages = _pdf_pages(reader, source)
        title = _pdf_title(reader)
    outline = _Outline(title or _title_from_filename(source))
    for number, text in pages:
        for para in _pdf_paragraphs(text, number):
            outline.add(para, page=number)
    if not outline.blocks:
        raise SourceError(f"{source}: PDF has no text layer (scanned images?); run OCR on it first")
    return outline.title or source, outline.finish()


def _open_pdf(data: bytes, source: str) -> Any:
    """A PdfReader, decrypted with the empty password when needed."""
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        encrypted = reader.is_encrypted
    except Exception as exc:
        raise SourceError(
            f"{source}: corrupt PDF ({_one_line(exc)}); re-export or repair it"
        ) from exc
    if encrypted:
        try:
            opened = reader.decrypt("")
        except Exception as exc:
            raise SourceError(
                f"{source}: encrypted PDF that cannot be opened ({_one_line(exc)}); "
                "save a decrypted copy"
            ) from exc
        if not opened:
            raise SourceError(
                f"{source}: encrypted PDF that needs a password; save a decrypted copy"
            )
    return reader


def _pdf_pages(reader: Any, source: str) -> list[tuple[int, str]]:
    """(page number, text) for each page; unreadable pages are skipped."""
    try:
        pages = list(reader.pages)
    except Exception as exc:
        raise SourceError(
            f"{source}: corrupt PDF ({_one_line(exc)}); re-export or repair it"
        ) from exc
    texts: list[tuple[int, str]] = []
    for number, page in enumerate(pages, 1):
        try:
            text = page.extract_text() or ""
        except Exception:  # noqa: BLE001 - one damaged page should not lose the whole document
            continue
        texts.append((number, text))
    return texts


def _pdf_title(reader: Any) -> str | None:
    """The document-info title when it looks like a real title."""
    try:
        title = reader.metadata.title if reader.metadata else None
    except Exception:  # noqa: BLE001 - a broken info dictionary only costs the title
        return None
    if not isinstance(title, str):
        return None
    title = " ".join(title.translate(_INVISIBLE).split())
    lowered = title.lower()
    if len(title) < 3 or " " not in title or lowered.startswith(_PLACEHOLDER_TITLES):
        return None
    if re.search(r"\.(?:pdf|docx?|pptx?|key|odt|odp|tex|indd)$", lowered):
        return None
    return title


def _pdf_paragraphs(text: str, number: int) -> Iterator[str]:
    """Regroup extracted page lines into paragraphs, dropping a footer page number."""
    lines = [" ".join(line.translate(_INVISIBLE).split()) for line in _normalise(text).split("\n")]
    lines = [line for line in lines if line]
    if len(lines) > 1 and lines[-1] == str(number):
        lines.pop()
    para: list[str] = []
    for line in lines:
        if para and _PDF_MARKER.fullmatch(para[-1]):
            para[-1] = f"{para[-1]} {line}"  # a list marker on its own line belongs to the next one
            continue
        if para and _pdf_break(para[-1], line):
            yield "\n".join(para)
            para = []
        para.append(line)
    if para and _has_words("".join(para)):
        yield "\n".join(para)


def _pdf_break(previous: str, line: str) -> bool:
    """Whether line starts a new paragraph: the previous line ended a sentence."""
    starts = (
        line[:1].isupper()
        or line[:1].isdigit()
        or line[:1] in "•▪●◦‣"
        or bool(_PDF_MARKER.fullmatch(line))
    )
    return previous[-1:] in ".!?:;" and starts


_PARSERS: dict[str, Callable[[str, str], tuple[str, list[Block]]]] = {
    "md": _parse_md,
    "mdx": _parse_mdx,
    "rst": _parse_rst,
    "txt": _parse_txt,
    "html": _parse_html,
    "ipynb": _parse_ipynb,
}
