"""Question analysis: parts, quoted names, SQL phrases, kinds of answer, code languages."""

from __future__ import annotations

import pytest

from rag.question import Question, affirmed, keyword_query, pasted, plain, without_noise


def texts(question: str) -> list[str]:
    return [part.text for part in Question(question).parts]


def test_a_plain_question_is_one_part() -> None:
    assert texts("What does spark.sql.shuffle.partitions do?") == [
        "What does spark.sql.shuffle.partitions do?"
    ]


@pytest.mark.parametrize(
    ("question", "parts"),
    [
        (
            "How do I turn on optimized writes for delta, and what is the default target bin size?",
            ["How do I turn on optimized writes for delta", "what is the default target bin size?"],
        ),
        (
            "How do I remove old files from a Delta table and how long are they kept by default?",
            ["How do I remove old files from a Delta table", "how long are they kept by default?"],
        ),
        (
            "Which setting is that, and what's its default?",
            ["Which setting is that", "what's its default?"],
        ),
        (
            "Is it safe to copy a delta table? Anything to watch out for with time travel?",
            ["Is it safe to copy a delta table?", "Anything to watch out for with time travel?"],
        ),
    ],
)
def test_each_question_asked_is_a_part(question: str, parts: list[str]) -> None:
    assert texts(question) == parts


def test_each_part_is_searched_with_the_part_before_when_it_says_little_alone() -> None:
    assert Question("What does spark.sql.shuffle.partitions do?").searches == ()
    assert Question(
        "How do I turn on optimized writes for delta, and what is the default target bin size?"
    ).searches == (
        "How do I turn on optimized writes for delta",
        "what is the default target bin size?",
    )
    # "they" points back; "what is the default?" names one thing.
    for question in (
        "How do I remove old files from a Delta table and how long are they kept by default?",
        "How do I turn on optimized writes for delta, and what is the default?",
    ):
        first, second = Question(question).parts
        assert Question(question).searches == (first.text, f"{first.text} {second.text}")


def test_a_statement_before_the_question_sets_the_scene() -> None:
    question = Question("I deleted runs in the UI. How do I purge them for good?")
    assert texts(question.text) == ["How do I purge them for good?"]
    assert {"delet", "run", "purg"} <= question.words  # the whole question still counts


def test_what_is_asked_leaves_out_the_statements_that_set_the_scene() -> None:
    question = Question("Our server runs on Postgres. Can I grow the pool? It times out.")
    assert question.asked == "Can I grow the pool?"
    assert Question("Grow the pool.").asked == "Grow the pool."


def test_a_leading_clause_is_no_part_of_its_own() -> None:
    assert texts("In a delta MERGE, how do I delete target rows with no match?") == [
        "In a delta MERGE, how do I delete target rows with no match?"
    ]
    assert texts("When searching logged models, how do I filter by dataset?") == [
        "When searching logged models, how do I filter by dataset?"
    ]


@pytest.mark.parametrize(
    "question",
    [
        "From PySpark, what's the call to upgrade a table's protocol?",
        "Once row tracking is turned on, how do I read the row id?",
        "Without a hive-site.xml, where does Spark SQL put managed tables?",
    ],
)
def test_a_leading_piece_that_asks_nothing_is_no_part_of_its_own(question: str) -> None:
    assert texts(question) == [question]


def test_a_leading_piece_that_asks_stays_a_part() -> None:
    assert texts("In Spark SQL does NaN equal NaN, and where do NaN values sort?") == [
        "In Spark SQL does NaN equal NaN",
        "where do NaN values sort?",
    ]
    assert texts("Delta governance: what quorum does a meeting need, and what vote?") == [
        "Delta governance: what quorum does a meeting need",
        "what vote?",
    ]


def test_an_and_without_a_question_word_does_not_split() -> None:
    assert texts("How do I turn on authentication and AES encryption for RPC traffic?") == [
        "How do I turn on authentication and AES encryption for RPC traffic?"
    ]


def test_a_bare_why_joins_the_context() -> None:
    parts = texts("Prompts look stale after I move the alias. Why, and can I change that?")
    assert parts == ["Prompts look stale after I move the alias. Why", "can I change that?"]


def test_names_as_developers_write_them() -> None:
    question = Question(
        "Does `DeltaTable.vacuum` or spark.read.json() take PYSPARK_PIN_THREAD, batch_size, "
        "maxFilesPerTrigger or --keytab, e.g. in MLflow?"
    )
    assert question.names == (
        "DeltaTable.vacuum",
        "spark.read.json",
        "PYSPARK_PIN_THREAD",
        "batch_size",
        "maxFilesPerTrigger",
        "--keytab",
    )
    assert question.code_names == (
        "DeltaTable.vacuum",
        "spark.read.json",
        "PYSPARK_PIN_THREAD",
        "batch_size",
    )


