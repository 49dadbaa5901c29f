"""Databricks notebooks in their source format: every kind of cell, cell numbers, the languages'
comment prefixes, malformed notebooks refused with the fix, and which code files are notebooks."""

from __future__ import annotations

import gzip
import os
import re
from pathlib import Path

import pytest

from ingest.loaders import is_notebook_source, load_bytes, load_file
from rag.errors import SourceError
from rag.models import Document
from tests.documents import (
    ETL_NOTEBOOK,
    MIXED_NOTEBOOK,
    SCALA_NOTEBOOK,
    SQL_NOTEBOOK,
    databricks_notebook,
)


def parse(text: str, source: str = "jobs/etl.py") -> Document:
    """A notebook's text parsed as the format its file name implies."""
    return load_bytes(text.encode("utf-8"), source)


def test_every_kind_of_cell_is_read_and_numbered() -> None:
    doc = parse(ETL_NOTEBOOK)
    assert (doc.title, doc.format) == ("Nightly events load", "databricks")
    assert [(b.cell, b.headings, b.code, b.text) for b in doc.blocks] == [
        (1, (), False, "Loads the raw events into `bronze.events` with the zuluword schema."),
        (1, (), False, "- reads JSON from the landing zone\n- writes Delta, partitioned by day"),
        (2, (), False, 'Runs notebook `./setup` with `$env="dev"`'),
        (3, (), False, "Read the landing zone"),
        (3, (), True, '```python\nraw = spark.read.json("/mnt/landing/events")\ndisplay(raw)\n```'),
        (4, ("Checks",), False, "The counts must match before the table is published:"),
        (4, ("Checks",), True, "```sql\nSELECT count(*) FROM landing.events\n```"),
        (5, ("Checks",), True, "```sql\nSELECT count(*) AS rows FROM bronze.events\n```"),
        (6, ("Checks",), True, "```python\nassert raw.count() > 0\n```"),
        (7, ("Checks",), True, "```sh\nls -l /dbfs/mnt/landing\n```"),
        (8, ("Checks",), True, '```scala\nval n = spark.table("bronze.events").count()\n```'),
        (9, ("Checks",), True, "```r\nlibrary(SparkR)\n```"),
        (10, ("Checks",), True, "```\n%pip install great-expectations\n```"),
    ]


def test_no_magic_prefix_or_separator_reaches_the_text() -> None:
    for text, source in (
        (ETL_NOTEBOOK, "etl.py"),
        (SQL_NOTEBOOK, "gold.sql"),
        (SCALA_NOTEBOOK, "clicks.scala"),
    ):
        joined = "\n".join(b.text for b in parse(text, source).blocks)
        assert "MAGIC" not in joined and "COMMAND" not in joined and "Databricks" not in joined


@pytest.mark.parametrize(
    ("text", "source", "blocks"),
    [
        (
            SQL_NOTEBOOK,
            "jobs/gold.sql",
            [
                (1, False, "Daily totals per country."),
                (
                    2,
                    True,
                    "```sql\nCREATE OR REPLACE TABLE gold.daily AS\nSELECT day, country, "
                    "sum(amount) AS total\nFROM silver.orders\nGROUP BY day, country\n```",
                ),
            ],
        ),
        (
            SCALA_NOTEBOOK,
            "jobs/Clicks.SCALA",
            [
                (1, False, "Streams the clicks into silver."),
                (2, True, '```scala\nval clicks = spark.readStream.table("bronze.clicks")\n```'),
            ],
        ),
        (
            databricks_notebook("MAGIC %md\nMAGIC # Churn", "fit <- glm(churn ~ ., data = df)"),
            "models/churn.R",
            [(2, True, "```r\nfit <- glm(churn ~ ., data = df)\n```")],
        ),
    ],
)
def test_each_language_has_its_prefix_and_its_code(
    text: str, source: str, blocks: list[tuple[int, bool, str]]
) -> None:
    assert [(b.cell, b.code, b.text) for b in parse(text, source).blocks] == blocks


def test_a_notebook_without_a_heading_is_titled_from_its_file_name() -> None:
    doc = parse(databricks_notebook("x = 1"), "jobs/daily_rollup.py")
    assert doc.title == "Daily Rollup"
    assert [b.text for b in doc.blocks] == ["```python\nx = 1\n```"]


def test_a_compressed_notebook_keeps_its_language(tmp_path: Path) -> None:
    path = tmp_path / "gold.sql.gz"
    path.write_bytes(gzip.compress(SQL_NOTEBOOK.encode()))
    doc = load_file(path, "jobs/gold.sql.gz", max_bytes=10_000)
    assert doc.blocks[-1].text.startswith("```sql\nCREATE")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (MIXED_NOTEBOOK, "Databricks notebook cell 2 mixes MAGIC lines with plain lines"),
        (
            databricks_notebook("MAGIC Some words\nMAGIC without a command."),
            "Databricks notebook cell 1 has MAGIC lines but no %md, %sql",
        ),
        ("import os\nprint(os.getcwd())\n", "not a Databricks notebook"),
    ],
)
def test_a_malformed_notebook_is_one_line_naming_the_file_and_the_fix(
    text: str, reason: str
) -> None:
    with pytest.raises(SourceError) as caught:
        parse(text, "jobs/broken.py")
    message = str(caught.value)
    assert message.startswith("jobs/broken.py: ") and reason in message
    assert '"Source file"' in message and "\n" not in message


def test_a_notebook_of_empty_cells_has_no_text() -> None:
    with pytest.raises(SourceError, match=re.escape("empty.py: no text found")):
        parse(databricks_notebook("", "MAGIC %md", ""), "empty.py")


def test_a_dbc_archive_is_refused_with_the_export_to_use_instead(tmp_path: Path) -> None:
    path = tmp_path / "workspace.dbc"
    path.write_bytes(b"PK\x03\x04 not read")
    with pytest.raises(SourceError) as caught:
        load_file(path, "exports/workspace.dbc", max_bytes=4)  # named before the size limit
    assert str(caught.value) == (
        "exports/workspace.dbc: a DBC archive is Databricks' own undocumented format and is "
        'not read; export the notebooks as "Source file" instead'
    )


def test_a_code_file_is_a_notebook_only_when_its_first_line_says_so(tmp_path: Path) -> None:
    files = {
        "etl.py": ETL_NOTEBOOK.encode(),
        "gold.SQL": SQL_NOTEBOOK.encode(),
        "bom.scala": b"\xef\xbb\xbf" + SCALA_NOTEBOOK.encode(),
        "crlf.r": b"# Databricks notebook source\r\nx <- 1\r\n",
        "script.py": b"import os\n# Databricks notebook source\n",
        "later.sql": b"-- Databricks notebook source, copied by hand\n",
        "notes.txt": ETL_NOTEBOOK.encode(),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    os.mkfifo(tmp_path / "pipe.py")  # opening it to read would block
    found = {p.name for p in tmp_path.iterdir() if is_notebook_source(p)}
    assert found == {"etl.py", "gold.SQL", "bom.scala", "crlf.r"}
    # A link's own name decides the format, its target's bytes whether it is a notebook.
    assert is_notebook_source(tmp_path / "notes.txt", "linked.py")
    assert not is_notebook_source(tmp_path / "etl.py", "linked.txt")
