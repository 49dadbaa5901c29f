"""PDF to blocks with pypdf: paragraphs regrouped from each page's lines, tagged with the page."""

from __future__ import annotations

import io
import logging
import re
import warnings
from collections.abc import Iterator
from itertools import pairwise
from typing import Any

from ingest.loaders.decoding import normalise, one_line
from ingest.loaders.outline import Outline, has_words, title_from_filename
from rag.errors import SourceError
from rag.models import Document

# pypdf reports recoverable damage (missing fontTools, odd xrefs) through logging; keep it
# off stderr even when another library has configured the root logger.
_PYPDF_LOG = logging.getLogger("pypdf")
_PYPDF_LOG.addHandler(logging.NullHandler())
_PYPDF_LOG.propagate = False

_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u00ad\ufeff\x00"), None)
_PDF_MARKER = re.compile(r"(?:[•▪●◦‣∙·\-–]|\(?[0-9]{1,3}[.)]|\(?[a-z][.)]|\(?[ivxlc]{1,5}[.)])$")
# A gutter between a page's columns: at least GUTTER_WIDTH character columns of pypdf's layout
# text that at most GUTTER_CROSSINGS lines cross (a footer may run under two columns), and no
# more than one in ten of the page's lines.
GUTTER_WIDTH = 3
GUTTER_CROSSINGS = 2
MIN_COLUMN_CHARS = 12
MIN_COLUMN_LINES = 3
_PLACEHOLDER_TITLES = (
    "untitled",
    "title of your",
    "powerpoint presentation",
    "microsoft word",
    "slide 1",
)


def parse_pdf(data: bytes, source: str) -> Document:
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
    outline = Outline(title or title_from_filename(source))
    for number, text in pages:
        for para in _pdf_paragraphs(text, number):
            outline.add(para, page=number)
    if not outline.blocks:
        raise SourceError(f"{source}: PDF has no text layer (scanned images?); run OCR on it first")
    return outline.document(source, "pdf")


def _open_pdf(data: bytes, source: str) -> Any:
    """A PdfReader, decrypted with the empty password when needed."""
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        encrypted = reader.is_encrypted
    except Exception as exc:
        raise SourceError(
            f"{source}: corrupt PDF ({one_line(exc)}); re-export or repair it"
        ) from exc
    if encrypted:
        try:
            opened = reader.decrypt("")
        except Exception as exc:
            raise SourceError(
                f"{source}: encrypted PDF that cannot be opened ({one_line(exc)}); "
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
            f"{source}: corrupt PDF ({one_line(exc)}); re-export or repair it"
        ) from exc
    texts: list[tuple[int, str]] = []
    for number, page in enumerate(pages, 1):
        try:
            text = _page_text(page)
        except Exception:  # noqa: BLE001 - one damaged page should not lose the whole document
            continue
        texts.append((number, text))
    return texts


def _page_text(page: Any) -> str:
    """A page's text in reading order. On a page set in columns (a cheat sheet's drawing order
    puts its labels after the code they head), pypdf's layout text (the page as a grid of
    characters) is read column by column, between the lines that run across the columns
    (titles, footers); any other page is extracted plainly."""
    try:
        layout = page.extract_text(extraction_mode="layout") or ""
    except Exception:  # noqa: BLE001 - layout mode is stricter about odd fonts
        layout = ""
    lines = [line.rstrip() for line in layout.split("\n")]
    gutters = _gutters(lines)
    if not gutters:
        return page.extract_text() or ""
    out: list[str] = []
    band: list[str] = []
    for line in lines:
        if any(0 < cut < len(line) and " " not in line[cut - 1 : cut + 1] for _, cut in gutters):
            out += [*_columns(band, gutters), line.strip()]  # it runs across: a band ends
            band = []
        else:
            band.append(line)
    return "\n\n".join(part for part in [*out, *_columns(band, gutters)] if part.strip())


def _columns(lines: list[str], gutters: list[tuple[int, int]]) -> list[str]:
    """Each column of a band of lines, top to bottom."""
    cuts = [0, *(end for _, end in gutters), max(map(len, lines), default=0)]
    return ["\n".join(line[start:end].rstrip() for line in lines) for start, end in pairwise(cuts)]


def _gutters(lines: list[str]) -> list[tuple[int, int]]:
    """The runs of at least GUTTER_WIDTH character columns that few lines cross (see
    GUTTER_CROSSINGS), between columns where MIN_COLUMN_LINES lines hold MIN_COLUMN_CHARS
    characters or more (a list's markers are no column), each ending just after its last
    column no text crosses."""
    width = max(map(len, lines), default=0)
    limit = min(GUTTER_CROSSINGS, sum(1 for line in lines if line.strip()) // 10)
    crossed = [0] * width
    for line in lines:
        for i, char in enumerate(line):
            if char != " ":
                crossed[i] += 1
    runs: list[tuple[int, int]] = []
    start = None
    seen_text = False
    for i, count in enumerate(crossed):
        if count <= limit:
            start = i if start is None else start
            continue
        if seen_text and start is not None and i - start >= GUTTER_WIDTH:
            clear = [k for k in range(start, i) if not crossed[k]]
            runs.append((start, clear[-1] + 1 if clear else i))
        seen_text, start = True, None
    bounds = [0, *(end for _, end in runs), width]
    wide = [
        sum(len(line[a:b].strip()) >= MIN_COLUMN_CHARS for line in lines) >= MIN_COLUMN_LINES
        for a, b in pairwise(bounds)
    ]
    return [run for k, run in enumerate(runs) if wide[k] and wide[k + 1]]


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
    lines = [" ".join(line.translate(_INVISIBLE).split()) for line in normalise(text).split("\n")]
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
    if para and has_words("".join(para)):
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
