"""rag/feedback.py: cited claims and highlights, the feedback log, the Markdown transcript."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.errors import LakesageError
from rag.feedback import (
    ChatTurn,
    Feedback,
    FeedbackLog,
    citation_records,
    cited_claims,
    highlight_spans,
    history_of,
    sentence_spans,
    transcript_markdown,
)
from rag.models import Answer, Hit

CONSTRAINTS = (
    "Delta tables support standard SQL constraint management clauses.\n"
    "When a constraint is violated, Delta Lake throws an\n"
    "`InvariantViolationException` to signal that the new data can't be added.\n\n"
    "```sql\nALTER TABLE people ADD CONSTRAINT dateWithinRange CHECK (birthDate > '1900-01-01');\n```"
)


def hit(text: str, **meta: object) -> Hit:
    return Hit(id=str(meta.get("source", "x")), text=text, score=1.0, metadata=dict(meta))


@pytest.fixture
def answer() -> Answer:
    hits = [
        hit(
            CONSTRAINTS,
            source="delta/docs/delta-constraints.mdx",
            title="Constraints",
            heading_path="Constraints > CHECK constraint",
            product="delta",
            url="https://github.com/delta-io/delta/blob/abc/docs/constraints.mdx",
        ),
        hit("Unrelated passage.", source="other.md", title="Other", product="docs"),
        hit("Page text of the charter.", source="pdf/charter.pdf", title="Charter", page=6),
    ]
    text = (
        "As a Databricks developer: the indexed docs say:\n\n"
        "- When a constraint is violated, Delta Lake throws an `InvariantViolationException` "
        "to signal that the new data can't be added. [1]\n"
        "```sql\nALTER TABLE people ADD CONSTRAINT dateWithinRange CHECK "
        "(birthDate > '1900-01-01');\n```\n[1]\n\n"
        "- Page text of the charter. [3][9]\n"
    )
    return Answer(
        question="Which exception does Delta raise?",
        text=text,
        hits=hits,
        citations=[1, 3],
        persona="databricks-developer",
    )


def test_cited_claims_take_the_line_or_code_block_before_each_citation(answer: Answer) -> None:
    claims = cited_claims(answer)
    assert set(claims) == {1, 3}  # [9] names no passage
    assert claims[1][0].startswith("When a constraint is violated")
    assert claims[1][0].endswith("can't be added.")
    assert claims[1][1].startswith("ALTER TABLE people") and "```" not in claims[1][1]
    assert claims[3] == ["Page text of the charter."]


def test_back_to_back_citations_share_the_claim() -> None:
    hits = [hit("Alpha beta gamma delta."), hit("Alpha beta gamma delta again.")]
    answer = Answer(question="q", text="- Alpha beta gamma delta. [1][2]\n", hits=hits)
    assert cited_claims(answer) == {1: ["Alpha beta gamma delta."], 2: ["Alpha beta gamma delta."]}


def test_highlight_finds_a_quote_across_hard_wrapped_lines(answer: Answer) -> None:
    claims = cited_claims(answer)[1]
    spans = highlight_spans(CONSTRAINTS, claims)
    marked = [CONSTRAINTS[a:b] for a, b in spans]
    assert marked[0].startswith("When a constraint is violated, Delta Lake throws an\n")
    assert marked[0].endswith("can't be added.")
    assert marked[1].startswith("ALTER TABLE people") and marked[1].endswith("'1900-01-01');")


def test_highlight_falls_back_to_sentences_a_paraphrase_repeats() -> None:
    passage = "Delta checks each row. A violated CHECK constraint makes Delta throw an error.\n"
    claim = "Delta will throw an error when a CHECK constraint is violated"
    assert [passage[a:b] for a, b in highlight_spans(passage, [claim])] == [
        "A violated CHECK constraint makes Delta throw an error."
    ]
    assert highlight_spans(passage, ["something else entirely, about clusters"]) == []
    assert highlight_spans(passage, ["", "   "]) == []


def test_highlight_spans_are_merged_and_sorted() -> None:
    passage = "One two three. Four five six. Seven eight nine."
    spans = highlight_spans(passage, ["Four five six.", "One two three. Four five"])
    assert spans == [(0, len("One two three. Four five six."))]


def test_sentence_spans_leave_out_the_spaces_between() -> None:
    text = "  First one. Second one!\n\nThird paragraph  "
    assert [text[a:b] for a, b in sentence_spans(text)] == [
        "First one.",
        "Second one!",
        "Third paragraph",
    ]


def test_citation_records_name_where_each_cited_passage_comes_from(answer: Answer) -> None:
    records = citation_records(answer)
    assert [r["n"] for r in records] == [1, 3]
    assert records[0]["source"] == "delta/docs/delta-constraints.mdx"
    assert records[0]["url"].startswith("https://github.com/")
    assert records[0]["product"] == "delta" and records[0]["claims"]
    assert records[1]["page"] == 6 and records[1]["url"] is None


def test_feedback_log_appends_and_the_last_entry_per_answer_wins(
    answer: Answer, tmp_path: Path
) -> None:
    log = FeedbackLog(tmp_path / "home" / "feedback.jsonl")
    assert log.read() == []
    log.add(Feedback.of("a1", answer, "up"))
    log.add(Feedback.of("a1", answer, "down", "  the code block is wrong  "))
    log.add(Feedback.of("a2", answer, "up"))
    lines = (tmp_path / "home" / "feedback.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3
    first = json.loads(lines[0])
    assert first["question"] == "Which exception does Delta raise?"
    assert first["answer"] == answer.text and first["rating"] == "up"
    assert [c["source"] for c in first["citations"]] == [
        "delta/docs/delta-constraints.mdx",
        "pdf/charter.pdf",
    ]
    latest = log.latest()
    assert latest["a1"].rating == "down" and latest["a1"].comment == "the code block is wrong"
    assert set(latest) == {"a1", "a2"}


def test_feedback_log_refuses_bad_ratings_and_names_damaged_lines(
    answer: Answer, tmp_path: Path
) -> None:
    log = FeedbackLog(tmp_path / "feedback.jsonl")
    entry = Feedback.of("a1", answer, "up")
    entry.rating = "meh"  # type: ignore[assignment]
    with pytest.raises(LakesageError, match="'up' or 'down'"):
        log.add(entry)
    (tmp_path / "feedback.jsonl").write_text('{"answer_id": "a1"}\n\nnot json\n')
    with pytest.raises(LakesageError, match=r"feedback\.jsonl:1: not a feedback entry"):
        log.read()


def test_transcript_lists_turns_and_numbered_sources(answer: Answer) -> None:
    turns = [
        ChatTurn("user", "Which exception does Delta raise?"),
        ChatTurn("assistant", answer.text, answer),
        ChatTurn("user", "And for NOT NULL?"),
        ChatTurn("assistant", "Not found in the indexed docs."),
    ]
    text = transcript_markdown(turns, when=0)
    assert text.startswith("# lakesage chat\n")
    assert text.count("## Question") == 2 and text.count("### Answer") == 2
    assert (
        "1. [Constraints > CHECK constraint]"
        "(https://github.com/delta-io/delta/blob/abc/docs/constraints.mdx)"
        " — `delta/docs/delta-constraints.mdx` (delta)"
    ) in text
    assert "3. Charter — `pdf/charter.pdf` (page 6)" in text
    assert text.index("And for NOT NULL?") > text.index("Sources:")
    assert text.endswith("Not found in the indexed docs.\n")


def test_a_notebook_passage_is_cited_with_its_cells() -> None:
    cells = hit(
        "Load the events.", source="etl.py", title="Etl", product="team", cell=2, last_cell=3
    )
    answer = Answer(question="How?", text="Load the events. [1]", hits=[cells], citations=[1])
    record = citation_records(answer)[0]
    assert (record["page"], record["cell"], record["last_cell"]) == (None, 2, 3)
    turns = [ChatTurn("user", "How?"), ChatTurn("assistant", answer.text, answer)]
    assert "1. Etl — `etl.py` (team, cells 2-3)" in transcript_markdown(turns, when=0)


def test_history_of_gives_role_text_pairs() -> None:
    turns = [ChatTurn("user", "q"), ChatTurn("assistant", "a")]
    assert history_of(turns) == [("user", "q"), ("assistant", "a")]
    assert turns[0].id != turns[1].id