def test_a_called_name_is_code_but_a_capitalised_word_is_not() -> None:
    assert Question("I called persist() on a DataFrame").code_names == ("persist",)
    assert Question("Does PySpark support Delta?").code_names == ()


def test_sql_keyword_phrases_in_capitals() -> None:
    assert Question("Spark SQL: ORDER BY vs SORT BY?").phrases == ("ORDER BY", "SORT BY")
    assert Question("In a Spark SQL SELECT, what does CLUSTER BY do?").phrases == ("CLUSTER BY",)
    assert Question("How do I use VACUUM?").phrases == ()


@pytest.mark.parametrize(
    ("question", "kinds"),
    [
        ("What's the default maxFilesPerTrigger?", {"value"}),
        ("Which exception does Delta raise?", {"error"}),
        ("Which config registers a plugin?", {"config"}),
        ("How do I read a table?", {"code"}),
        ("Why is my counter still 0?", {"reason"}),
        ("What table feature has to be switched on?", {"config"}),
    ],
)
def test_kinds_of_answer(question: str, kinds: set[str]) -> None:
    assert Question(question).kinds == kinds


@pytest.mark.parametrize(
    ("question", "kept"),
    [
        (
            "How do I keep the stream going without deleting the checkpoint?",
            "How do I keep the stream going ?",
        ),
        (
            "How do I load it for predictions instead of as a native Spark model?",
            "How do I load it for predictions ?",
        ),
        (
            "Can I rename a column without rewriting files, and how long does it take?",
            "Can I rename a column , and how long does it take?",
        ),
        (
            "I need one total, without a UNION ALL. What is the syntax?",
            "I need one total, . What is the syntax?",
        ),
        (
            "I logged a model without a signature. How do I add one?",
            "I logged a model without a signature. How do I add one?",
        ),
    ],
)
def test_what_the_asker_wants_to_avoid_is_left_out(question: str, kept: str) -> None:
    assert affirmed(question) == kept


@pytest.mark.parametrize(
    ("question", "searched"),
    [
        (
            "How do I read it in parallel instead of through one connection?",
            "How do I read it in parallel ?",
        ),
        ("Which setting, other than the timeout, matters?", "Which setting, , matters?"),
        (
            "Can I rename a column without rewriting files?",
            "Can I rename a column without rewriting files?",
        ),
        ("We use it instead of Hive. Is it faster?", "We use it instead of Hive. Is it faster?"),
    ],
)
def test_the_keyword_search_leaves_out_only_the_alternative_asked_away_from(
    question: str, searched: str
) -> None:
    assert keyword_query(question) == searched


def test_avoided_words_do_not_count_unless_asked_for_too() -> None:
    words = Question("How do I load the model instead of as a native Spark model?").words
    assert "model" in words and "nativ" not in words and "spark" not in words


def test_turn_on_counts_as_enable() -> None:
    assert "enabl" in Question("How do I turn optimized writes on?").words
    assert "disabl" in Question("How do I switch broadcasting off?").words


@pytest.mark.parametrize(
    ("question", "first"),
    [
        ("How do I vacuum a table?", "python"),
        ("What is the SQL to vacuum a table?", "sql"),
        ("How do I vacuum a table in Scala?", "scala"),
        ("How do I vacuum a table from PySpark?", "python"),
    ],
)
def test_code_languages_prefer_python_unless_asked(question: str, first: str) -> None:
    languages = Question(question).languages
    assert languages[0] == first
    assert "python" in languages and "sql" in languages


def test_products_named() -> None:
    assert Question("Can MLflow log a Delta table read with PySpark?").products == {
        "mlflow",
        "delta",
        "spark",
    }
    assert Question("What is a DBU?").products == frozenset()


@pytest.mark.parametrize(
    ("question", "term"),
    [
        ("What is Z-ordering in Delta Lake?", "Z-ordering"),
        ("What are deletion vectors?", "deletion vectors"),
        ("what's a checkpoint in Structured Streaming", "checkpoint"),
        ("What is the change data feed?", "change data feed"),
        ("What is the maximum length of a parameter value MLflow stores for a run?", ""),
        ("How do I enable deletion vectors?", ""),
        ("What is Z-ordering, and how do I run it?", ""),
    ],
)
def test_a_what_is_question_names_the_term_to_define(question: str, term: str) -> None:
    assert Question(question).term == term


def test_a_definition_of_the_term_is_recognised_and_one_of_a_longer_name_is_not() -> None:
    definition = Question("What is MLflow?").definition
    assert definition is not None
    assert definition.match(plain("**MLflow** is an open source platform for the ML lifecycle."))
    assert not definition.match(plain("MLflow Model is a standard format for packaging models."))
    assert Question("How do I install MLflow?").definition is None


def test_a_question_that_asks_what_something_is_or_does() -> None:
    assert Question("What does DataFrame.repartition do?").asks_what
    assert Question("I saw it in a notebook. What is `repartition` for?").asks_what
    assert not Question("How do I repartition a DataFrame?").asks_what


