"""Keep the serving index (Chroma + ledger) in step with a chunks Delta table."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from ingest.chunking import file_id
from ingest.delta_table import ChunkTable, chunks_and_vectors
from ingest.lock import ingest_lock
from ingest.pipeline import clear, recover
from rag.errors import ModelMismatchError, SourceError
from rag.ledger import FileRecord, Ledger
from rag.settings import Settings
from rag.store import ChromaStore

# Files read from the table and written to Chroma at a time: bounded memory.
FILES_PER_BATCH = 256


@dataclass
class SyncReport:
    """What a sync did."""

    table: str
    version: int = 0
    mode: str = "incremental"
    files_updated: int = 0
    files_removed: int = 0
    chunks_stored: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return asdict(self)


def sync_from_table(settings: Settings, uri: str, *, rebuild: bool = False) -> SyncReport:
    """Apply the table's changes since the last sync (its change feed), or mirror it whole."""
    started = time.perf_counter()
    report = SyncReport(table=uri)
    table = ChunkTable(uri)
    if not table.exists():
        raise SourceError(f"{uri}: no Delta table there; write it first with --engine spark")
    model = table.model()
    if model is None:
        raise SourceError(f"{uri}: not a lakesage chunks table (no model recorded)")
    with ingest_lock(settings.home):
        ledger = Ledger(settings.ledger_path)
        store = ChromaStore(settings)
        try:
            if rebuild:  # first: an index too damaged to open names --rebuild as its fix
                clear(store, ledger)
                ledger.set_meta("table", None)
            recover(store, ledger)
            _check_model(ledger, model)
            state = ledger.get_meta("table") or {}
            changed = None
            if state.get("uri") == uri:
                changed = table.changed_files(int(state["version"]))
            indexed = {file_id(o, s): (o, s) for o, s in ledger.files()}
            if changed is None:
                report.mode = "full"
                report.version = table.version()
                snapshot = table.at(report.version)
                current = {file_id(*key) for key in snapshot.files()}
                touched = current | set(indexed)
            else:
                report.version, touched = changed
                snapshot = table.at(report.version)
            ordered = sorted(touched)
            for start in range(0, len(ordered), FILES_PER_BATCH):
                group = ordered[start : start + FILES_PER_BATCH]
                _apply(snapshot, group, indexed, store, ledger, report)
            ledger.set_meta("table", {"uri": uri, "version": report.version})
            report.seconds = round(time.perf_counter() - started, 3)
            # Open readers reload when the last run changes: a sync is a run for them.
            ledger.set_meta(
                "last_run",
                {
                    "finished_at": time.time(),
                    "seconds": report.seconds,
                    "files_indexed": report.files_updated,
                    "chunks_embedded": 0,
                    "failures": 0,
                },
            )
            ledger.mark_changed()
            store.publish(ledger.summary())  # what readers of a shared server go by
        finally:
            ledger.close()
    return report


def _check_model(ledger: Ledger, model: str) -> None:
    """Refuse to mix the table's vectors with an index of another model."""
    built_with = ledger.get_meta("model")
    if built_with is None:
        ledger.set_meta("model", model)
    elif built_with != model:
        raise ModelMismatchError(
            f"this index was built with {built_with!r} but the table holds {model!r} vectors; "
            "sync with --rebuild to replace the index"
        )


def _apply(
    snapshot: ChunkTable,
    file_ids: list[str],
    indexed: dict[str, tuple[str, str]],
    store: ChromaStore,
    ledger: Ledger,
    report: SyncReport,
) -> None:
    """Replace these files' chunks with the table's rows; files the table lacks are removed."""
    rows = snapshot.rows_of(file_ids)
    chunks, vectors = chunks_and_vectors(rows)
    fingerprints = dict(
        zip(rows.column("file_id").to_pylist(), rows.column("fingerprint").to_pylist(), strict=True)
    )
    by_file: dict[str, list[int]] = {}
    for n, chunk in enumerate(chunks):
        by_file.setdefault(file_id(chunk.origin, chunk.source), []).append(n)
    for key in file_ids:
        if key not in by_file:
            if key in indexed:
                ledger.begin([indexed[key]])
                store.delete(*indexed[key])
                ledger.done([indexed[key]])
                report.files_removed += 1
            continue
        picked = by_file[key]
        first = chunks[picked[0]]
        name = (first.origin, first.source)
        # Marked before the store changes: a sync killed in between is undone on restart.
        ledger.begin([name])
        # Old chunks go first: a file that shrank must not keep its tail.
        store.delete(*name)
        store.upsert([chunks[n] for n in picked], vectors[picked])
        record = FileRecord(
            origin=first.origin,
            source=first.source,
            fingerprint=fingerprints[key],
            product=first.product,
            version=first.version,
            chunks=len(picked),
            ingested_at=time.time(),
        )
        ledger.done([name], [record])
        report.files_updated += 1
        report.chunks_stored += len(picked)
