"""run(): resolve sources, then load -> chunk -> embed -> store, incrementally."""

from __future__ import annotations

import contextlib
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from queue import Empty, Queue
from typing import Any, TypeVar

import numpy as np

from ingest.items import Item
from ingest.lock import ingest_lock
from ingest.prepare import FileTask, prepare
from ingest.sources import Source, SourceSpec, read_sources_file, resolve
from rag.embedding import Embedder, make_embedder, model_identity, settings_that_built
from rag.errors import LakesageError, ModelMismatchError
from rag.ledger import FileRecord, Ledger
from rag.models import Chunk
from rag.settings import Settings
from rag.store import ChromaClients, ChromaStore

# Files are embedded and committed in batches of about this many chunks: bounded memory.
BATCH_CHUNKS = 512
# Parsed files waiting for the embedder, at most.
PARSE_AHEAD = 64
# Sources resolved at once: mostly waiting on the network (downloads, unreachable hosts).
RESOLVERS = 8

T = TypeVar("T")
_DONE = object()


def in_background(items: Iterator[T], maxsize: int) -> Iterator[T]:
    """Run an iterator in a thread, a bounded queue ahead of the consumer; errors re-raise here."""
    queue: Queue[Any] = Queue(maxsize=maxsize)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                queue.put(item)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer to re-raise
            queue.put(_Failure(exc))
        finally:
            queue.put(_DONE)

    worker = threading.Thread(target=produce, name="ingest-parse", daemon=True)
    worker.start()
    try:
        while (got := queue.get()) is not _DONE:
            if isinstance(got, _Failure):
                raise got.error
            yield got
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            with contextlib.suppress(Empty):
                queue.get_nowait()
            worker.join(timeout=0.05)


@dataclass(frozen=True)
class _Failure:
    """An exception raised while producing, carried across the queue."""

    error: BaseException


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
    files_recovered: int = 0
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

    def __init__(
        self,
        settings: Settings,
        embedder: Embedder | None = None,
        *,
        clients: ChromaClients | None = None,
    ) -> None:
        self.settings = settings
        self._embedder = embedder
        self.clients = clients or ChromaClients()

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
        wait: float = 0.0,
        on_wait: Callable[[str], None] | None = None,
        on_failure: Callable[[str], None] | None = None,
    ) -> Report:
        """Bring the index up to date with the given sources (waiting up to `wait` seconds
        for another ingest of the same home to finish); a source that cannot be read is told
        to on_failure before anything is embedded."""
        started = time.perf_counter()
        report = Report()
        with ingest_lock(self.settings.home, wait, on_wait):
            ledger = Ledger(self.settings.ledger_path)
            store = ChromaStore(self.settings, self.clients)
            try:
                if rebuild:
                    # Before anything opens the collection: an index too damaged to open names
                    # `ingest --rebuild` as its fix, and dropping it needs no open.
                    clear(store, ledger)
                report.files_recovered = recover(store, ledger)
                self._check_model(ledger, store)
                sources = resolve_all(specs, self.settings, report, on_failure)
                report.files_total = sum(len(s.items) for s in sources)
                known = ledger.files()
                pending = _Pending()
                self._max_tokens()  # builds the embedder here, not racing in the parse thread
                # Parsing runs in a thread while this one embeds: ONNX Runtime and torch
                # release the GIL, so the two overlap on the two cores.
                for source, name, fingerprint, outcome in in_background(
                    self._parsed(sources, known), maxsize=PARSE_AHEAD
                ):
                    if outcome is None:
                        report.files_unchanged += 1
                        report.files_done += 1
                    elif isinstance(outcome, str):
                        report.failures.append(outcome)
                        report.files_done += 1
                    else:  # counted as done once committed
                        pending.files.append((source, name, fingerprint, outcome))
                        pending.chunks += len(outcome)
                    if pending.chunks >= BATCH_CHUNKS:
                        self._commit(pending, store, ledger, report)
                        pending = _Pending()
                    if progress:
                        progress(report)
                pruned = [s for s in sources if prune or s.exhaustive]
                report.files_removed += self._prune(pruned, known, store, ledger)
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
                ledger.mark_changed()
                store.publish(ledger.summary())  # what readers of a shared server go by
                if progress:
                    progress(report)
            finally:
                ledger.close()
        return report

    def _check_model(self, ledger: Ledger, store: ChromaStore) -> None:
        """Refuse to mix vectors of two models in one index (a shared server's too)."""
        built_with = ledger.get_meta("model") or (store.published() or {}).get("model")
        wanted = model_identity(self.settings)
        if built_with is None or built_with == wanted:
            ledger.set_meta("model", wanted)
        else:
            raise ModelMismatchError(
                f"the index was built with {built_with!r}, not {wanted!r}; "
                "run `ingest --rebuild` to re-embed everything, or set "
                f"{settings_that_built(built_with, wanted)} to embed as it was built"
            )

    def _parsed(
        self, sources: Sequence[Source], known: dict[tuple[str, str], FileRecord]
    ) -> Iterator[tuple[Source, str, str, list[Chunk] | str | None]]:
        """Each item of each source: None when unchanged, its chunks, or a failure line."""
        for source in sources:
            for item in source.items:
                record = known.get((source.origin, item.source))
                if record is not None and record.fingerprint == item.fingerprint:
                    yield source, item.source, item.fingerprint, None
                else:
                    yield source, item.source, item.fingerprint, self._chunks(source, item)

    def _chunks(self, source: Source, item: Item) -> list[Chunk] | str:
        """Load and chunk one changed file; a failure is returned as its one-line reason."""
        return prepare(FileTask.of(source, item), self.embedder.count_tokens, self._max_tokens())

    @staticmethod
    def _prune(
        sources: Sequence[Source],
        known: dict[tuple[str, str], FileRecord],
        store: ChromaStore,
        ledger: Ledger,
    ) -> int:
        """Remove indexed files that their (reachable) source no longer holds."""
        removed = 0
        for source in sources:
            present = {item.source for item in source.items}
            for origin, name in known:
                if origin == source.origin and name not in present:
                    ledger.begin([(origin, name)])
                    store.delete(origin, name)
                    ledger.done([(origin, name)])
                    removed += 1
        return removed

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
        # Marked before the store changes: a run killed in between undoes these files on restart.
        ledger.begin((source.origin, name) for source, name, _, _ in pending.files)
        # The old chunks go only now, after the new vectors exist: a crash keeps them. The whole
        # batch goes in one delete per origin and one upsert: Chroma's writes of a file at a
        # time (27 chunks on average) cost twice as much per chunk.
        by_origin: dict[str, list[str]] = {}
        for source, name, _, _ in pending.files:
            by_origin.setdefault(source.origin, []).append(name)
        for origin, names in by_origin.items():
            store.delete_sources(origin, names)
        store.upsert(all_chunks, np.stack([vectors[c.content_hash] for c in all_chunks]))
        now = time.time()
        records = [
            FileRecord(
                origin=source.origin,
                source=name,
                fingerprint=fingerprint,
                product=chunks[0].product,
                version=chunks[0].version,
                chunks=len(chunks),
                ingested_at=now,
            )
            for source, name, fingerprint, chunks in pending.files
        ]
        ledger.done([(r.origin, r.source) for r in records], records)
        report.files_indexed += len(records)
        report.files_done += len(records)
        report.chunks_stored += len(all_chunks)


