"""Passage selection: the lead, the support, the passages kept, the embedding signal."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rag.models import Hit
from rag.selection import ANSWER_CHARS, select


def hit(text: str, source: str = "doc.md", **meta: Any) -> Hit:
    return Hit(source, text, 1.0, {"source": source, **meta})


RETENTION = hit(
    "VACUUM removes files older than the retention threshold. "
    "The default retention threshold is 7 days. "
    "Set delta.deletedFileRetentionDuration to change the retention of deleted files.",
    "delta/utility.mdx",
)
UNRELATED = hit("Kryo serialization is faster than Java serialization for shuffles.", "spark.md")


def test_a_passage_only_near_the_top_is_not_quoted() -> None:
    selection = select(
        "How long does VACUUM keep deleted files by default?", [UNRELATED, RETENTION]
    )
    assert selection.used == [RETENTION]
    assert selection.hits == [RETENTION, UNRELATED]
    assert all(piece.n == 1 for piece in selection.pieces)


def test_another_document_supports_only_when_it_answers_about_as_well_as_the_lead() -> None:
    question = "How long does VACUUM keep deleted files by default?"
    trash = hit(
        "Deleted files of a run are kept in the trash folder until you empty it.", "runs.md"
    )
    faq = hit("VACUUM keeps deleted files for 7 days by default, the table's retention.", "faq.md")
    assert [h.source for h in select(question, [RETENTION, trash]).used] == [RETENTION.source]
    assert [h.source for h in select(question, [RETENTION, faq]).used] == [
        RETENTION.source,
        faq.source,
    ]


def test_another_part_of_the_lead_row_supports_it_but_no_neighbour_row_does() -> None:
    table = hit(
        "Property Name | Default | Meaning | Scope\n"
        "`mode` | PERMISSIVE | Allows a mode for dealing with corrupt records during parsing. | read\n"
        "`mode` | PERMISSIVE | `FAILFAST`: throws an exception when it meets corrupt records. | read\n"
        "`maxColumns` | 20480 | Defines a hard limit of how many columns a record can have. | read",
        "csv.md",
    )
    selection = select("Which CSV mode throws an exception on corrupt records?", [table])
    assert [p.unit.cells[2][:10] for p in selection.lead] == ["`FAILFAST`"]
    assert [p.unit.cells[:1] for p in selection.support] == [("`mode`",)]


def test_the_lead_is_not_what_the_question_avoids() -> None:
    guide = hit(
        "Load the model as a native Spark model with mlflow.spark.load_model in a Spark session. "
        "Load the model with mlflow.pyfunc.load_model to predict on pandas DataFrames.",
        "spark-guide.md",
    )
    question = "How do I load the model for predictions instead of as a native Spark model?"
    assert "pyfunc" in select(question, [guide]).lead[0].unit.text


def test_the_prose_of_other_languages_tabs_is_quoted_only_when_asked() -> None:
    tabs = hit(
        "(Scala) The `sql` function of a `SparkSession` runs a query and returns a `DataFrame`.\n\n"
        "(Java) The `sql` function of a `SparkSession` runs a query and returns a `Dataset<Row>`.\n\n"
        "The `sql` function of a `SparkSession` runs a query and returns a `DataFrame`.",
        "spark/sql-getting-started.md",
    )

    def quoted(question: str) -> list[str]:
        return [p.unit.text[:8] for p in select(question, [tabs]).pieces]

    assert quoted("What does the sql function of a SparkSession return?") == ["The `sql"]
    assert "(Java) T" in quoted("In Java, what does the sql function of a SparkSession return?")


def test_support_stays_within_the_answer_budget() -> None:
    sentences = " ".join(
        f"VACUUM rule number {i} applies to retention files here." for i in range(40)
    )
    selection = select("What are the VACUUM retention rules?", [hit(sentences)])
    assert 0 < len(selection.support) <= 5  # "at most about four supporting pieces"
    assert sum(len(p.unit.text) for p in selection.pieces) <= ANSWER_CHARS


def test_one_code_block_at_most_two_from_two_passages_when_code_is_asked() -> None:
    def passage(n: int) -> Hit:
        text = "\n\n".join(
            f"Vacuum the table with vacuum, way {n}{i}:\n\n```python\ndt.vacuum({n}{i})\n```"
            for i in range(3)
        )
        return hit(text, "doc.md")  # two passages of one document: another one's must score close

    blocks = lambda selection: sum(1 for p in selection.pieces if p.unit.code or p.code)  # noqa: E731
    two = [passage(1), passage(2)]
    assert blocks(select("How do I vacuum the table?", two)) == 2
    assert blocks(select("How do I vacuum the table?", two[:1])) == 1  # a block cut in two is one
    assert blocks(select("Does vacuum vacuum the table?", two)) == 1


def test_a_sentence_that_introduces_nothing_shown_is_not_quoted() -> None:
    text = (
        "The schema of the remove action is as follows:\n\n"
        "The remove action deletes a file from the table."
    )
    selection = select("What is the schema of the remove action?", [hit(text)])
    assert [p.unit.text for p in selection.pieces] == [
        "The remove action deletes a file from the table."
    ]


def test_the_embedding_signal_picks_among_equal_words() -> None:
    text = (
        "Checkpoints store streaming state in the checkpoint folder.\n\n"
        "Checkpoints store streaming progress in the checkpoint folder."
    )
    favourite = "Checkpoints store streaming progress in the checkpoint folder."  # the longer

    def embed(texts: Sequence[str]) -> np.ndarray:
        # The question and the favourite sentence point one way, everything else another.
        return np.array(
            [[1.0, 0.0] if i == 0 or favourite in t else [0.0, 1.0] for i, t in enumerate(texts)]
        )

    question = "Where do checkpoints store streaming things?"
    assert select(question, [hit(text)], embed=embed).lead[0].unit.text == favourite
    assert select(question, [hit(text)]).lead[0].unit.text != favourite


def test_rare_words_weigh_more_with_the_index_idf() -> None:
    text = "The table stores data. The table stores zorder statistics for files."
    idf = {"zorder": 5.0}.get
    selection = select(
        "Which table stores zorder statistics?", [hit(text)], idf=lambda w: idf(w, 1.0)
    )
    assert selection.lead[0].unit.text == "The table stores zorder statistics for files."


def test_a_statement_leads_and_the_code_follows() -> None:
    text = (
        "```python\n"
        "query = spark.readStream.table('events').writeStream\n"
        "query.option('checkpointLocation', '/tables/events/_checkpoints').toTable('out')\n"
        "```\n\n"
        "Keep the streaming checkpoint in the `_checkpoints` folder of the table, "
        "which VACUUM skips."
    )
    selection = select(
        "Where should I keep the streaming checkpoint so VACUUM skips it?", [hit(text)]
    )
    assert [p.unit.kind for p in selection.pieces] == ["sentence", "code"]


def test_support_leans_to_the_document_the_lead_quotes() -> None:
    hits = [
        hit("Run VACUUM on a delta table to remove files it no longer references.", "a.md"),
        hit("You can run VACUUM on a delta table from SQL or from Python.", "b.md"),
        hit("Run VACUUM on a delta table and it keeps seven days of files by default.", "a.md"),
    ]
    selection = select("How do I run VACUUM on a delta table?", hits)
    assert [selection.hits[p.n - 1].source for p in selection.pieces] == ["a.md", "a.md"]


def test_a_sentence_that_points_back_does_not_lead() -> None:
    text = (
        "Column mapping lets you rename a column with `delta.columnMapping.mode` set to `name`. "
        "This lets you rename a column without rewriting the Parquet files."
    )
    selection = select(
        "How can I rename a column without rewriting the Parquet files?", [hit(text)]
    )
    assert selection.lead[0].unit.text.startswith("Column mapping lets you")


def test_the_lead_gives_the_name_other_passages_confirm() -> None:
    guide = hit(
        "To keep old table versions longer, set `delta.logRetentionDuration` on the table. "
        "To keep old table versions longer, set `delta.checkpointRetentionDuration` instead.",
        "delta/guide.mdx",
    )
    table = hit("`delta.checkpointRetentionDuration` | 2 days | How long checkpoints are kept.")
    rare = lambda _word: 10.0  # noqa: E731 - every name is rare in this index
    question = "How do I keep old table versions longer?"
    lead = select(question, [guide, table], idf=rare).lead[0].unit.text
    assert "checkpointRetentionDuration" in lead
    # Alone, the guide leads with its first way; a common name confirms nothing.
    assert "logRetentionDuration" in select(question, [guide], idf=rare).lead[0].unit.text
    common = select(question, [guide, table], idf=lambda _word: 1.0)
    assert "logRetentionDuration" in common.lead[0].unit.text


def test_a_question_naming_one_product_leads_from_that_product() -> None:
    delta = hit(
        "To replace the rows that match a predicate in the target table, set "
        "`spark.databricks.delta.replaceWhere.constraintCheck.enabled` to false.",
        "delta/batch.mdx",
        product="delta",
    )
    spark = hit(
        "An anti join returns the rows of the left relation that have no match in the right.",
        "spark/join.md",
        product="spark",
    )
    question = "Spark SQL: how do I return the left rows that have no match in the right table?"
    assert select(question, [spark, delta]).lead[0].unit.text.startswith("An anti join")
    # Naming both leaves the choice to the passages (the instruction's form wins).
    both = question.replace("Spark SQL", "Spark SQL or Delta")
    assert select(both, [spark, delta]).lead[0].unit.text.startswith("To replace")


def test_code_in_the_lead_follows_the_statement_of_its_passage() -> None:
    text = (
        "To filter runs on params, prefix the name with `params` and quote the value.\n\n"
        '```sql\nparams.batch_size = "2"\nparams.model LIKE "GPT%"\n```'
    )
    question = "Why does filtering runs on params.batch_size = 2 find nothing?"
    lead = select(question, [hit(text)]).lead  # the code scores best: it quotes the name
    assert [p.unit.kind for p in lead] == ["sentence", "code"]


def test_the_shorter_of_two_near_equal_statements_leads() -> None:
    text = (
        "Retention of the files that a table no longer references is governed by table "
        "properties, and older files are removed when you run the cleanup command on the "
        "table at a time of your choosing.\n\n"
        "Files older than 7 days are removed by the cleanup command."
    )
    lead = select("How old are the files the cleanup command removes?", [hit(text)]).lead
    assert lead[0].unit.text == "Files older than 7 days are removed by the cleanup command."


def test_a_pointer_elsewhere_does_not_lead() -> None:
    text = (
        "For details on the function that logs scikit-learn models with their metrics, "
        "see `mlflow.sklearn`.\n\n"
        "`mlflow.sklearn.autolog()` logs scikit-learn models and metrics."
    )
    lead = select("Which function logs scikit-learn models with their metrics?", [hit(text)]).lead
    assert lead[0].unit.text.startswith("`mlflow.sklearn.autolog()`")


def test_a_signpost_to_the_section_does_not_lead() -> None:
    text = (
        "The next section shows how to query an older version of a Delta table.\n\n"
        "Delta Lake time travel queries an older version of a Delta table by number."
    )
    lead = select("How do I query an older version of a Delta table?", [hit(text)]).lead
    assert lead[0].unit.text.startswith("Delta Lake time travel")


def test_a_sentence_cut_mid_thought_does_not_lead() -> None:
    text = (
        "(`spark.executor.memory` configuration property) sets the memory of each executor.\n\n"
        "Each executor of an application gets the memory that `spark.executor.memory` sets."
    )
    lead = select("What sets the memory of each executor?", [hit(text)]).lead
    assert lead[0].unit.text.startswith("Each executor")


def test_code_whose_lead_in_starts_mid_thought_does_not_lead() -> None:
    text = (
        "Set the tracking server credentials in your environment:\n\n"
        "```python\nos.environ['MLFLOW_TRACKING_USERNAME'] = 'name'\n```\n\n"
        "and use those to authenticate with the tracking server:\n\n"
        "```ini\n[mlflow]\nmlflow_tracking_username = name\n```"
    )
    lead = select("How do I authenticate with the tracking server?", [hit(text)]).lead
    assert lead[0].unit.lead_in.startswith("Set the tracking server credentials")


def test_a_sentence_that_points_back_joins_the_lead_only_after_what_it_points_to() -> None:
    lead_text = "You rename a column of a Delta table with column mapping."
    after = "It can rename a column of a Delta table in place."
    elsewhere = "This can rename a column of a Delta table in place, too."

    def embed(texts: Sequence[str]) -> np.ndarray:
        # The question and both pointing sentences point one way, the lead half-way.
        return np.array(
            [
                [1.0, 0.0]
                if i == 0 or "in place" in t
                else [0.6, 0.8]
                if t.endswith(lead_text)
                else [0.0, 1.0]
                for i, t in enumerate(texts)
            ]
        )

    question = "How do I rename a column of a Delta table?"
    text = f"{lead_text} {after}\n\nColumn mapping needs reader version 2.\n\n{elsewhere}"
    lead = select(question, [hit(text)], embed=embed).lead
    assert [p.unit.text for p in lead] == [lead_text, after]


def test_code_with_its_own_lead_in_keeps_its_place_in_the_lead() -> None:
    text = (
        "Tracing records each call with one line:\n\n"
        "```python\nmlflow.openai.autolog()\n```\n\n"
        "You can also trace calls:\n\n- Trace every OpenAI call globally\n- Sample traces of each call"
    )
    lead = select("How do I trace every OpenAI call with one line?", [hit(text)]).lead
    assert [p.unit.kind for p in lead] == ["code", "item"]  # shown under its lead-in, first


def test_a_value_question_leads_with_a_quantity_not_digits_in_a_name() -> None:
    text = (
        "System metrics sampling is kept by `sampling_interval2` since release 3.2.0.\n\n"
        "System metrics are sampled every 10 seconds."
    )
    lead = select("How often are system metrics sampled?", [hit(text)]).lead
    assert lead[0].unit.text == "System metrics are sampled every 10 seconds."


REPARTITION = hit(
    "```python\ndef repartition(self, numPartitions, *cols) -> 'DataFrame'\n```\n\n"
    "New in version 1.3.0.\n"
    "Changed in version 1.6.0: Added optional arguments. Also made numPartitions optional.\n\n"
    "Returns a new `DataFrame` partitioned by the given partitioning expressions. The\n"
    "resulting `DataFrame` is hash partitioned.\n\n"
    "Returns\n-------\n`DataFrame`\n    Repartitioned DataFrame.\n",
    "pyspark/sql/dataframe.py",
    symbol="pyspark.sql.DataFrame.repartition",
    origin="pypi:pyspark-client==4.0.1",
)


def test_the_summary_of_the_named_symbols_entry_leads() -> None:
    guide = hit("Repartition a DataFrame before a wide join when its partitions are skewed.")
    for question in ("What does DataFrame.repartition do?", "What is `repartition` for?"):
        selection = select(question, [REPARTITION, guide])
        assert selection.lead[0].unit.text.startswith("Returns a new `DataFrame` partitioned")


def test_only_the_entry_of_a_named_symbol_has_its_summary_lead() -> None:
    other = hit(REPARTITION.text, REPARTITION.source, symbol="pyspark.sql.DataFrame.coalesce")
    selection = select("What does DataFrame.repartition do?", [other])
    assert not selection.lead[0].unit.text.startswith("Returns a new")


def test_what_is_x_leads_with_the_sentence_that_says_what_x_is() -> None:
    skipping = hit(
        "Data skipping information is collected automatically when you write data into a Delta "
        "Lake table. For best results, apply Z-Ordering.",
        "delta/optimizations.mdx",
    )
    zorder = hit(
        "To Z-Order data, you specify the columns to order on in the `ZORDER BY` clause. "
        "Z-Ordering is a technique to colocate related information in the same set of files.",
        "delta/optimizations.mdx",
    )
    selection = select("What is Z-ordering in Delta Lake?", [skipping, zorder])
    assert selection.lead[0].unit.text.startswith("Z-Ordering is a technique")
    aqe = hit("Adaptive Query Execution (AQE) is an optimization technique in Spark SQL.")
    assert select("What is adaptive query execution?", [aqe]).lead[0].unit.text == aqe.text


def test_an_api_summary_without_a_period_still_leads() -> None:
    entry = hit(
        "```python\ndef findSynonyms(self, word, num)\n```\n\nFind synonyms of a word\n\n"
        "word : str\n    a word or a vector representation of word\n",
        "pyspark/mllib/feature.py",
        symbol="pyspark.mllib.feature.Word2VecModel.findSynonyms",
        origin="pypi:pyspark-client==4.0.1",
    )
    lead = select("What does Word2VecModel.findSynonyms do?", [entry]).lead
    assert lead[0].unit.text == "Find synonyms of a word"


def test_in_a_how_to_question_the_named_symbols_summary_does_not_lead() -> None:
    entry = hit(
        "```python\ndef last_value(col, ignoreNulls=None) -> Column\n```\n\n"
        "Returns the last value of `col` for a group of rows.\n",
        "pyspark/sql/functions/builtin.py",
        symbol="pyspark.sql.functions.last_value",
        origin="pypi:pyspark-client==4.0.1",
    )
    guide = hit("Add `IGNORE NULLS` after `last_value(col)` to skip null values in the window.")
    lead = select("How do I make `last_value` skip nulls in a window?", [entry, guide]).lead
    assert lead[0].unit.text.startswith("Add `IGNORE NULLS`")
    lead = select("What does `last_value` do?", [entry, guide]).lead
    assert lead[0].unit.text.startswith("Returns the last value")


def test_the_lead_states_and_output_only_supports() -> None:
    """A traceback the docs show (its raised exception marks it as output) matches a pasted
    error best, but what the docs say about it leads."""
    docs = hit(
        "When you register a model, the console shows this:\n\n"
        "```text\nNotImplementedError: FileStore does not support list_webhooks_by_event\n```\n\n"
        "The FileStore does not support webhooks: use a database-backed store to register "
        "models.",
        "mlflow/quickstart.mdx",
    )
    question = "NotImplementedError: FileStore does not support list_webhooks_by_event. Why?"
    selection = select(question, [docs])
    assert [p.unit.kind for p in selection.lead] == ["sentence"]
    assert selection.lead[0].unit.text.startswith("The FileStore does not support webhooks")
    assert any(p.unit.code or p.code for p in selection.support)  # the output still supports
