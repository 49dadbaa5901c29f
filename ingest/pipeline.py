"""run(): resolve sources, then load -> chunk -> embed -> store, incrementally."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ingest.chunking import chunk_document
from ingest.lock import ingest_lock
from ingest.sources import Source, SourceSpec, read_sources_file, resolve
from rag.embedding import Embedder, make_embedder, model_identity
from rag.errors import LakesageError, ModelMismatchError
from rag.ledger import FileRecord, Ledger
from rag.models import Chunk
from rag.settings import Settings
from rag.store import ChromaStore

# Files are embedded and committed in batches of about this many chunks: bounded memory.
BATCH_CHUNKS = 512

Progress = Callable[["Report"], None]


@dataclass
class Report:
    """What a run did, for the terminal and for --json."""

    files_total: int = 0
    files_done: int = 0
    files_indexed: int = 0
    files_unchanged: int = 0
    files_removed: int = 0
    chunks_stored: int = 0
    chunks_embedded: int = 0
    chunks_reused: int = 0
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return asdict(self)


@dataclass
class _Pending:
    """Files parsed and chunked, waiting to be embedded and committed together."""

    files: list[tuple[Source, str, str, list[Chunk]]] = field(default_factory=list)
    chunks: int = 0


class Pipeline:
    """The ingest pipeline over one home folder."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self._embedder = embedder

    @property
    def embedder(self) -> Embedder:
        """The embedder, built on first use."""
        if self._embedder is None:
            self._embedder = make_embedder(self.settings)
        return self._embedder

    def default_specs(self) -> list[SourceSpec]:
        """The sources listed in the settings' sources file."""
        return read_sources_file(self.settings.sources_file)

    def run(
        self,
        specs: Sequence[SourceSpec],
        *,
        prune: bool = False,
        rebuild: bool = False,
        progress: Progress | None = None,
    ) -> Report:
        """Bring the index up to date with the given sources."""
        started = time.perf_counter()
        report = Report()
        with ingest_lock(self.settings.home):
            ledger = Ledger(self.settings.home / "ledger.sqlite")
            store = ChromaStore(self.settings)
            try:
                if rebuild:
                    store.drop()
                    with ledger.transaction():
                        for origin in ledger.origins():
                            ledger.drop(origin)
                        ledger.set_meta("model", None)
                self._check_model(ledger)
                sources = self._resolve_all(specs, report)
                report.files_total = sum(len(s.items) for s in sources)
                pending = _Pending()
                for source in sources:
                    known = ledger.files(source.origin)
                    seen = set()
                    for item in source.items:
                        seen.add(item.source)
                        record = known.get((source.origin, item.source))
                        if record is not None and record.fingerprint == item.fingerprint:
                            report.files_unchanged += 1
                            report.files_done += 1
                        else:
                            self._parse(source, item, pending, report)
                        if pending.chunks >= BATCH_CHUNKS:
                            self._commit(pending, store, ledger, report)
                            pending = _Pending()
                        if progress:
                            progress(report)
                    if prune:
                        for origin, name in known:
                            if name not in seen:
                                store.delete(origin, name)
                                ledger.drop(origin, name)
                                report.files_removed += 1
                self._commit(pending, store, ledger, report)
                report.seconds = round(time.perf_counter() - started, 3)
                ledger.set_meta(
                    "last_run",
                    {
                        "finished_at": time.time(),
                        "seconds": report.seconds,
                        "files_indexed": report.files_indexed,
                        "chunks_embedded": report.chunks_embedded,
                        "failures": len(report.failures),
                    },
                )
                if progress:
                    progress(report)
            finally:
                ledger.close()
        return report

    def _check_model(self, ledger: Ledger) -> None:
        """Refuse to mix vectors of two models in one index."""
        built_with = ledger.get_meta("model")
        wanted = model_identity(self.settings)
        if built_with is None:
            ledger.set_meta("model", wanted)
        elif built_with != wanted:
            raise ModelMismatchError(
                f"the index was built with {built_with!r}, not {wanted!r}; "
                "run `ingest --rebuild` to re-embed everything with the new model"
            )

    def _resolve_all(self, specs: Sequence[SourceSpec], report: Report) -> list[Source]:
        """Resolve every source; one that cannot be reached is reported and skipped."""
        sources = []
        for spec in specs:
            try:
                sources.append(resolve(spec, self.settings))
            except LakesageError as exc:
                report.failures.append(str(exc))
        return sources

    def _parse(self, source: Source, item: Any, pending: _Pending, report: Report) -> None:
        """Load and chunk one changed file into the pending batch; failures keep old chunks."""
        try:
            doc = item.load()
            doc.product = source.product_of(item.source)
            doc.version = doc.version or source.version
            doc.url = doc.url or source.url_of(item.source)
            chunks = chunk_document(
                doc, source.origin, self.embedder.count_tokens, self._max_tokens()
            )
            if not chunks:
                raise LakesageError(f"{item.source}: no text to index after parsing")
        except LakesageError as exc:
            report.failures.append(str(exc))
            report.files_done += 1
            return
        pending.files.append((source, item.source, item.fingerprint, chunks))
        pending.chunks += len(chunks)

    def _max_tokens(self) -> int:
        """The chunk size: the setting, never more than the model reads."""
        return min(self.settings.chunk_tokens, self.embedder.max_tokens)

    def _commit(
        self, pending: _Pending, store: ChromaStore, ledger: Ledger, report: Report
    ) -> None:
        """Embed what is new in a batch, then replace each file's chunks and record it."""
        if not pending.files:
            return
        all_chunks = [c for _, _, _, chunks in pending.files for c in chunks]
        hashes = [c.content_hash for c in all_chunks]
        vectors = store.vectors_for(hashes)
        missing = {
            c.content_hash: c.embed_text for c in all_chunks if c.content_hash not in vectors
        }
        if missing:
            fresh = self.embedder.embed(list(missing.values()))
            vectors.update(zip(missing, fresh, strict=True))
        report.chunks_embedded += len(missing)
        report.chunks_reused += len(all_chunks) - len(missing)
        for source, name, fingerprint, chunks in pending.files:
            # The old chunks go only now, after the new vectors exist: a crash keeps them.
            store.delete(source.origin, name)
            store.upsert(chunks, np.stack([vectors[c.content_hash] for c in chunks]))
            ledger.put(
                FileRecord(
                    origin=source.origin,
                    source=name,
                    fingerprint=fingerprint,
                    product=chunks[0].product,
                    version=chunks[0].version,
                    chunks=len(chunks),
                    ingested_at=time.time(),
                )
            )
            report.files_indexed += 1
            report.files_done += 1
            report.chunks_stored += len(chunks)


def remove(settings: Settings, origin: str) -> int:
    """Remove every chunk and record of one source; returns the files removed."""
    with ingest_lock(settings.home):
        ledger = Ledger(settings.home / "ledger.sqlite")
        try:
            ChromaStore(settings).delete(origin)
            return ledger.drop(origin)
        finally:
            ledger.close()
