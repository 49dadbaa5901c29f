"""Dataclasses shared by ingestion and retrieval: documents, chunks, hits, answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# How products are named to readers.
PRODUCT_NAMES = {"spark": "Spark", "delta": "Delta Lake", "mlflow": "MLflow", "team": "team notes"}
# The `deprecated` metadata of an API entry whose docs do not say since which version.
DEPRECATED_UNKNOWN = "yes"


@dataclass(frozen=True)
class Block:
    """A run of text under one heading path: a paragraph, a list, a table or a code block."""

    text: str
    headings: tuple[str, ...] = ()
    code: bool = False
    page: int | None = None
    symbol: str | None = None  # the public name of the API entry the block belongs to
    cell: int | None = None  # the notebook cell the block comes from (1 for the first)
    since: str | None = None  # the version the entry came in
    deprecated: str | None = None  # the version the entry is deprecated since, or "yes"
    deprecated_use: str | None = None  # the replacement its docs name
    table_header: int = 0  # of a table: how many header lines it starts with


@dataclass
class Document:
    """One parsed source file (or API module), as ordered blocks with its metadata."""

    source: str
    title: str
    blocks: list[Block]
    product: str = "docs"
    version: str | None = None
    url: str | None = None
    format: str = "md"
    reference: bool = False  # reference material for implementers (a specification), not a guide


@dataclass(frozen=True)
class Chunk:
    """A piece of a document small enough for the embedder, with citation metadata."""

    id: str
    text: str
    embed_text: str
    source: str
    origin: str
    title: str
    headings: tuple[str, ...]
    product: str
    ordinal: int
    content_hash: str
    version: str | None = None
    url: str | None = None
    page: int | None = None
    symbol: str | None = None  # an API entry's public name, e.g. pyspark.sql.DataFrame.repartition
    reference: bool = False  # from reference material for implementers, not a guide
    cell: int | None = None  # the notebook cell of the chunk (the first, when it joins several)
    last_cell: int | None = None  # the last cell of a chunk joining small cells; None for one
    since: str | None = None  # an API entry's life cycle, as its blocks carry it
    deprecated: str | None = None
    deprecated_use: str | None = None

    @property
    def heading_path(self) -> str:
        """The title and headings joined as a breadcrumb."""
        return " > ".join(h for h in (self.title, *self.headings) if h)

    def metadata(self) -> dict[str, Any]:
        """Flat metadata as stored next to the vector (Chroma accepts no None values)."""
        meta: dict[str, Any] = {
            "source": self.source,
            "origin": self.origin,
            "title": self.title,
            "heading_path": self.heading_path,
            "product": self.product,
            "ordinal": self.ordinal,
            "hash": self.content_hash,
        }
        optional = (
            ("version", self.version),
            ("url", self.url),
            ("page", self.page),
            ("symbol", self.symbol),
            ("cell", self.cell),
            ("last_cell", self.last_cell),
            ("since", self.since),
            ("deprecated", self.deprecated),
            ("deprecated_use", self.deprecated_use),
        )
        for key, value in optional:
            if value is not None:
                meta[key] = value
        if self.reference:
            meta["reference"] = True
        return meta


@dataclass
class Hit:
    """A retrieved chunk with its score and citation metadata."""

    id: str
    text: str
    score: float
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def source(self) -> str:
        """The source path relative to the root it was ingested from."""
        return str(self.metadata.get("source", ""))

    @property
    def title(self) -> str:
        """The document title."""
        return str(self.metadata.get("title", ""))

    @property
    def heading_path(self) -> str:
        """The title and headings joined as a breadcrumb."""
        return str(self.metadata.get("heading_path", ""))

    @property
    def breadcrumb(self) -> str:
        """The heading path as a reader sees it: a heading that repeats the one before it (a
        title that is also the first heading) shows once; the title when there is no path."""
        crumbs: list[str] = []
        for part in self.heading_path.split(" > "):
            if part.strip() and (not crumbs or part.casefold() != crumbs[-1].casefold()):
                crumbs.append(part)
        return " > ".join(crumbs) or self.title

    @property
    def product(self) -> str:
        """The product the chunk belongs to (spark, delta, mlflow, team, ...)."""
        return str(self.metadata.get("product", ""))

    @property
    def url(self) -> str | None:
        """The upstream URL when known."""
        value = self.metadata.get("url")
        return str(value) if value else None

    @property
    def page(self) -> int | None:
        """The PDF page when the chunk comes from a PDF."""
        value = self.metadata.get("page")
        return int(value) if value is not None else None

    @property
    def cell(self) -> int | None:
        """The notebook cell when the chunk comes from a notebook (its first cell, of several)."""
        value = self.metadata.get("cell")
        return int(value) if value is not None else None

    @property
    def last_cell(self) -> int | None:
        """The last notebook cell of a passage that joins small cells (None for one cell)."""
        value = self.metadata.get("last_cell")
        return int(value) if value is not None else None

    @property
    def place(self) -> str:
        """Where in its file the passage is: "page 6", "cell 3", "cells 3-4", or "" for all."""
        if self.page:
            return f"page {self.page}"
        if self.cell is None:
            return ""
        last = self.last_cell
        return f"cells {self.cell}-{last}" if last is not None else f"cell {self.cell}"

    @property
    def release(self) -> str:
        """The product and version the passage documents, like "Delta Lake 4.0.0"."""
        return release_of(self.metadata)

    @property
    def citation(self) -> str:
        """One citation line: product and version, heading path, source, page or cell and link."""
        place = f"p.{self.page}" if self.page else self.place
        where = f"{self.source} {place}" if place else self.source
        link = f" <{self.url}>" if self.url else ""
        release = f"{self.release} · " if self.release else ""
        return f"{release}{self.breadcrumb} ({where}){link}"


@dataclass(frozen=True)
class Deprecation:
    """A deprecated API entry an answer cites: its name, the version it is deprecated since
    (None when its docs do not say), the replacement its docs name, and its [n]."""

    symbol: str
    since: str | None
    use: str | None
    n: int


@dataclass
class Answer:
    """An answer with the passages it was grounded in and the ones it cites."""

    question: str
    text: str
    hits: list[Hit]
    citations: list[int] = field(default_factory=list)
    refused: bool = False
    engine: str = "extractive"
    persona: str = ""
    search_query: str = ""
    framing: str = ""  # the leading persona line of text ("" when the engine wrote none)
    unknown: list[str] = field(default_factory=list)  # names asked about that the index lacks
    unverified: list[str] = field(default_factory=list)  # names answered that nothing backs
    deprecated: list[Deprecation] = field(default_factory=list)  # cited entries marked so
    releases: str = ""  # the line naming the releases it quotes ("Release: Delta Lake 4.0.0.")
    differences: list[str] = field(default_factory=list)  # where the releases of a symbol differ

    def late_lines(self, streamed: str) -> list[str]:
        """The lines an LLM's answer gets once it has cited, which its stream could not carry:
        where the releases of a cited symbol differ, then the releases it cites."""
        lines = [*self.differences, self.releases]
        return [line for line in lines if line and line not in streamed]

    @property
    def body(self) -> str:
        """The answer without its persona framing line."""
        return self.text[len(self.framing) :].strip()

    def cited_hits(self) -> list[tuple[int, Hit]]:
        """The cited passages with their [n] numbers."""
        return [(n, self.hits[n - 1]) for n in self.citations if 0 < n <= len(self.hits)]


def release_of(meta: dict[str, Any]) -> str:
    """The product and version of a chunk's metadata, like "Delta Lake 4.0.0"."""
    product = str(meta.get("product", ""))
    label = PRODUCT_NAMES.get(product, product)
    version = meta.get("version")
    return f"{label} {version}" if version else label


def is_api(meta: dict[str, Any]) -> bool:
    """Whether a chunk's metadata is an API-reference entry's (read from a Python package)."""
    return bool(meta.get("symbol")) or str(meta.get("origin", "")).startswith(("pypi:", "pkg:"))


def is_reference(meta: dict[str, Any]) -> bool:
    """Whether a chunk is reference material (an API entry, a specification) rather than a
    guide or a note: ranked apart, below the guides unless the question names it."""
    return is_api(meta) or bool(meta.get("reference"))


def symbol_matches(symbol: str, name: str) -> bool:
    """Whether an entry's symbol is the name, or ends with it at a dot (case aside):
    DataFrame.registerTempTable names pyspark.sql.DataFrame.registerTempTable."""
    s, n = symbol.lower(), name.lower()
    return bool(s) and (s == n or s.endswith(f".{n}"))


def symbol_of(meta: dict[str, Any]) -> str:
    """The dotted name an API entry documents ("" for guides); indexes built before entries
    carried a symbol spell it as their heading path."""
    if symbol := meta.get("symbol"):
        return str(symbol)
    if str(meta.get("origin", "")).startswith(("pypi:", "pkg:")):
        return str(meta.get("heading_path", "")).replace(" > ", ".")
    return ""
