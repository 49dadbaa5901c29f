"""The evaluation harness: metric functions on hand-made rows, then evaluate() on a real index."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rag.errors import LakesageError
from rag.evaluate import (
    Question,
    Row,
    citation_check,
    evaluate,
    gold_pieces,
    gold_rank,
    is_gold,
    keyword_recall,
    lead_recall,
    named_symbols,
    passage_hit,
    read_questions,
    rows_as_dicts,
    summarize,
)
from rag.kb import KnowledgeBase
from rag.models import Answer, Hit
from rag.settings import Settings
from tests.indexes import build_small_index


def hit(source: str, text: str = "") -> Hit:
    return Hit(id=source, text=text, score=0.0, metadata={"source": source})


def api(symbol: str, source: str = "pkg/module.py") -> Hit:
    """An API-reference passage: a chunk whose metadata names its public dotted symbol."""
    return Hit(id=symbol, text=symbol, score=0.0, metadata={"source": source, "symbol": symbol})


def asking(text: str, *gold: str) -> Question:
    return Question("q", text, gold_docs=gold)


def test_gold_rank() -> None:
    hits = [hit("a.md"), hit("b.md"), hit("c.md"), hit("b.md")]
    assert gold_rank(hits, asking("q", "b.md")) == 2
    assert gold_rank(hits, asking("q", "c.md", "b.md")) == 2
    assert gold_rank(hits, asking("q", "c.md")) == 3
    assert gold_rank(hits, asking("q", "z.md")) is None
    assert gold_rank(hits, asking("q")) is None
    assert gold_rank([], asking("q", "a.md")) is None


def test_gold_rank_counts_the_api_entry_of_a_named_symbol() -> None:
    hits = [hit("a.md"), api("delta.tables.DeltaTable.vacuum", "delta/tables.py"), hit("g.md")]
    assert gold_rank(hits, asking("What does DeltaTable.vacuum() keep?", "g.md")) == 2
    assert gold_rank(hits, asking("What does VACUUM keep?", "g.md")) == 3
    unanswerable = Question("u", "What does DeltaTable.vacuum keep?", answerable=False)
    assert gold_rank(hits, unanswerable) is None


@pytest.mark.parametrize(
    ("question", "names"),
    [
        (
            "How do I call `spark_udf` and DeltaTable.vacuum(spark) like mlflow.sklearn.log_model?",
            ("spark_udf", "DeltaTable.vacuum", "mlflow.sklearn.log_model"),
        ),
        (
            "Use `DeltaTable.forPath(spark, '/p')` then `toPandas()`.",
            ("DeltaTable.forPath", "toPandas"),
        ),
        ("collect() aborts the driver", ("collect",)),
        # Prose, versions, SQL in backticks and a plain word name nothing.
        ("Delta 3.x on v1.2: run `VACUUM t RETAIN 1 HOURS` (not in time).", ()),
        ("spark_udf without backticks, dots or a call", ()),
        ("A sentence ends with mlflow.pyfunc.", ("mlflow.pyfunc",)),
    ],
)
def test_named_symbols(question: str, names: tuple[str, ...]) -> None:
    assert named_symbols(question) == names


@pytest.mark.parametrize(
    ("question", "symbol", "gold"),
    [
        ("How does `DeltaTable.vacuum` pick files?", "delta.tables.DeltaTable.vacuum", True),
        ("How does `DeltaTable.vacuum` pick files?", "DeltaTable.vacuum", True),
        ("How does DeltaTable.vacuum pick files?", "delta.connect.tables.DeltaTable.vacuum", True),
        # Only a whole trailing part matches: no other class, method or parent.
        ("How does DeltaTable.vacuum pick files?", "delta.tables.MyDeltaTable.vacuum", False),
        ("How does DeltaTable.vacuum pick files?", "delta.tables.DeltaTable.vacuumAll", False),
        ("How does DeltaTable.vacuum pick files?", "delta.tables.DeltaTable", False),
        ("How does deltatable.vacuum pick files?", "delta.tables.DeltaTable.vacuum", False),
        ("Log with mlflow.sklearn.log_model", "mlflow.sklearn.log_model", True),
        ("Log with mlflow.sklearn.log_model", "mlflow.pytorch.log_model", False),
        # A compound name alone matches the symbols it ends...
        ("Score with `spark_udf` in parallel", "mlflow.pyfunc.spark_udf", True),
        ("Score with spark_udf(spark, uri)", "mlflow.pyfunc.spark_udf", True),
        ("Convert with `toPandas()`", "pyspark.sql.DataFrame.toPandas", True),
        # ... but not unless written as a name, and a plain word never does.
        ("Score with spark_udf in parallel", "mlflow.pyfunc.spark_udf", False),
        ("How do I use `col`?", "pyspark.sql.functions.col", False),
        ("How do I read `json` files?", "pyspark.sql.DataFrameReader.json", False),
        ("Why does collect() abort?", "pyspark.sql.DataFrame.collect", False),
        ("Read it with spark.read.json", "pyspark.sql.DataFrameReader.json", False),
        ("Read it with `DataFrameReader.json`", "pyspark.sql.DataFrameReader.json", True),
    ],
)
def test_is_gold_symbol_rule(question: str, symbol: str, gold: bool) -> None:
    assert is_gold(api(symbol), asking(question, "guide.md")) is gold


def test_is_gold_by_document_and_never_for_unanswerable_questions() -> None:
    assert is_gold(hit("guide.md"), asking("anything", "guide.md"))
    assert not is_gold(hit("other.md"), asking("anything", "guide.md"))
    assert not is_gold(Hit("x", "", 0.0, {"source": "m.py", "symbol": ""}), asking("`a_b`"))
    named = Question("u", "What is `spark_udf`?", answerable=False)
    assert not is_gold(api("mlflow.pyfunc.spark_udf"), named)


def test_passage_hit_needs_gold_doc_and_keyword_in_top_k() -> None:
    q = Question("1", "q", gold_docs=("gold.md",), keywords=("fetchSize", "batchsize"))
    assert passage_hit([hit("x.md", "fetchsize"), hit("gold.md", "the FETCHSIZE option")], q)
    # A keyword in a non-gold doc, or a gold doc without a keyword, does not count.
    assert not passage_hit([hit("x.md", "fetchsize"), hit("gold.md", "nothing here")], q)
    # Only the top k count.
    late = [hit(f"x{i}.md") for i in range(5)] + [hit("gold.md", "batchsize")]
    assert not passage_hit(late, q)
    assert passage_hit(late, q, k=6)
    assert not passage_hit([hit("gold.md", "fetchsize")], Question("2", "q", ("gold.md",), ()))


def test_keyword_recall() -> None:
    text = "Set `delta.columnMapping.mode` to NAME."
    assert keyword_recall(text, ["delta.columnmapping.mode", "name", "id"]) == pytest.approx(2 / 3)
    assert keyword_recall(text, ["zzz"]) == 0.0
    assert keyword_recall(text, []) == 1.0
    assert keyword_recall("", ["a"]) == 0.0


PASSAGES = [
    hit("a.md", "- Reader version 2 or above.\n- Writer version 5 or\n  above for column mapping."),
    hit("b.md", "Use the fetchsize option.\n\n```sql\nSELECT 1;\n```"),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- Reader version 2 or above. [1]\n", (1, 1)),
        # Hard-wrapped source lines are compared with whitespace collapsed.
        ("- Writer version 5 or above for column mapping. [1]\n", (1, 1)),
        ("- Reader version 2 or above. [2]\n", (1, 0)),
        ("- Reader version 2 or above. [3]\n", (1, 0)),
        ("- Reader version 2 or above. [0]\n", (1, 0)),
        ("```sql\nSELECT 1;\n```\n[2]\n", (1, 1)),
        ("- Use the fetchsize option. [2]\n- Something never said anywhere. [2]\n", (2, 1)),
        # A close paraphrase within the passage's words counts (LLM engines).
        ("Readers need version 2 or above [1].", (1, 1)),
        ("No citations at all.", (0, 0)),
    ],
)
def test_citation_check(text: str, expected: tuple[int, int]) -> None:
    assert citation_check(Answer("q", text, PASSAGES)) == expected


FRAMING = "As a Databricks developer, the indexed docs say:"


def framed(body: str, hits: list[Hit] | None = None, *, refused: bool = False) -> Answer:
    """An answer as the extractive engine writes it: the persona line, then the body."""
    return Answer("q", f"{FRAMING}\n\n{body}", hits or [], refused=refused, framing=FRAMING)


def test_lead_recall_reads_the_first_300_characters_of_the_body() -> None:
    early = "- Set `delta.appendOnly` to true. [1]\n"
    late = "- " + "filler words " * 30 + "then VACUUM runs. [1]\n"
    answer = framed(early + late)
    assert len(early) < 300 < len(early + late) and answer.body.startswith("- Set")
    assert lead_recall(answer, ["delta.appendOnly", "vacuum"]) == 0.5
    assert keyword_recall(answer.text, ["delta.appendOnly", "vacuum"]) == 1.0
    # The persona framing is not the answer: its words do not count.
    assert lead_recall(answer, ["Databricks developer"]) == 0.0
    assert lead_recall(framed(early, refused=True), ["delta.appendOnly"]) == 0.0
    assert lead_recall(Answer("q", early, []), ["delta.appendOnly"]) == 1.0  # no framing


def test_gold_pieces_count_citations_of_returned_passages() -> None:
    hits = [hit("gold.md"), hit("other.md"), api("mlflow.pyfunc.spark_udf")]
    question = asking("How do I use `spark_udf`?", "gold.md")
    body = (
        "- From the guide. [1]\n"
        "- From elsewhere. [2]\n"
        "- The API entry. [3]\n"
        "- Again the guide. [1]\n"
        "- Not a passage. [7]\n"
        "- A quoted \\[2] and `rows[0][1]` are no citations. [2]\n"
        "```python\ndf = rows[1]\n```\n[3]\n"
    )
    assert gold_pieces(framed(body, hits), question) == (6, 4)
    assert gold_pieces(framed(body, hits), asking("Anything?", "gold.md")) == (6, 2)
    assert gold_pieces(framed("No citations.", hits), question) == (0, 0)
    assert gold_pieces(framed(body, hits), Question("u", "q", answerable=False)) == (6, 0)


def row(**values: Any) -> Row:
    base: dict[str, Any] = {"id": "x", "product": "delta", "answerable": True, "question": "q"}
    return Row(**{**base, **values})


ROWS = [
    row(
        id="1",
        gold_rank=1,
        passage_hit5=True,
        keyword_recall=1.0,
        citations=2,
        citations_valid=2,
        latency_ms=10,
        answer_chars=100,
        lead_keyword_recall=1.0,
        pieces=4,
        gold_pieces=3,
    ),
    row(
        id="2",
        product="spark",
        gold_rank=4,
        keyword_recall=0.5,
        citations=3,
        citations_valid=2,
        latency_ms=20,
        answer_chars=300,
        lead_keyword_recall=0.25,
        pieces=1,
        gold_pieces=0,
    ),
    # Refused, and unanswerable: their lengths and pieces must not count.
    row(
        id="3",
        product="spark",
        keyword_recall=0.0,
        refused=True,
        latency_ms=30,
        answer_chars=5,
        lead_keyword_recall=0.0,
        pieces=2,
    ),
    row(id="4", product="none", answerable=False, refused=True, latency_ms=40, answer_chars=7),
    row(
        id="5",
        product="none",
        answerable=False,
        citations=1,
        citations_valid=0,
        latency_ms=50,
        answer_chars=9000,
        pieces=1,
    ),
]


def test_summarize_exact_figures() -> None:
    assert summarize(ROWS) == {
        "questions": 5,
        "answerable": 3,
        "hit@1": 0.3333,
        "hit@3": 0.3333,
        "hit@5": 0.6667,
        "hit@10": 0.6667,
        "mrr@10": 0.4167,  # (1/1 + 1/4 + 0) / 3
        "passage_hit@5": 0.3333,
        "answer_keyword_recall": 0.5,
        "refusal_rate": 0.5,
        "false_refusal_rate": 0.3333,
        "citation_validity": 0.6667,  # 4 valid of 6
        "answer_chars_p50": 200.0,  # rows 1 and 2 only
        "lead_keyword_recall": 0.4167,  # (1 + 0.25 + 0) / 3
        "gold_piece_share": 0.6,  # pooled: 3 of 5 pieces, not the mean of 3/4 and 0/1
        "latency_p50_ms": 30.0,
        "latency_p95_ms": 48.0,
        "hit@5_by_product": {"delta": 1.0, "spark": 0.5},
    }


def test_summarize_cuts_at_k_and_mrr_stops_at_10() -> None:
    figures = summarize([row(gold_rank=11), row(gold_rank=2)], k=3)
    assert [key for key in figures if key.startswith("hit@") and key[4:].isdigit()] == [
        "hit@1",
        "hit@3",
    ]
    assert figures["hit@3"] == 0.5 and figures["hit@1"] == 0.0
    assert figures["mrr@10"] == 0.25  # rank 11 scores 0, rank 2 scores 1/2
    assert figures["refusal_rate"] == 0.0  # no unanswerable questions
    assert figures["answer_keyword_recall"] == 0.0  # None counts as 0
    assert figures["lead_keyword_recall"] == 0.0


def test_summarize_answer_figures_without_answers() -> None:
    refused = [row(refused=True, answer_chars=80, pieces=3, gold_pieces=3)]
    figures = summarize(refused)
    assert figures["answer_chars_p50"] == 0.0 and figures["gold_piece_share"] == 0.0
    # Answers that quote nothing have no gold pieces either.
    assert summarize([row(answer_chars=40)])["gold_piece_share"] == 0.0


def test_summarize_nothing() -> None:
    figures = summarize([])
    assert figures["questions"] == 0 and figures["hit@1"] == 0.0
    assert figures["answer_chars_p50"] == figures["gold_piece_share"] == 0.0
    assert figures["citation_validity"] == 1.0
    assert figures["latency_p50_ms"] == figures["latency_p95_ms"] == 0.0
    assert figures["hit@5_by_product"] == {}


def test_rows_as_dicts_round_trips_through_json() -> None:
    dicts = rows_as_dicts(ROWS[:1])
    assert json.loads(json.dumps(dicts)) == [
        {
            "id": "1",
            "product": "delta",
            "answerable": True,
            "question": "q",
            "gold_rank": 1,
            "passage_hit5": True,
            "keyword_recall": 1.0,
            "refused": False,
            "citations": 2,
            "citations_valid": 2,
            "latency_ms": 10,
            "retrieved": [],
            "answer_chars": 100,
            "lead_keyword_recall": 1.0,
            "pieces": 4,
            "gold_pieces": 3,
        }
    ]


def test_read_questions(tmp_path: Path) -> None:
    path = tmp_path / "dev.jsonl"
    path.write_text(
        '{"id": "d1", "question": "How?", "gold_docs": ["a.md"], "keywords": ["k"], '
        '"product": "delta", "kind": "config"}\n'
        "\n"
        '{"question": "Who won?", "answerable": false}\n'
    )
    assert read_questions(path) == [
        Question("d1", "How?", ("a.md",), ("k",), "delta", "config", True),
        Question("3", "Who won?", (), (), "none", "", False),
    ]


@pytest.mark.parametrize(
    ("content", "line"),
    [
        ('{"question": "ok"}\n{"question": \n', 2),
        ('{"question": "ok"}\n\n{"id": "no question"}\n', 3),
        ('{"question": "ok", "gold_docs": 5}\n', 1),
    ],
)
def test_bad_question_lines_name_file_and_line(tmp_path: Path, content: str, line: int) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text(content)
    with pytest.raises(LakesageError) as caught:
        read_questions(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}: not a question object")
    assert '{"question": ...}' in message


@pytest.mark.parametrize("bad", ["[1, 2]", '"just a string"', "42"])
def test_non_object_lines_name_file_and_line(tmp_path: Path, bad: str) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"question": "ok"}\n' + bad + "\n")
    with pytest.raises(LakesageError, match=r"q\.jsonl:2: not a question object"):
        read_questions(path)


def test_missing_questions_file(tmp_path: Path) -> None:
    with pytest.raises(LakesageError, match=r"nope\.jsonl: cannot read questions .*check the path"):
        read_questions(tmp_path / "nope.jsonl")


class ScriptedKB:
    """A knowledge base that returns the given passages and answer body for every question."""

    def __init__(self, hits: list[Hit], body: str) -> None:
        self.hits = hits
        self.body = body

    def search(self, question: str, k: int = 10) -> list[Hit]:
        return self.hits[:k]

    def ask(self, question: str, engine: str | None = None) -> Answer:
        return framed(self.body, self.hits)


def test_evaluate_scores_the_api_entry_of_a_named_symbol_as_gold() -> None:
    hits = [hit("x.md", "other"), api("mlflow.pyfunc.spark_udf"), hit("guide.md", "spark_udf")]
    body = "- Call spark_udf on the model URI. [2]\n- Then select it. [1]\n"
    kb = ScriptedKB(hits, body)
    named = Question(
        "n", "How do I score with `spark_udf`?", ("guide.md",), ("spark_udf", "missing")
    )
    plain = Question("p", "How do I score a model in parallel?", ("guide.md",), ("spark_udf",))
    figures, (n, p) = evaluate(kb, [named, plain])
    assert (n.gold_rank, p.gold_rank) == (2, 3)
    assert (n.pieces, n.gold_pieces, p.pieces, p.gold_pieces) == (2, 1, 2, 0)
    assert n.answer_chars == p.answer_chars == len(body.strip())
    assert (n.lead_keyword_recall, p.lead_keyword_recall) == (0.5, 1.0)
    assert figures["mrr@10"] == round((1 / 2 + 1 / 3) / 2, 4)
    assert figures["gold_piece_share"] == 0.25 and figures["lead_keyword_recall"] == 0.75


# evaluate() on the small real index

QUESTIONS = [
    Question(
        "cm",
        "How do I enable column mapping with delta.columnMapping.mode?",
        gold_docs=("delta/docs/delta-column-mapping.mdx",),
        keywords=("delta.columnMapping.mode", "name"),
        product="delta",
    ),
    Question(
        "jdbc",
        "How do I set the JDBC fetchsize option?",
        gold_docs=("spark/docs/sql-data-sources-jdbc.md",),
        keywords=("fetchsize",),
        product="spark",
    ),
    Question("fifa", "Who won the 2018 FIFA World Cup?", answerable=False),
]


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory, shared_corpus: Path, embedder: Any) -> Settings:
    return build_small_index(tmp_path_factory.mktemp("evaluate"), shared_corpus, embedder)


def test_evaluate_on_a_real_index(index: Settings, embedder: Any) -> None:
    kb = KnowledgeBase(index, embedder=embedder)
    progress: list[tuple[int, int]] = []
    figures, rows = evaluate(kb, QUESTIONS, k=10, progress=lambda d, n: progress.append((d, n)))
    assert progress == [(1, 3), (2, 3), (3, 3)]
    assert [r.id for r in rows] == ["cm", "jdbc", "fifa"]
    cm, jdbc, fifa = rows
    assert cm.gold_rank == 1 and jdbc.gold_rank == 1 and fifa.gold_rank is None
    assert cm.passage_hit5 and jdbc.passage_hit5 and not fifa.passage_hit5
    assert cm.keyword_recall == 1.0 and jdbc.keyword_recall == 1.0 and fifa.keyword_recall is None
    assert [r.refused for r in rows] == [False, False, True]
    assert cm.citations > 0 and cm.citations_valid == cm.citations
    assert jdbc.citations > 0 and jdbc.citations_valid == jdbc.citations
    assert fifa.citations == 0
    assert all(len(r.retrieved) == 10 and r.latency_ms > 0 for r in rows)
    assert cm.retrieved[0] == "delta/docs/delta-column-mapping.mdx"
    answer = kb.ask(QUESTIONS[0].question)
    assert answer.framing and cm.answer_chars == len(answer.body) < len(answer.text)
    assert 0 < cm.gold_pieces <= cm.pieces == cm.citations
    assert cm.lead_keyword_recall == jdbc.lead_keyword_recall == 1.0
    assert fifa.lead_keyword_recall is None and fifa.gold_pieces == 0

    expected = {
        "questions": 3,
        "answerable": 2,
        "hit@1": 1.0,
        "hit@3": 1.0,
        "hit@5": 1.0,
        "hit@10": 1.0,
        "mrr@10": 1.0,
        "passage_hit@5": 1.0,
        "answer_keyword_recall": 1.0,
        "refusal_rate": 1.0,
        "false_refusal_rate": 0.0,
        "citation_validity": 1.0,
        "lead_keyword_recall": 1.0,
        "hit@5_by_product": {"delta": 1.0, "spark": 1.0},
    }
    assert {key: figures[key] for key in expected} == expected
    assert 0 < figures["gold_piece_share"] <= 1 and figures["answer_chars_p50"] > 0
    assert 0 < figures["latency_p50_ms"] <= figures["latency_p95_ms"]
    assert figures == summarize(rows, 10)
