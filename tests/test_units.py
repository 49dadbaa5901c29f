"""Passages cut into quotable units: sentences, items, rows with headers, code with lead-ins."""

from __future__ import annotations

from rag.units import passage_units, split_row


def kinds(text: str) -> list[tuple[str, str]]:
    return [(u.kind, u.text) for u in passage_units(text, 0)]


def test_sentences_of_wrapped_paragraphs() -> None:
    text = "Delta keeps a log.\nIt is written as JSON. Checkpoints\nare Parquet files."
    assert kinds(text) == [
        ("sentence", "Delta keeps a log."),
        ("sentence", "It is written as JSON."),
        ("sentence", "Checkpoints are Parquet files."),
    ]


def test_list_items_carry_the_sentence_that_introduces_them() -> None:
    intro = "The optimized write feature can be enabled using any of the following settings:"
    units = passage_units(
        f"{intro}\n\n"
        "- The `delta.autoOptimize.optimizeWrite` table property;\n"
        "- The DataFrameWriter option `optimizeWrite`.",
        3,
    )
    first, *items = units
    assert (first.kind, first.text, first.hit) == ("sentence", intro, 3)
    assert [(u.kind, u.lead_in) for u in items] == [("item", intro)] * 2
    assert items[1].text == "The DataFrameWriter option `optimizeWrite`."
    # A short "Label:" line is no unit of its own, but still introduces its list.
    short = passage_units("Use one of:\n\n- option a\n- option b", 0)
    assert [(u.kind, u.lead_in) for u in short] == [("item", "Use one of:")] * 2


def test_rows_keep_their_table_header() -> None:
    text = (
        "Property Name | Default | Meaning\n"
        "`spark.sql.shuffle.partitions` | 200 | Partitions to use when shuffling.\n"
        "`spark.sql.broadcastTimeout` | 300 | Timeout in seconds."
    )
    rows = passage_units(text, 0)
    assert [u.kind for u in rows] == ["row", "row"]
    assert rows[0].header == ("Property Name", "Default", "Meaning")
    assert rows[0].cells == (
        "`spark.sql.shuffle.partitions`",
        "200",
        "Partitions to use when shuffling.",
    )


def test_a_table_cut_in_two_keeps_its_header() -> None:
    text = (
        "Name | Default | Meaning\n`a.b` | 1 | First.\n\n"
        "Next chunk:\n\n`c.d` | 2 | Second one, continued from the same table."
    )
    rows = [u for u in passage_units(text, 0) if u.kind == "row"]
    assert [u.cells[0] for u in rows] == ["`a.b`", "`c.d`"]
    assert rows[1].header == ("Name", "Default", "Meaning")


def test_a_markdown_table_skips_its_rule_line() -> None:
    text = "| Field | Type |\n|---|---|\n| path | String |\n| size | Long |"
    rows = passage_units(text, 0)
    assert [u.cells for u in rows] == [("path", "String"), ("size", "Long")]
    assert split_row("| a | b |") == ("a", "b")


def test_code_blocks_whole_with_their_lead_in_and_language() -> None:
    text = (
        "Enable the feature by setting the table property:\n\n"
        "```sql\nALTER TABLE t SET TBLPROPERTIES ('x' = 'y')\n```\n\n"
        "```python\nspark.sql('...')\n```\n\nDone."
    )
    units = passage_units(text, 0)
    sql, python = (u for u in units if u.code)
    assert sql.language == "sql" and python.language == "python"
    # A run of code blocks (tabs of one example) shares its lead-in.
    assert sql.lead_in == python.lead_in == "Enable the feature by setting the table property:"
    assert sql.text == "```sql\nALTER TABLE t SET TBLPROPERTIES ('x' = 'y')\n```"


def test_a_short_label_line_names_the_section_and_leads_into_code() -> None:
    text = "Vacuum a table:\n\n```bash\nvacuum it\n```\n\nIt removes old files."
    units = passage_units(text, 0, "Utilities")
    assert [u.kind for u in units] == ["code", "sentence"]
    assert units[0].lead_in == "Vacuum a table:" and units[0].language == "shell"
    assert units[1].section == "Vacuum a table"
    assert passage_units("One two three.", 0, "Utilities")[0].section == "Utilities"


def test_overlong_code_is_no_unit() -> None:
    code = "```python\n" + "x = 1\n" * 40 + "```"
    assert [u.kind for u in passage_units(f"Some prose here.\n\n{code}", 0)] == ["sentence"]


