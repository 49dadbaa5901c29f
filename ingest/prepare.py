"""One file's work before embedding: load it, stamp its metadata, cut it into chunks."""

from __future__ import annotations

from dataclasses import dataclass

from ingest.chunking import Counter, chunk_document
from ingest.items import Item
from ingest.sources import Source
from rag.errors import LakesageError
from rag.models import Chunk


@dataclass(frozen=True)
class FileTask:
    """An item with what its source says about it, small enough to ship to another process."""

    origin: str
    item: Item
    product: str
    version: str | None
    url: str | None
    reference: bool = False

    @classmethod
    def of(cls, source: Source, item: Item) -> FileTask:
        """The task for one item of a resolved source."""
        return cls(
            origin=source.origin,
            item=item,
            product=source.product_of(item.source),
            version=source.version,
            url=source.url_of(item.source),
            reference=source.is_reference(item.source),
        )


def prepare(task: FileTask, count: Counter, max_tokens: int) -> list[Chunk] | str:
    """Load and chunk one file; a failure is returned as its one-line reason."""
    try:
        doc = task.item.load()
        doc.product = task.product
        doc.version = doc.version or task.version
        doc.url = doc.url or task.url
        doc.reference = doc.reference or task.reference
        chunks = chunk_document(doc, task.origin, count, max_tokens)
    except LakesageError as exc:
        return str(exc)
    return chunks or f"{task.item.source}: no text to index after parsing"
