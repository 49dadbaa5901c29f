"""Document -> chunks: heading-aware, sized to what the embedder reads, code blocks kept whole."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Sequence
from itertools import groupby

from ingest.fence import FENCED
from rag.models import Block, Chunk, Document

Counter = Callable[[Sequence[str]], list[int]]

# Separators tried in order when a block is too long: paragraphs, lines, sentences, words.
SEPARATORS = ("\n\n", "\n", r"(?<=[.!?;:])\s+", r"\s+")
MAX_PREFIX_SHARE = 0.25
# A notebook cell is a unit of its own, but a cell this small (a share of the budget) joins
# its small neighbours: a one-line heading or a two-line cell is a poor passage alone.
SMALL_CELL_SHARE = 1 / 3
# A chunk is charged at least one word piece per this many characters: a run the tokenizer
# reads as one [UNK] piece (a 1 MB word) must not become a 1 MB chunk.
CHARS_PER_PIECE = 16
JOIN = "\n\n"
# An API entry is embedded by its head: its name, signature and summary. On the default index
# (14k entries, 77% of the word pieces) the dev and our questions ranked and were answered
# exactly as with whole entries embedded, and a first run embeds about 60% of the word pieces
# it did, in 0.75x the time. The whole entry is still keyword-searched and quoted.
ENTRY_EMBED_TOKENS = 64


def file_id(origin: str, source: str) -> str:
    """A short stable key for one file of one source."""
    return hashlib.sha1(f"{origin}\0{source}".encode()).hexdigest()[:20]


def chunk_id(origin: str, source: str, ordinal: int) -> str:
    """A deterministic id, so re-running after a crash overwrites rather than duplicates."""
    return f"{file_id(origin, source)}-{ordinal:05d}"


def content_hash(text: str) -> str:
    """Hash of the text that gets embedded: equal hashes share one vector."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def breadcrumb(title: str, headings: Sequence[str]) -> str:
    """The heading path a reader sees: "Title > Section > Subsection"."""
    return " > ".join(h for h in (title, *headings) if h)


def chunk_document(doc: Document, origin: str, count: Counter, max_tokens: int) -> list[Chunk]:
    """Split a document into chunks whose embedded text never exceeds max_tokens word pieces.

    An API entry's blocks (those with a symbol) are chunked apart from any other entry's, and
    titled with the symbol alone: its heading path is the public name; it is embedded by its
    first ENTRY_EMBED_TOKENS word pieces. A notebook's cells are
    chunked apart, but small neighbours share a chunk (see _cell_bodies).
    """
    count = _char_floor(count)
    chunks: list[Chunk] = []
    sections = groupby(doc.blocks, key=lambda b: (b.headings, b.page, b.symbol))
    for (headings, page, symbol), grouped in sections:
        blocks = list(grouped)
        entry = blocks[0]  # an API entry's version notes are on each of its blocks
        title, headings = (symbol, ()) if symbol else (doc.title, headings)
        prefix = _fit_prefix(breadcrumb(title, headings), count, max_tokens)
        budget = max_tokens - count([prefix + JOIN])[0]
        for body, (cell, last_cell) in _cell_bodies(blocks, count, budget):
            embed_text = f"{prefix}{JOIN}{body}" if prefix else body
            if symbol:  # its first piece: the whole text when it fits (counted once)
                embed_text = _hard_split(embed_text, count, ENTRY_EMBED_TOKENS)[0]
            ordinal = len(chunks)
            chunks.append(
                Chunk(
                    id=chunk_id(origin, doc.source, ordinal),
                    text=body,
                    embed_text=embed_text,
                    source=doc.source,
                    origin=origin,
                    title=title,
                    headings=headings,
                    product=doc.product,
                    ordinal=ordinal,
                    content_hash=content_hash(embed_text),
                    version=doc.version,
                    url=doc.url,
                    page=page,
                    symbol=symbol,
                    reference=doc.reference,
                    cell=cell,
                    last_cell=last_cell if last_cell != cell else None,
                    since=entry.since,
                    deprecated=entry.deprecated,
                    deprecated_use=entry.deprecated_use,
                )
            )
    return chunks


