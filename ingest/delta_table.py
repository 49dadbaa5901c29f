"""The chunks Delta table: one row per chunk with its vector, merged by content, with a change feed."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingest.chunking import file_id
from rag.embedding import settings_that_built
from rag.errors import ModelMismatchError, SourceError
from rag.models import Chunk

SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("file_id", pa.string(), nullable=False),
        pa.field("origin", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("fingerprint", pa.string(), nullable=False),
        pa.field("ordinal", pa.int32(), nullable=False),
        pa.field("title", pa.string(), nullable=False),
        pa.field("headings", pa.list_(pa.string()), nullable=False),
        pa.field("product", pa.string(), nullable=False),
        pa.field("version", pa.string()),
        pa.field("url", pa.string()),
        pa.field("page", pa.int32()),
        pa.field("text", pa.string(), nullable=False),
        pa.field("embed_text", pa.string(), nullable=False),
        pa.field("content_hash", pa.string(), nullable=False),
        pa.field("symbol", pa.string()),
        pa.field("reference", pa.bool_()),
        pa.field("cell", pa.int32()),
        pa.field("last_cell", pa.int32()),
        pa.field("since", pa.string()),
        pa.field("deprecated", pa.string()),
        pa.field("deprecated_use", pa.string()),
        pa.field("embedding", pa.list_(pa.float32()), nullable=False),
    ]
)
CHUNK_COLUMNS = [f.name for f in SCHEMA if f.name not in ("file_id", "fingerprint", "embedding")]
# Readers (the serving index) follow the table through Delta's change data feed.
PROPERTIES = {"delta.enableChangeDataFeed": "true"}


def chunk_row(chunk: Chunk, fingerprint: str) -> dict[str, Any]:
    """A chunk as a table row, without its vector."""
    return {
        "id": chunk.id,
        "file_id": file_id(chunk.origin, chunk.source),
        "origin": chunk.origin,
        "source": chunk.source,
        "fingerprint": fingerprint,
        "ordinal": chunk.ordinal,
        "title": chunk.title,
        "headings": list(chunk.headings),
        "product": chunk.product,
        "version": chunk.version,
        "url": chunk.url,
        "page": chunk.page,
        "text": chunk.text,
        "embed_text": chunk.embed_text,
        "content_hash": chunk.content_hash,
        "symbol": chunk.symbol,
        "reference": chunk.reference,
        "cell": chunk.cell,
        "last_cell": chunk.last_cell,
        "since": chunk.since,
        "deprecated": chunk.deprecated,
        "deprecated_use": chunk.deprecated_use,
    }


def row_chunk(row: dict[str, Any]) -> Chunk:
    """A table row back as a chunk (a table written before a column existed, like `symbol`,
    `cell` or `deprecated`, has none)."""
    values: dict[str, Any] = {name: row.get(name) for name in CHUNK_COLUMNS}
    values.update(headings=tuple(row["headings"]), reference=bool(row.get("reference")))
    return Chunk(**values)


def chunks_and_vectors(table: pa.Table) -> tuple[list[Chunk], np.ndarray]:
    """The chunks of some table rows and their vectors, in row order."""
    rows = table.to_pylist()
    chunks = [row_chunk(row) for row in rows]
    vectors = np.asarray([row["embedding"] for row in rows], dtype=np.float32)
    return chunks, vectors.reshape(len(rows), -1)


class ChunkTable:
    """A Delta table of chunks in a folder (local, or a shared mount every Spark node sees)."""

    def __init__(self, uri: str | Path, version: int | None = None) -> None:
        self.uri = str(uri)
        self.pinned = version

    def at(self, version: int) -> ChunkTable:
        """The same table as of one version."""
        return ChunkTable(self.uri, version)

    def exists(self) -> bool:
        """Whether a Delta table is already at the path."""
        from deltalake import DeltaTable

        return bool(DeltaTable.is_deltatable(self.uri))

    def _open(self) -> Any:
        from deltalake import DeltaTable
        from deltalake.exceptions import DeltaError

        try:
            return DeltaTable(self.uri, version=self.pinned)
        except (DeltaError, OSError) as exc:
            raise SourceError(f"{self.uri}: not a readable Delta table ({exc})") from exc

    def version(self) -> int:
        """The table's current version."""
        return int(self._open().version())

    def model(self) -> str | None:
        """The model identity recorded when the table was created (None for no table)."""
        if not self.exists():
            return None
        described = self._open().metadata().description or ""
        try:
            return str(json.loads(described)["lakesage"]["model"])
        except (ValueError, KeyError, TypeError):
            return None

    def check_model(self, wanted: str) -> None:
        """Refuse to mix vectors of two models in one table."""
        built_with = self.model()
        if built_with is not None and built_with != wanted:
            raise ModelMismatchError(
                f"the table {self.uri} holds vectors of {built_with!r}, not {wanted!r}; "
                "run with --rebuild to re-embed everything, or set "
                f"{settings_that_built(built_with, wanted)} to embed as it was built"
            )

    def file_uris(self) -> list[str]:
        """The data files of the current version (for engines that read Parquet directly)."""
        return list(self._open().file_uris()) if self.exists() else []

    def files(self) -> dict[tuple[str, str], str]:
        """The fingerprint of every file the table holds, by (origin, source)."""
        if not self.exists():
            return {}
        columns = ["origin", "source", "fingerprint"]
        table = pa.table(self._open().to_pyarrow_dataset().to_table(columns=columns))
        distinct = table.group_by(columns).aggregate([]).to_pylist()  # one row per file
        return {(r["origin"], r["source"]): r["fingerprint"] for r in distinct}

    def rows_of(self, file_ids: Iterable[str] | None = None) -> pa.Table:
        """The current rows of some files (all when None), sorted by id."""
        dataset = self._open().to_pyarrow_dataset()
        if file_ids is None:
            return pa.table(dataset.to_table()).sort_by("id")
        wanted = pa.array(sorted(set(file_ids)), pa.string())
        # Filtered here, not pushed down: files written by MERGE type strings as string_view,
        # which the scanner's statistics pruning cannot compare with string.
        parts = [
            batch.filter(pc.is_in(batch.column("file_id").cast(pa.string()), value_set=wanted))
            for batch in dataset.to_batches()
        ]
        table = pa.Table.from_batches(parts) if parts else dataset.schema.empty_table()
        return table.sort_by("id")

    def _add_missing_columns(self) -> None:
        """Give a table written before a column existed (symbol, cell, deprecated) that column,
        empty."""
        from deltalake import DeltaTable
        from deltalake.schema import Field

        table = DeltaTable(self.uri)
        present = {field.name for field in table.schema().fields}
        missing = [field for field in SCHEMA if field.name not in present]
        if missing:
            # ALTER, not MERGE's schema evolution: that drops the table description (the model).
            table.alter.add_columns([Field.from_arrow(field) for field in missing])

    def changed_files(self, since: int) -> tuple[int, set[str]] | None:
        """The ids of files changed after version `since`, from the change feed; None if absent."""
        from deltalake.exceptions import DeltaError

        table = self._open()
        current = int(table.version())
        if current <= since:
            return current, set()
        if table.metadata().configuration.get("delta.enableChangeDataFeed") != "true":
            return None
        try:
            feed = table.load_cdf(
                starting_version=since + 1, ending_version=current, columns=["file_id"]
            )
            changes = pa.table(feed.read_all())
        except DeltaError:  # history vacuumed or feed not written for those versions
            return None
        return current, set(changes.column("file_id").to_pylist())

    def merge(
        self,
        rows: pa.RecordBatchReader | pa.Table,
        replaced: Sequence[str],
        model: str,
        *,
        overwrite: bool = False,
    ) -> None:
        """Write new rows of the files `replaced`: MERGE by id, dropping their leftover rows."""
        from deltalake import DeltaTable, write_deltalake

        if overwrite or not self.exists():
            described = json.dumps({"lakesage": {"model": model}})
            existed = self.exists()
            write_deltalake(
                self.uri,
                rows,
                mode="overwrite",
                schema_mode="overwrite" if overwrite else None,
                configuration=PROPERTIES,
                description=described,
            )
            if existed:  # an overwrite keeps the old description: the old model's name
                DeltaTable(self.uri).alter.set_table_description(described)
            return
        if not replaced:
            return
        keys = ", ".join("'" + key + "'" for key in sorted(set(replaced)))
        self._add_missing_columns()
        (
            DeltaTable(self.uri)
            .merge(rows, "t.id = s.id", source_alias="s", target_alias="t")
            .when_matched_update_all(predicate="t.fingerprint <> s.fingerprint")
            .when_not_matched_insert_all()
            # Chunks a changed file no longer has, and every chunk of a removed file.
            .when_not_matched_by_source_delete(predicate=f"t.file_id IN ({keys})")
            .execute()
        )