def test_a_markdown_header_is_a_header_however_it_reads() -> None:
    text = (
        "| Data type | Value type in Scala | API to access or create a data type |\n|---|---|---|\n"
    )
    rows = passage_units(text + "| **ByteType** | Byte | ByteType |", 0)
    assert [u.kind for u in rows] == ["row"]
    assert rows[0].header == (
        "Data type",
        "Value type in Scala",
        "API to access or create a data type",
    )


def test_a_sentence_goes_on_after_e_g_and_an_inline_item_starts_one() -> None:
    text = (
        "Meta estimators (e.g. `CrossValidator`) take a model. "
        "Only files with deletes are rewritten. - Small files are coalesced."
    )
    assert [u.text for u in passage_units(text, 0)] == [
        "Meta estimators (e.g. `CrossValidator`) take a model.",
        "Only files with deletes are rewritten.",
        "Small files are coalesced.",
    ]


def test_the_prose_of_a_code_tab_is_in_its_language() -> None:
    text = (
        "(Scala) Case classes define the schema. They are inferred by reflection.\n\n"
        "- (Java) JavaBeans define the schema.\n- Their getters name the columns.\n\n"
        "Row objects define the schema in Python."
    )
    languages = [(u.text[:12], u.language) for u in passage_units(text, 0)]
    assert languages == [
        ("(Scala) Case", "scala"),
        ("They are inf", "scala"),
        ("(Java) JavaB", "java"),
        ("Their getter", "java"),
        ("Row objects ", ""),
    ]


def test_wrapped_lines_before_a_list_are_one_sentence() -> None:
    text = (
        "streaming query is started, and resuming picks up where it left off. Note\n"
        "  that offsets that no longer exist in Kafka are not reset,\n"
        "  and the query sees data loss.\n"
        "- **key.deserializer**: keys are always byte arrays."
    )
    units = passage_units(text, 0)
    assert [(u.kind, u.text[:30]) for u in units] == [
        ("sentence", "streaming query is started, an"),
        ("sentence", "Note that offsets that no long"),
        ("item", "**key.deserializer**: keys are"),
    ]


def test_a_line_after_an_item_cut_mid_sentence_continues_it() -> None:
    text = (
        "- **auto.offset.reset**: set `startingOffsets` instead. It only applies when a new\n"
        "streaming query is started.\n"
        "- **group.id**: a unique id is made for each query."
    )
    items = [u.text for u in passage_units(text, 0) if u.kind == "item"]
    assert items == [
        "**auto.offset.reset**: set `startingOffsets` instead. It only applies when a new "
        "streaming query is started.",
        "**group.id**: a unique id is made for each query.",
    ]


def test_no_sentence_ends_inside_inline_code() -> None:
    text = "You can run `VACUUM` to delete the old files. `REORG TABLE ... APPLY (PURGE)` makes a version."
    assert [u.text for u in passage_units(text, 0)] == [
        "You can run `VACUUM` to delete the old files.",
        "`REORG TABLE ... APPLY (PURGE)` makes a version.",
    ]


def test_an_underlined_heading_names_the_section_and_is_no_sentence() -> None:
    text = (
        "Returns a new DataFrame.\n\nReturns\n-------\n`DataFrame`\n    Repartitioned DataFrame.\n"
    )
    units = passage_units(text, 0, "pyspark.sql.DataFrame.repartition")
    assert [(u.text, u.section) for u in units] == [
        ("Returns a new DataFrame.", "pyspark.sql.DataFrame.repartition"),
        ("`DataFrame` Repartitioned DataFrame.", "Returns"),
    ]


def test_a_title_line_is_no_sentence_but_leads_into_its_code() -> None:
    text = "Create Prompt Alias\n\n```python\nclient.set_prompt_alias('p', 'prod', 2)\n```\n\nIt moves."
    units = passage_units(text, 0, "Aliases")
    assert [u.kind for u in units] == ["code"]
    assert units[0].lead_in == "Create Prompt Alias"
    assert [u.text for u in passage_units("Spark Connect is a protocol.", 0)] == [
        "Spark Connect is a protocol."
    ]


def test_a_terse_line_that_names_a_setting_stays_quotable() -> None:
    text = "Use spark.sql.shuffle.partitions=64 for small jobs"
    assert [u.text for u in passage_units(text, 0)] == [text]


def test_a_docstring_summary_without_a_period_is_quoted() -> None:
    text = "```python\ndef findSynonyms(self, word, num)\n```\n\nFind synonyms of a word\n"
    assert [u.text for u in passage_units(text, 0, titles=False)][1:] == ["Find synonyms of a word"]