def _char_floor(count: Counter) -> Counter:
    """The counter, but never less than one piece per CHARS_PER_PIECE characters."""

    def counted(texts: Sequence[str]) -> list[int]:
        return [max(n, len(t) // CHARS_PER_PIECE) for t, n in zip(texts, count(texts), strict=True)]

    return counted


def _fit_prefix(prefix: str, count: Counter, max_tokens: int) -> str:
    """Shorten a pathological heading path so the body keeps most of the budget."""
    limit = int(max_tokens * MAX_PREFIX_SHARE)
    if count([prefix])[0] <= limit:
        return prefix
    return _hard_split(prefix, count, limit)[0]


def _cell_bodies(
    blocks: list[Block], count: Counter, budget: int
) -> list[tuple[str, tuple[int | None, int | None]]]:
    """A section's bodies with the (first, last) cell each comes from: every cell packed on its
    own, then runs of small cells joined while they fit the budget."""
    if all(block.cell is None for block in blocks):
        return [(body, (None, None)) for body in _pack(blocks, count, budget)]
    small = int(budget * SMALL_CELL_SHARE)
    out: list[tuple[str, tuple[int | None, int | None]]] = []
    joinable = False  # whether the last body holds small cells only
    for cell, run in groupby(blocks, key=lambda b: b.cell):
        bodies = _pack(list(run), count, budget)
        if len(bodies) != 1 or cell is None or count(bodies)[0] > small:
            out.extend((body, (cell, cell)) for body in bodies)
            joinable = False
            continue
        if joinable:
            last, (first, _) = out[-1]
            joined = f"{last}{JOIN}{bodies[0]}"
            if count([joined])[0] <= budget:
                out[-1] = (joined, (first, cell))
                continue
        out.append((bodies[0], (cell, cell)))
        joinable = True
    return out


def _pack(blocks: list[Block], count: Counter, budget: int) -> list[str]:
    """Pack a section's blocks into bodies of at most budget word pieces, evenly sized."""
    units: list[str] = []
    for block in blocks:
        text = block.text.strip()
        if text and block.table_header:
            units.extend(_split_table(text, block.table_header, count, budget))
        elif text:
            units.extend(_split_to_fit(text, count, budget, code=block.code))
    if not units:
        return []
    sizes = [n - 2 for n in count(units)]  # without [CLS]/[SEP]
    total = sum(sizes) + 2 * (len(units) - 1)
    target = min(budget, math.ceil(total / math.ceil(total / budget)) + 16)
    bodies: list[str] = []
    current: list[str] = []
    used = 0
    for unit, size in zip(units, sizes, strict=True):
        extra = size + (2 if current else 0)
        if current and used + extra > target:
            bodies.append(JOIN.join(current))
            current, used = [], 0
            extra = size
        current.append(unit)
        used += extra
    if current:
        bodies.append(JOIN.join(current))
    return _enforce(bodies, count, budget)


def _enforce(bodies: list[str], count: Counter, budget: int) -> list[str]:
    """Re-split any body whose exact count overshoots (joins can add word pieces)."""
    out: list[str] = []
    for body, n in zip(bodies, count(bodies), strict=True):
        out.extend([body] if n <= budget else _split_to_fit(body, count, budget - 4, code=False))
    return out


def _split_to_fit(text: str, count: Counter, budget: int, *, code: bool) -> list[str]:
    """Split text at the coarsest separator that makes every piece fit the budget."""
    if count([text])[0] <= budget:
        return [text]
    if code and (fence := FENCED.match(text)):
        # A long code block is split at line ends and each piece re-fenced, so it stays code.
        ticks, inner = fence["ticks"], fence["code"]
        opener = ticks + fence["info"]
        inner_budget = budget - count([f"{opener}\n\n{ticks}"])[0] + 2
        return [
            f"{opener}\n{piece}\n{ticks}"
            for piece in _split_to_fit(inner, count, inner_budget, code=False)
        ]
    pieces: list[str] | None = None
    for sep in SEPARATORS[1:] if code else SEPARATORS:
        pieces = _merge_parts(re.split(f"({sep})", text), count, budget)
        if pieces is not None:
            break
    if pieces is None:
        return _hard_split(text, count, budget)
    sizes = count(pieces)
    if all(n <= budget for n in sizes):
        return pieces
    out: list[str] = []
    for piece, n in zip(pieces, sizes, strict=True):
        out.extend([piece] if n <= budget else _hard_split(piece, count, budget))
    return out


def _split_table(text: str, header_lines: int, count: Counter, budget: int) -> list[str]:
    """A table cut between its rows when it does not fit, each piece under the table's header
    lines, so that every chunk of it says what its columns are."""
    if count([text])[0] <= budget:
        return [text]
    lines = text.split("\n")
    head, rows = "\n".join(lines[:header_lines]), "\n".join(lines[header_lines:])
    if not rows.strip():
        return _split_to_fit(text, count, budget, code=False)
    room = budget - count([head])[0]  # what the head leaves, two word pieces to spare
    return [f"{head}\n{piece}" for piece in _split_to_fit(rows, count, room, code=False)]


def _merge_parts(parts: list[str], count: Counter, budget: int) -> list[str] | None:
    """Greedily re-join split parts (separators kept) up to the budget; None if a part alone is too big."""
    texts = parts[0::2]
    if len(texts) == 1:
        return None  # the separator does not occur, and the whole text is known not to fit
    seps = [*parts[1::2], ""]
    sizes = count(texts)
    if any(n > budget for n in sizes):
        return None
    pieces: list[str] = []
    current = ""
    used = 0
    for text, sep, size in zip(texts, seps, sizes, strict=True):
        size -= 2
        if current and used + size + 2 > budget:
            pieces.append(current.strip())
            current, used = "", 0
        current += text + sep
        used += size + 1
    if current.strip():
        pieces.append(current.strip())
    return [p for p in pieces if p]


def _hard_split(text: str, count: Counter, budget: int) -> list[str]:
    """Cut text with no usable separator into pieces that fit, by binary search on length."""
    pieces: list[str] = []
    rest = text
    # Longer than this never fits (see _char_floor): searching only this far keeps it linear.
    window = (budget + 1) * CHARS_PER_PIECE
    while rest:
        if len(rest) <= window and count([rest])[0] <= budget:
            pieces.append(rest)
            break
        lo, hi = 1, min(len(rest), window)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if count([rest[:mid]])[0] <= budget:
                lo = mid
            else:
                hi = mid - 1
        pieces.append(rest[:lo])
        rest = rest[lo:]
    return pieces
