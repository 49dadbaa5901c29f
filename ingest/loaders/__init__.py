"""Source files to documents: the format by file name, decompression, and each format's parser.

One module per format (markdown, rst, html, notebook, databricks, pdf, text), each a function
from the file's text (or bytes, for PDF) to a Document; this module picks one and turns any
failure into a one-line SourceError naming the file. Code files (.py, .sql, .scala, .r) are read
only when they are Databricks notebooks, which their first line tells (is_notebook_source).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from ingest.loaders.databricks import SUFFIXES as NOTEBOOK_SUFFIXES
from ingest.loaders.databricks import is_notebook_source, parse_databricks
from ingest.loaders.decoding import decode, one_line
from ingest.loaders.html import parse_html
from ingest.loaders.markdown import parse_markdown, parse_mdx
from ingest.loaders.notebook import parse_notebook
from ingest.loaders.pdf import parse_pdf
from ingest.loaders.rst import parse_rst
from ingest.loaders.text import parse_text
from rag.errors import SourceError
from rag.models import Document

__all__ = [
    "COMPRESSED_SUFFIXES",
    "PARSER_VERSION",
    "SUPPORTED_SUFFIXES",
    "is_notebook_source",
    "is_refused",
    "is_supported",
    "load_bytes",
    "load_file",
]

# Part of every file's fingerprint: a new parser re-reads every file of an existing index (the
# vectors of chunks it makes again as they were are reused, not embedded again).
PARSER_VERSION = (
    "loaders-8 tab prose by language, one-line fences, toc placeholders, bold terms, aside titles"
)

SUPPORTED_SUFFIXES: frozenset[str] = frozenset(
    {".md", ".mdx", ".markdown", ".rst", ".txt", ".html", ".htm", ".ipynb", ".pdf"}
)

# Formats known only to be refused, each with what to do instead. Databricks publishes no
# specification of its DBC archives (zips of JSON notebooks), so they are not guessed at.
REFUSED: dict[str, str] = {
    ".dbc": "a DBC archive is Databricks' own undocumented format and is not read; "
    'export the notebooks as "Source file" instead',
}

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
    **dict.fromkeys((suffix.lstrip(".") for suffix in NOTEBOOK_SUFFIXES), "databricks"),
}

# The parsers of text formats, by canonical format name (PDF is read from its bytes).
_PARSERS: dict[str, Callable[[str, str], Document]] = {
    "md": parse_markdown,
    "mdx": parse_mdx,
    "rst": parse_rst,
    "txt": parse_text,
    "html": parse_html,
    "ipynb": parse_notebook,
    "databricks": parse_databricks,
}


def is_supported(name: str) -> bool:
    """Whether a file name is a format load_file reads, perhaps compressed (guide.md.gz); a code
    file's name alone never is (see is_notebook_source)."""
    suffixes = [s.lower() for s in PurePosixPath(name).suffixes]
    if suffixes and suffixes[-1] in COMPRESSED_SUFFIXES:
        suffixes.pop()
    return bool(suffixes) and suffixes[-1] in SUPPORTED_SUFFIXES


def is_refused(name: str) -> bool:
    """Whether a file name is of a format load_file refuses with what to do instead (.dbc)."""
    return PurePosixPath(name).suffix.lower() in REFUSED


def load_file(path: Path, source: str, *, max_bytes: int) -> Document:
    """Read a file (refusing ones over max_bytes, also once decompressed) and parse it."""
    compression = PurePosixPath(source.replace("\\", "/")).suffix.lower()
    if compression in COMPRESSED_SUFFIXES:
        inner = PurePosixPath(source.replace("\\", "/")).stem
        data = _decompress(path, source, compression, max_bytes)
        return load_bytes(data, source, fmt=PurePosixPath(inner).suffix)
    _format_of(source, None)  # a refused format (a large .dbc) is named before any size limit
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


def load_bytes(data: bytes, source: str, *, fmt: str | None = None) -> Document:
    """Parse raw bytes into a Document; fmt defaults from the source's suffix."""
    kind = _format_of(source, fmt)
    if not data:
        raise SourceError(f"{source}: empty file; add content or exclude it")
    try:
        doc = (
            parse_pdf(data, source)
            if kind == "pdf"
            else _PARSERS[kind](decode(data, source), source)
        )
    except SourceError:
        raise
    except Exception as exc:  # bad input must surface as a named, one-line error
        raise SourceError(f"{source}: cannot parse as {kind} ({one_line(exc)})") from exc
    if not doc.blocks:
        raise SourceError(f"{source}: no text found; check that the file has content")
    return doc


def _format_of(source: str, fmt: str | None) -> str:
    """The canonical format name from an explicit fmt or the source's suffix."""
    name = fmt if fmt is not None else PurePosixPath(source.replace("\\", "/")).suffix
    if reason := REFUSED.get("." + name.lower().lstrip(".")):
        raise SourceError(f"{source}: {reason}")
    kind = _FORMATS.get(name.lower().lstrip("."))
    if kind is None:
        supported = " ".join(sorted(SUPPORTED_SUFFIXES))
        raise SourceError(f"{source}: unsupported format {name!r}; supported: {supported}")
    return kind


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
        raise SourceError(f"{source}: cannot decompress ({one_line(exc)})") from exc
    except _DECOMPRESS_ERRORS as exc:
        raise SourceError(f"{source}: cannot decompress ({one_line(exc)})") from exc
    if len(data) > max_bytes:
        raise SourceError(
            f"{source}: expands to more than the {max_bytes}-byte file limit "
            "(a compression bomb?); refused"
        )
    return data