def resolve_all(
    specs: Sequence[SourceSpec],
    settings: Settings,
    report: Report,
    on_failure: Callable[[str], None] | None = None,
) -> list[Source]:
    """Resolve every source before anything is embedded, the sources of different hosts at
    once (downloads and unreachable hosts overlap; one host's in turn, as a server expects);
    one that fails is reported as soon as it does, and skipped."""
    groups: dict[str, list[int]] = {}
    for k, spec in enumerate(specs):
        groups.setdefault(_host(spec, settings, k), []).append(k)
    outcomes: Queue[tuple[int, Source | Exception]] = Queue()

    def resolve_group(members: list[int]) -> None:
        for k in members:
            try:
                outcomes.put((k, resolve(specs[k], settings)))
            except Exception as exc:  # noqa: BLE001 - re-raised in the caller's thread, not lost
                outcomes.put((k, exc))

    resolved: dict[int, Source] = {}
    with ThreadPoolExecutor(max_workers=max(1, min(RESOLVERS, len(groups)))) as pool:
        running = [pool.submit(resolve_group, members) for members in groups.values()]
        for _ in specs:
            k, outcome = outcomes.get()
            if isinstance(outcome, LakesageError):
                report.failures.append(str(outcome))
                if on_failure:
                    on_failure(str(outcome))
            elif isinstance(outcome, Exception):
                raise outcome
            else:
                resolved[k] = outcome
        for future in running:
            future.result()
    return [resolved[k] for k in sorted(resolved)]


def _host(spec: SourceSpec, settings: Settings, k: int) -> str:
    """Who serves a source: a URL's host, the package index for packages; local sources
    (and mirrored ones) each their own."""
    if spec.mirror and settings.mirror is not None:
        return f"local {k}"
    if spec.spec.startswith("pypi:"):
        return "package index"
    if "://" in spec.spec:
        return urllib.parse.urlsplit(spec.spec).netloc.lower()
    return f"local {k}"


def remove(
    settings: Settings,
    origin: str,
    wait: float = 0.0,
    on_wait: Callable[[str], None] | None = None,
) -> int:
    """Remove every chunk and record of one source; returns the files removed."""
    with ingest_lock(settings.home, wait, on_wait):
        ledger = Ledger(settings.ledger_path)
        try:
            store = ChromaStore(settings)
            recover(store, ledger)
            files = list(ledger.files(origin))
            ledger.begin(files)
            store.delete(origin)
            ledger.done(files)
            ledger.mark_changed()
            store.publish(ledger.summary())
            return len(files)
        finally:
            ledger.close()


def clear(store: ChromaStore, ledger: Ledger) -> None:
    """Empty the index for a rebuild: files marked first, so a kill midway is finished later."""
    everything = list(ledger.files())
    ledger.begin(everything)
    store.drop()
    ledger.done(everything)
    ledger.set_meta("model", None)


def recover(store: ChromaStore, ledger: Ledger) -> int:
    """Undo the store writes of a run that was killed, so its files are simply redone;
    a store that disagrees with the ledger in any other way is reconciled file by file."""
    pending = ledger.pending()
    for origin, source in pending:
        store.delete(origin, source)
    if pending:
        ledger.done(pending)
    files = ledger.files()
    if store.count() == sum(r.chunks for r in files.values()):
        return len(pending)
    stored: Counter[tuple[str, str]] = Counter()
    for _, _, metas, _ in store.scan():
        stored.update((str(m.get("origin")), str(m.get("source"))) for m in metas)
    wrong = [key for key in stored.keys() | files.keys() if stored[key] != _chunks_of(files, key)]
    for origin, source in wrong:
        if stored[(origin, source)]:
            store.delete(origin, source)
    ledger.done(wrong)
    return len(pending) + len(wrong)


def _chunks_of(files: dict[tuple[str, str], FileRecord], key: tuple[str, str]) -> int:
    """How many chunks the ledger says a file has (0 when it does not know the file)."""
    record = files.get(key)
    return record.chunks if record else 0