@pytest.mark.parametrize(
    ("question", "way"),
    [
        ("How do I read a Kafka topic as a streaming DataFrame?", "read"),
        ("How do I load a CSV file with a header row?", "read"),
        ("How do I save a DataFrame as Parquet files?", "write"),
        ("How do I write a stream to Kafka?", "write"),
        ("How do I read and write Avro files?", ""),
        ("How do I rename a column?", ""),
        # The way it turns from is not the way it asks about.
        ("Is there a shorthand for version 0 instead of writing out the time travel clause?", ""),
    ],
)
def test_the_way_data_flows_is_read_from_the_verbs_asked(question: str, way: str) -> None:
    assert Question(question).direction == way


def test_a_pasted_log_is_searched_without_its_noise() -> None:
    """Where a frame's code is, Py4J's object ids, ids and timestamps say nothing a search can
    use; the classes and methods a frame names (BroadcastExchangeExec) and the message stay."""
    log = (
        "py4j.protocol.Py4JJavaError: An error occurred while calling o45.load.\n"
        "\tat org.apache.spark.sql.execution.BroadcastExchangeExec.doExecute("
        "BroadcastExchangeExec.scala:195)\n"
        "\tat sun.reflect.NativeMethodAccessorImpl.invoke0(Native Method)\n"
        "\t... 32 more\n"
        "Table ID: 5f2a9c1e-0b7d-4e43-9d6a-2c81f0e4b7aa, at 2024-06-03 02:45:07\n"
        "File s3a://lake/orders/part-00003-7d1c2e4b-9a0f-c000.snappy.parquet is gone"
    )
    assert without_noise(log) == (
        "py4j.protocol.Py4JJavaError: An error occurred while calling load.\n"
        "\tat org.apache.spark.sql.execution.BroadcastExchangeExec.doExecute\n"
        "\tat sun.reflect.NativeMethodAccessorImpl.invoke0\n"
        "Table ID: , at \n"
        "File s3a://lake/orders/ is gone"
    )
    trace = 'Traceback (most recent call last):\n  File "/opt/job.py", line 12\nValueError: x'
    assert without_noise(trace) == 'File "/opt/job.py", line 12\nValueError: x'
    question = "How do I read version 3 of a table as of 2024-06-03?"
    assert without_noise(question) == question


def test_a_stack_trace_keeps_its_first_frames_and_a_traceback_its_last() -> None:
    """The JVM names the code that raised first, Python last; a run of frames is cut to
    FRAMES_KEPT from that end (a whole trace runs to hundreds of lines)."""
    jvm = "\n".join(f"\tat a.C{k}.m(C{k}.scala:{k})" for k in range(8))
    assert without_noise(f"SparkException: boom\n{jvm}\nWhy?") == (
        "SparkException: boom\n\tat a.C0.m\n\tat a.C1.m\n\tat a.C2.m\nWhy?"
    )
    python = "".join(f'  File "/m{k}.py", line {k}, in f{k}\n    call{k}()\n' for k in range(6))
    assert without_noise(f"Traceback (most recent call last):\n{python}ValueError: bad") == (
        'File "/m3.py", line 3, in f3\n    call3()\n  File "/m4.py", line 4, in f4\n'
        '    call4()\n  File "/m5.py", line 5, in f5\n    call5()\nValueError: bad'
    )


def test_what_the_software_asks_in_a_pasted_error_is_not_asked() -> None:
    """Software asks yes or no ("Are you sure ...?"); the asker's question follows, or with a
    wh-word on the error's own line; a paste with no question asks what the prose around it
    says."""
    vacuum = (
        "VACUUM events RETAIN 0 HOURS\n\njava.lang.IllegalArgumentException: requirement "
        "failed: Are you sure you would like to vacuum files with such a low retention period? "
        "If you have writers, there is a risk.\nHow do I run it anyway?"
    )
    assert texts(vacuum) == ["How do I run it anyway?"]
    assert Question(vacuum).asked == "How do I run it anyway?"
    same_line = "Serving fails with ModuleNotFoundError: No module named 'src'. Why?"
    assert Question(same_line).asked == "Why?"
    paste = "Scoring fails with:\nMlflowException: Failed to enforce schema. Can not convert."
    assert Question(paste).asked == "Scoring fails with:"


def test_a_log_line_is_pasted_output_with_or_without_its_time() -> None:
    line = "24/05/02 03:12:45 ERROR YarnScheduler: Lost executor 14 on ip-10-1-2-33.ec2.internal"
    text = f"Executors get lost:\n{line}\nWhat should I set?"
    assert [text[a:b] for a, b in pasted(text)] == [line]
    cut = without_noise(text)
    assert [cut[a:b].strip() for a, b in pasted(cut)] == [line.removeprefix("24/05/02 03:12:45 ")]
