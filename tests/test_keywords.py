"""The code-aware tokenizer and the BM25 keyword index."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rag.keywords import STOPWORDS, KeywordIndex, tokenize


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        (
            "spark.sql.shuffle.partitions",
            ["spark.sql.shuffle.partitions", "spark", "sql", "shuffl", "partit"],
        ),
        (
            "delta.columnMapping.mode",
            ["delta.columnmapping.mode", "delta", "columnmapping", "column", "map", "mode"],
        ),
        (
            "InvariantViolationException",
            ["invariantviolationexception", "invari", "violat", "except"],
        ),
        ("JSONParser", ["jsonparser", "json", "parser"]),
        ("nightly-bronze-vacuum", ["nightly-bronze-vacuum", "night", "bronz", "vacuum"]),
        (
            "set_registered_model_alias",
            ["set_registered_model_alias", "set", "regist", "model", "alia"],
        ),
        ("OPTIMIZE ZORDER BY", ["optim", "zorder"]),
        ("How do I use the running tables?", ["run", "tabl"]),
        ("The the OF and", []),
        ("", []),
    ],
)
def test_tokenize(text: str, tokens: list[str]) -> None:
    assert tokenize(text) == tokens


def test_dotted_identifier_keeps_its_trailing_punctuation_out() -> None:
    assert tokenize("Set `spark.sql.shuffle.partitions`.") == tokenize(
        "set spark.sql.shuffle.partitions"
    )


def test_tokenize_is_case_insensitive() -> None:
    assert tokenize("SPARK.SQL.SHUFFLE.PARTITIONS") == tokenize("spark.sql.shuffle.partitions")


def test_stopwords_never_come_out() -> None:
    text = " ".join(sorted(w for w in STOPWORDS if "'" not in w))
    assert tokenize(text) == []
    assert tokenize("what is the schema") == ["schema"]


def test_stems_match_across_word_forms() -> None:
    assert tokenize("partitions") == tokenize("partitioning") == tokenize("partition")
    assert tokenize("vacuumed") == tokenize("vacuum")


TEXTS = [
    "Set spark.sql.shuffle.partitions to 200 for small jobs.",
    "Shuffle partitions are spread over executors.",
    "The SQL tab of the Spark UI shows queries.",
    "Kerberos authentication for JDBC.",
]


@pytest.fixture
def index() -> KeywordIndex:
    return KeywordIndex(TEXTS)


def test_exact_config_key_scores_highest_and_unrelated_zero(index: KeywordIndex) -> None:
    scores = index.scores("spark.sql.shuffle.partitions")
    assert scores.dtype == np.float32 and scores.shape == (4,)
    assert int(np.argmax(scores)) == 0
    assert scores[0] > scores[1] > 0 and scores[0] > scores[2] > 0
    assert scores[3] == 0.0


def test_exact_key_beats_a_chunk_with_all_its_parts() -> None:
    index = KeywordIndex(
        [
            "Spark SQL shuffle: the partitions of a shuffle in Spark SQL, more partitions.",
            "spark.sql.shuffle.partitions sets it.",
            "Unrelated text about clusters.",
        ]
    )
    scores = index.scores("what should spark.sql.shuffle.partitions be?")
    assert scores[1] > scores[0] > 0 == scores[2]


def test_camel_case_error_matches_its_words_and_whole_name() -> None:
    index = KeywordIndex(
        [
            "Delta throws an `InvariantViolationException` on bad rows.",
            "An invariant is checked; a violation raises an exception.",
            "Nothing to see here.",
        ]
    )
    scores = index.scores("InvariantViolationException")
    assert scores[0] > scores[1] > 0 == scores[2]


def test_unknown_and_empty_queries_score_zero(index: KeywordIndex) -> None:
    assert index.scores("zzqx").tolist() == [0.0] * 4
    assert index.scores("").tolist() == [0.0] * 4
    assert index.scores("the of and").tolist() == [0.0] * 4


def test_empty_index() -> None:
    empty = KeywordIndex([])
    assert empty.size == 0
    assert empty.scores("spark").shape == (0,)
    assert empty.idf("spark") == 0.0


def test_empty_texts_are_indexed_but_never_match() -> None:
    index = KeywordIndex(["", "spark"])
    assert index.size == 2
    scores = index.scores("spark")
    assert scores[0] == 0.0 and scores[1] > 0


def test_doc_freq_counts_documents_not_occurrences(index: KeywordIndex) -> None:
    assert index.doc_freq["shuffl"] == 2
    assert index.doc_freq["spark.sql.shuffle.partitions"] == 1
    assert index.doc_freq["sql"] == 2
    assert "nope" not in index.doc_freq


def test_idf_exact_values(index: KeywordIndex) -> None:
    assert index.idf("shuffl") == pytest.approx(math.log(1 + 4 / 2.5))
    assert index.idf("kerbero") == pytest.approx(math.log(1 + 4 / 1.5))
    assert index.idf("never-seen") == pytest.approx(math.log(1 + 4 / 0.5))
    # Rarer words weigh more.
    assert index.idf("never-seen") > index.idf("kerbero") > index.idf("shuffl")


def test_knows_prefix(index: KeywordIndex) -> None:
    [kerberized] = tokenize("kerberized")
    assert index.knows_prefix(kerberized)  # kerber... ~ kerberos
    assert index.knows_prefix("shuffling")
    assert not index.knows_prefix("snowpipe")
    assert not index.knows_prefix("kerbx")
    assert index.knows_prefix("jdbcx", length=4)
    assert not index.knows_prefix("jdbx", length=4)
