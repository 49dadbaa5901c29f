"""Known and unknown API and config names, on an index built in memory."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from rag.keywords import KeywordIndex
from rag.names import Names
from rag.question import Question, pasted
from rag.retrieval import Snapshot

CONFIG = (
    "Property Name | Default | Meaning\n"
    "`spark.sql.shuffle.partitions` | 200 | Partitions to use when shuffling.\n"
    "`spark.sql.files.maxPartitionBytes` | 128MB | The most bytes to pack into a partition.\n"
    "`spark.sql.ansi.enabled` | true | ANSI SQL behaviour."
)
GUIDE = (
    "Read JSON with spark.read.json(path) and write with df.write.format('delta'). "
    "In Scala: val df = reader.jdbc(url, table)."
)


def snapshot(chunks: list[tuple[str, dict[str, Any]]]) -> Snapshot:
    texts = [text for text, _ in chunks]
    metas = [meta for _, meta in chunks]
    vectors = np.eye(len(chunks), dtype=np.float32)
    return Snapshot(
        [f"c{i}" for i in range(len(chunks))], texts, metas, vectors, KeywordIndex(texts)
    )


@pytest.fixture
def names() -> Names:
    spark = {"product": "spark", "version": "4.0.1", "source": "spark/docs/configuration.md"}
    entries = [
        (f"Entry {symbol}.", {"product": "spark", "version": "4.0.1", "symbol": symbol})
        for symbol in (
            "pyspark.sql.SparkSession.read",
            "pyspark.sql.SparkSession.sql",
            "pyspark.sql.DataFrameReader.json",
            "pyspark.sql.DataFrameReader.csv",
            "delta.tables.DeltaTable.vacuum",
        )
    ]
    # Enough spark.* names that the namespace is ours.
    more = " ".join(f"spark.conf.key{i}" for i in range(25))
    return snapshot([(CONFIG, spark), (GUIDE, spark), (more, spark), *entries]).names


def test_names_the_docs_write_are_known(names: Names) -> None:
    assert names.known("spark.sql.shuffle.partitions")
    assert names.known("SPARK.SQL.SHUFFLE.PARTITIONS")
    assert names.known("df.write.format")


def test_documented_symbols_and_chains_of_members_are_known(names: Names) -> None:
    assert names.known("DeltaTable.vacuum")
    assert names.known("spark.read.csv")  # spark.read is written, csv is a documented member
    assert not names.known("spark.read.xml")
    assert not names.known("spark.sql.foo.bar")
    # Like the keys the config tables define: members do not make a made-up key known.
    assert not names.known("spark.sql.read.csv")
    # A method the docs' code calls counts as a member too (indexes without API reference).
    assert names.known("spark.read.jdbc")


def test_unknown_names_in_our_namespaces_with_the_closest(names: Names) -> None:
    [unknown] = names.unknown(Question("What does spark.sql.shuffle.partitionz do?"))
    assert unknown.name == "spark.sql.shuffle.partitionz"
    assert unknown.closest[0] == "spark.sql.shuffle.partitions"  # as the docs spell it
    assert unknown.release == "Spark 4.0.1"
    assert names.unknown(Question("How do I use spark.read.json and DeltaTable.vacuum?")) == []


def test_another_stack_s_names_are_not_ours_to_call_unknown(names: Names) -> None:
    assert not names.ours("num.io.threads")
    assert names.unknown(Question("Which Kafka settings like num.io.threads matter?")) == []


def test_what_the_software_prints_is_never_unknown(names: Names) -> None:
    """A pasted error's exception class and stack frames are the software's, not names the
    asker made up; a name the asker writes beside them still is."""
    assert names.unknown(Question("spark.sql.QueryFailedException: the write failed. Why?")) == []
    assert names.unknown(Question("Why does java.lang.OutOfMemoryError happen?")) == []
    trace = "The job fails:\n  at spark.sql.execution.Writer$.write(Writer.scala:12)\nWhy?"
    assert names.unknown(Question(trace)) == []
    [made_up] = names.unknown(Question(f"{trace} Does spark.sql.writer.fastz help?"))
    assert made_up.name == "spark.sql.writer.fastz"
    # Exceptions of another stack are not ours to call printed, nor unknown.
    assert not names.printed("net.snowflake.client.jdbc.SnowflakeSQLException")
    assert names.printed("py4j.protocol.Py4JJavaError")
    assert not names.printed("spark.sql.writer.fastz")


def test_names_an_answer_makes_up_are_unverified(names: Names) -> None:
    answer = (
        "Set `spark.sql.shuffle.partitions` [1] or `spark.sql.magic.speedup` [2]; "
        "`my_table.col` comes from the question and spark.conf.key3 from the docs."
    )
    passages = "... `my_table.col` ..."
    assert names.unverified(answer, passages) == ["spark.sql.magic.speedup"]


def test_the_rows_that_define_a_name(names: Names) -> None:
    assert names.defining("spark.sql.shuffle.partitions") == [0]
    assert names.defining("spark.read.json") == []


def test_a_pasted_exception_s_message_runs_to_a_blank_line_or_a_question() -> None:
    text = "It fails:\nValueError: bad data '  age\n0  NaN'\nHow do I fix it?\n\nAnd why?"
    assert [text[a:b] for a, b in pasted(text)] == ["ValueError: bad data '  age\n0  NaN'"]
    text = "ValueError: bad\n\nthen more"
    assert [text[a:b] for a, b in pasted(text)] == ["ValueError: bad"]
    text = "See:\n```\nx = 1\n```"
    assert [text[a:b] for a, b in pasted(text, blocks=True)] == ["```\nx = 1\n```"]
