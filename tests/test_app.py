"""The Streamlit app through AppTest, over one small real index built with the real embedder."""

from __future__ import annotations

import json
import shutil
import socket
import threading
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from ingest.pipeline import Pipeline
from ingest.sources import SourceSpec
from rag.models import Hit
from rag.settings import ENGINES, load_settings
from tests.app_pages import CHAT, EVALUATE, INGEST, TIMEOUT, wait_for_ingest
from tests.conftest import smollm2_gguf
from tests.indexes import REGISTER, REGISTER_NOTE, build_legacy_index
from tests.llm_servers import MODEL, Server, openai_route
from ui.safe_markdown import escape_markdown, safe_pieces
from ui.sources_view import passage_markdown, source_label

REPO = Path(__file__).resolve().parent.parent
APP = str(REPO / "app.py")
CORPUS_FILES = (
    "delta/docs/delta-constraints.mdx",
    "mlflow/docs/docs/classic-ml/search/search-experiments/index.mdx",
    "spark/docs/sql-performance-tuning.md",
)
UPSTREAM_VERSION = "4.0.0"
CHECK_QUESTION = "Which exception does Delta raise when a CHECK constraint is violated?"
QUARANTINE = """# Quarantine bucket policy

## Quarantine bucket policy

Raw uploads land in the quarantine bucket for 72 hours before promotion to bronze.
A reviewer pasted this into the ticket: <script>window.__xss=1</script> and it must show as text.
"""
TUTOR = """---
name: spark-tutor
title: Spark Tutor
description: Explains Spark to newcomers.
---

## Role Summary

Explains Spark and Delta Lake step by step to engineers new to them.
"""


@pytest.fixture(scope="module")
def index_home(
    tmp_path_factory: pytest.TempPathFactory, shared_corpus: Path, embedder: Any
) -> Path:
    """Three upstream pages (with their MANIFEST URLs) and two team notes, indexed once."""
    root = tmp_path_factory.mktemp("app-corpus")
    for rel in CORPUS_FILES:
        (root / "upstream" / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(shared_corpus / rel, root / "upstream" / rel)
    shutil.copy(shared_corpus / "MANIFEST.tsv", root / "upstream" / "MANIFEST.tsv")
    (root / "notes").mkdir()
    shutil.copy(REPO / "corpus" / "notes" / "nightly-delta-maintenance.md", root / "notes")
    (root / "notes" / "quarantine.md").write_text(QUARANTINE, encoding="utf-8")
    home = tmp_path_factory.mktemp("app-home")
    report = Pipeline(load_settings(home=home), embedder).run(
        [
            SourceSpec(str(root / "upstream"), name="upstream", version=UPSTREAM_VERSION),
            SourceSpec(str(root / "notes"), name="team-notes", product="team"),
        ]
    )
    assert not report.failures and report.files_indexed == 5
    return home


@pytest.fixture
def home(index_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LAKESAGE_HOME", str(index_home))
    return index_home


def started(*, page: str | None = None) -> AppTest:
    """The app, run once (optionally switched to another page), with no exception."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception
    return at


def ask(at: AppTest, question: str) -> AppTest:
    at.chat_input(key="ask").set_value(question).run()
    assert not at.exception
    return at


def markdown_of(at: AppTest) -> str:
    return "\n".join(str(m.value) for m in at.markdown)


def last_answer(at: AppTest) -> Any:
    return at.session_state["turns"][-1].answer


def test_chat_answers_with_citations_and_sources(home: Path) -> None:
    at = ask(started(), CHECK_QUESTION)
    assert len(at.chat_message) == 2
    answer_text = at.chat_message[1].markdown[0].value
    assert "InvariantViolationException" in answer_text and "[1]" in answer_text
    answer = last_answer(at)
    n, hit = answer.cited_hits()[0]
    assert hit.source == "delta/docs/delta-constraints.mdx"
    labels = [e.label for e in at.expander]
    assert labels[0].startswith(escape_markdown(f"[{n}] {hit.release} · Constraints"))
    assert hit.release.startswith("Delta Lake")
    captions = " ".join(c.value for c in at.caption)
    assert escape_markdown("delta/docs/delta-constraints.mdx") in captions
    assert any(
        b.proto.url.startswith("https://github.com/delta-io/delta/") for b in at.get("link_button")
    )
    passage = "\n".join(m.value for m in at.expander[0].markdown)
    assert (
        ":orange-background[" in passage
        and escape_markdown("InvariantViolationException") in passage
    )
    # The passages' code is shown as code blocks, without the fences' marks.
    code = [block for source in at.expander for block in source.code]
    assert any("ADD CONSTRAINT" in block.value and block.language == "sql" for block in code)
    fence = escape_markdown("```")
    assert not any(fence in m.value for source in at.expander for m in source.markdown)

    ask(at, "How do I drop it again?")  # a follow-up: the history goes with it
    assert len(at.chat_message) == 4
    follow_up = at.chat_message[3].markdown[0].value
    assert "DROP" in follow_up and "constraint" in follow_up.lower()
    assert at.get("download_button"), "the chat can be downloaded once it has turns"


def test_document_text_is_shown_as_text(home: Path) -> None:
    at = ask(started(), "How long do raw uploads stay in the quarantine bucket?")
    sources = [e for e in at.expander if "Quarantine" in e.label]
    # The note's title is also its first heading: the source names it once.
    assert sources and sources[0].label.endswith(escape_markdown(" · Quarantine bucket policy"))
    assert sources[0].label.count("Quarantine") == 1
    passages = [e.markdown[-1].value for e in sources]
    assert passages and r"\<script\>window\.\_\_xss\=1\<\/script\>" in passages[0]
    assert "<script>" not in passages[0]
    assert not at.get("html")


def test_persona_selection_frames_the_answer(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    personas = tmp_path / "personas"
    personas.mkdir()
    shutil.copy(REPO / "personas" / "databricks-developer.md", personas)
    (personas / "spark-tutor.md").write_text(TUTOR, encoding="utf-8")
    monkeypatch.setenv("LAKESAGE_PERSONAS_DIR", str(personas))
    at = started()
    assert at.selectbox(key="persona").options == ["databricks-developer", "spark-tutor"]
    assert at.selectbox(key="persona").value == "databricks-developer"
    at.selectbox(key="persona").set_value("spark-tutor").run()
    ask(at, CHECK_QUESTION)
    assert at.chat_message[1].markdown[0].value.startswith("As a Spark tutor:")
    assert last_answer(at).persona == "spark-tutor"


def test_product_filter_limits_the_passages(home: Path) -> None:
    at = started()
    assert at.multiselect(key="products").options == ["delta", "mlflow", "spark", "team"]
    at.multiselect(key="products").set_value(["team"]).run()
    ask(at, "How often does the Delta table maintenance job run?")
    answer = last_answer(at)
    assert answer.hits and {h.product for h in answer.hits} == {"team"}
    assert "02:00 UTC" in answer.text


def test_release_filter_limits_the_passages(home: Path) -> None:
    at = started()
    releases = at.multiselect(key="versions")
    assert releases.options == [f"{UPSTREAM_VERSION} (delta, mlflow, spark)"]
    releases.set_value([UPSTREAM_VERSION]).run()
    ask(at, "How often does the Delta table maintenance job run?")
    answer = last_answer(at)
    assert answer.hits and {h.metadata.get("version") for h in answer.hits} == {UPSTREAM_VERSION}
    at.multiselect(key="products").set_value(["team"]).run()
    assert "versions" not in [m.key for m in at.multiselect]  # the team notes have no release


def test_passages_slider_sets_k(home: Path) -> None:
    at = started()
    at.slider(key="top_k").set_value(2).run()
    ask(at, CHECK_QUESTION)
    assert len(last_answer(at).hits) == 2


def test_empty_index_points_to_ingest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKESAGE_HOME", str(tmp_path / "empty"))
    at = started()
    assert any("ingest" in i.value.lower() for i in at.info)
    assert not at.chat_input
    assert not at.error


def test_broken_persona_shows_the_fix(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    personas = tmp_path / "personas"
    personas.mkdir()
    shutil.copy(REPO / "personas" / "databricks-developer.md", personas)
    (personas / "broken.md").write_text("## Role Summary\n\nNo front matter here.\n")
    monkeypatch.setenv("LAKESAGE_PERSONAS_DIR", str(personas))
    at = started()
    at.selectbox(key="persona").set_value("broken").run()
    assert not at.exception
    assert len(at.error) == 1
    assert "broken.md: no YAML front matter" in at.error[0].value
    assert not at.chat_input


def test_missing_persona_folder_is_one_error(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKESAGE_PERSONAS_DIR", str(home / "no-such-folder"))
    at = started()
    assert any("LAKESAGE_PERSONAS_DIR" in e.value for e in at.error)


def test_llm_endpoint_down_is_a_clear_error(home: Path) -> None:
    with socket.socket() as probe:  # a loopback port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    at = started()
    assert at.selectbox(key="engine").options == list(ENGINES)
    at.selectbox(key="engine").set_value("openai").run()
    at.text_input(key="llm_base_url").set_value(f"http://127.0.0.1:{port}/v1")
    at.text_input(key="llm_model").set_value("local-model").run()
    ask(at, CHECK_QUESTION)
    assert len(at.error) == 1
    message = at.error[0].value
    assert f"cannot reach the LLM endpoint at http://127.0.0.1:{port}/v1" in message
    assert "LAKESAGE_LLM_BASE_URL" in message
    assert "turns" not in at.session_state or not at.session_state["turns"]


def test_names_an_llm_makes_up_get_a_badge(home: Path) -> None:
    words = ["When a constraint is violated, Delta throws ", "`delta.magic.speedup` [1]."]
    server = Server(openai_route(words, key=None))
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    try:
        at = started()
        at.selectbox(key="engine").set_value("openai").run()
        at.text_input(key="llm_base_url").set_value(f"{server.url}/v1")
        at.text_input(key="llm_model").set_value(MODEL).run()
        ask(at, CHECK_QUESTION)
    finally:
        server.shutdown()
        server.server_close()
    assert not at.exception and not at.error
    answer = last_answer(at)
    assert answer.unverified == ["delta.magic.speedup"]
    # The releases it cites, known once it has cited, show under the streamed text at once.
    assert answer.releases.startswith("Release: Delta Lake")
    assert answer.releases in [m.value for m in at.chat_message[1].markdown]
    captions = " ".join(c.value for c in at.caption)
    assert escape_markdown("Not in the passages or the index: delta.magic.speedup") in captions


def test_an_answer_citing_a_deprecated_entry_gets_a_badge(
    tmp_path_factory: pytest.TempPathFactory, embedder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    legacy = build_legacy_index(tmp_path_factory.mktemp("app-legacy"), embedder)
    monkeypatch.setenv("LAKESAGE_HOME", str(legacy.home))
    at = ask(started(), REGISTER)
    assert not at.error
    assert (
        at.chat_message[1]
        .markdown[0]
        .value.startswith(f"As a Databricks developer:\n\n{REGISTER_NOTE}")
    )
    badges = [m.value for m in at.markdown if "Deprecated]" in str(m.value)]
    assert badges == [":red-badge[:material/history: Deprecated]"]
    captions = " ".join(c.value for c in at.caption)
    assert (
        escape_markdown(
            "fakepkg.DataFrame.registerTempTable is deprecated since 2.0.0; "
            "use DataFrame.createOrReplaceTempView instead."
        )
        in captions
    )

    ask(at, "How do I create a temporary view of a DataFrame?")
    assert len([m for m in at.markdown if "Deprecated]" in str(m.value)]) == 1  # the first's


def test_chat_answers_with_the_configured_local_model(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gguf = smollm2_gguf()
    monkeypatch.setenv("LAKESAGE_LLM_MODEL", str(gguf))
    monkeypatch.setenv("LAKESAGE_LLM_MAX_TOKENS", "24")
    at = started()
    at.selectbox(key="engine").set_value("llamacpp").run()
    assert not at.text_input, "a reader picks no file to load as a model"
    assert escape_markdown(f"Local model: {gguf}") in " ".join(c.value for c in at.caption)
    ask(at, CHECK_QUESTION)
    assert not at.error
    answer = last_answer(at)
    assert answer.engine == "llamacpp" and answer.text.strip() and answer.hits


def test_feedback_is_saved_with_question_answer_and_citations(home: Path) -> None:
    question = "What does Delta Lake throw when a constraint is violated?"
    at = ask(started(), question)
    turn_id = at.session_state["turns"][-1].id
    at.feedback[0].set_value(1).run()
    assert not at.exception
    entries = [json.loads(line) for line in (home / "feedback.jsonl").read_text().splitlines()]
    mine = [e for e in entries if e["answer_id"] == turn_id]
    assert len(mine) == 1 and mine[0]["rating"] == "up" and mine[0]["question"] == question
    assert "InvariantViolationException" in mine[0]["answer"]
    assert mine[0]["citations"][0]["source"] == "delta/docs/delta-constraints.mdx"

    at.text_input(key=f"comment-{turn_id}").set_value("Spot on, thanks")
    next(b for b in at.button if b.label == "Send comment").click().run()
    assert not at.exception
    entries = [json.loads(line) for line in (home / "feedback.jsonl").read_text().splitlines()]
    mine = [e for e in entries if e["answer_id"] == turn_id]
    assert [e["comment"] for e in mine] == ["", "Spot on, thanks"]


def test_ingest_page_asks_for_the_admin_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAKESAGE_HOME", str(tmp_path / "fresh"))
    monkeypatch.setenv("LAKESAGE_ADMIN_PASSWORD", "s3cret-pass")
    at = started(page=INGEST)
    assert any("admin password" in i.value for i in at.info)
    assert not at.file_uploader
    at.text_input(key="admin-password").set_value("wrong").run()
    assert [e.value for e in at.error] == ["Wrong admin password; try again."]
    at.text_input(key="admin-password").set_value("s3cret-pass").run()
    assert not at.error and at.file_uploader
    shown = [str(getattr(e, "value", "")) for e in (*at.markdown, *at.caption, *at.info)]
    assert not any("s3cret-pass" in text for text in shown)


def test_ingest_uploads_in_the_background_then_chat_sees_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "fresh"
    monkeypatch.setenv("LAKESAGE_HOME", str(home))
    at = started(page=INGEST)
    note = (
        b"# Cluster tags\n\nEvery job cluster carries the cost-center tag finops-42 for billing.\n"
    )
    at.file_uploader(key="uploads").set_value(
        [("cluster-tags.md", note, "text/markdown"), ("broken.ipynb", b"{not json", "text/plain")]
    )
    at.selectbox(key="ingest-product").set_value("team")
    at.button(key="ingest-start").click().run()
    assert not at.exception
    wait_for_ingest(at)
    assert "1 files indexed" in at.success[0].value
    assert "broken.ipynb" in at.code[0].value  # the per-file failure report
    assert (home / "uploads" / "cluster-tags.md").read_bytes() == note

    at.switch_page(CHAT).run()
    ask(at, "Which cost-center tag do job clusters carry?")
    assert "finops-42" in at.chat_message[1].markdown[0].value
    assert at.multiselect(key="products").options == ["team"]


def test_evaluation_runs_are_charted_and_kept(home: Path, tmp_path: Path) -> None:
    questions = tmp_path / "questions.jsonl"
    rows = [
        {
            "id": "q1",
            "question": CHECK_QUESTION,
            "gold_docs": ["delta/docs/delta-constraints.mdx"],
            "keywords": ["InvariantViolationException"],
            "product": "delta",
        },
        {
            "id": "q2",
            "question": "How do I search MLflow experiments by name?",
            "gold_docs": ["mlflow/docs/not-indexed.mdx"],  # a deliberate miss
            "product": "mlflow",
        },
        {"id": "q3", "question": "How do I bake sourdough bread?", "answerable": False},
    ]
    questions.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    at = started(page=EVALUATE)
    assert at.text_input(key="eval-path").value.endswith("shared/eval/dev.jsonl")
    at.text_input(key="eval-path").set_value(str(questions))
    at.text_input(key="eval-label").set_value("smoke")
    at.button(key="eval-run").click().run()
    assert not at.exception and not at.error
    runs = sorted((home / "evals").glob("*.json"))
    saved = json.loads(runs[-1].read_text())
    assert saved["label"] == "smoke" and saved["figures"]["hit@1"] == 0.5
    assert saved["rows"][0]["gold_docs"] == ["delta/docs/delta-constraints.mdx"]
    assert len(at.get("vega_lite_chart")) == 3  # hit@k, per product, latency
    assert any(s.value.startswith("Missed at 5: 1 questions") for s in at.subheader)

    # The answer figures: in the figures table beside the old ones, and per question.
    new = ("answer_chars_p50", "lead_keyword_recall", "gold_piece_share")
    [figures] = [d.value for d in at.dataframe if "hit@1" in d.value.index]
    assert {"hit@1", "latency_p50_ms", *new} <= set(figures.index)
    assert [figures.loc[name].iloc[-1] for name in new] == [
        str(saved["figures"][name]) for name in new
    ]
    assert saved["figures"]["gold_piece_share"] > 0 and saved["figures"]["answer_chars_p50"] > 0
    assert "gold_piece_share" in markdown_of(at) and 'metadata "symbol"' in markdown_of(at)
    assert any(s.value == "Per question (smoke)" for s in at.subheader)
    [table] = [d.value for d in at.dataframe if "lead keyword recall" in d.value.columns]
    table = table.set_index("id")
    assert list(table.index) == ["q1", "q2", "q3"]
    q1 = saved["rows"][0]
    assert table.loc["q1", "answer chars"] == q1["answer_chars"] > 0
    assert table.loc["q1", "lead keyword recall"] == q1["lead_keyword_recall"] == 1.0
    assert table.loc["q1", "gold pieces"] == q1["gold_pieces"] > 0
    assert table.loc["q1", "pieces"] == q1["pieces"] >= q1["gold_pieces"]
    assert table.loc["q3", "refused"] and pd.isna(table.loc["q3", "answer chars"])

    at.text_input(key="eval-path").set_value(str(tmp_path / "missing.jsonl"))
    at.button(key="eval-run").click().run()
    assert not at.exception
    assert "cannot read questions" in at.error[0].value


def test_runs_saved_before_the_answer_figures_still_show(home: Path) -> None:
    row = {"id": "q1", "question": "q?", "product": "delta", "answerable": True}
    row |= {"gold_rank": 1, "refused": False, "latency_ms": 5.0, "retrieved": ["a.md"]}
    figures = {"questions": 1, "hit@1": 1.0, "latency_p50_ms": 5.0, "hit@5_by_product": {}}
    old = {"id": "00000000-000000-old", "label": "old", "when": "2025-01-01 00:00:00"}
    new = {"id": "00000000-000001-new", "label": "new", "when": "2025-01-02 00:00:00"}
    new_row = row | {"answer_chars": 120, "lead_keyword_recall": 0.5, "pieces": 2}
    saved = [
        home / "evals" / f"{old['id']}.json",
        home / "evals" / f"{new['id']}.json",
    ]
    saved[0].parent.mkdir(exist_ok=True)
    saved[0].write_text(json.dumps(old | {"figures": figures, "rows": [row]}))
    saved[1].write_text(
        json.dumps(new | {"figures": figures | {"gold_piece_share": 0.5}, "rows": [new_row]})
    )
    try:
        at = started(page=EVALUATE)
        at.multiselect(key="eval-runs").set_value([new["id"], old["id"]]).run()
        assert not at.exception and not at.error
        [table] = [d.value for d in at.dataframe if "hit@1" in d.value.index]
        assert list(table.loc["gold_piece_share"]) == ["0.5", "-"]
        [per_question] = [d.value for d in at.dataframe if "answer chars" in d.value.columns]
        assert pd.isna(per_question["answer chars"][0])  # the old run is the one shown last
    finally:
        for path in saved:
            path.unlink()


def test_markdown_helpers_keep_document_text_literal() -> None:
    text = "  <img src=x onerror=alert(1)> *not bold* [link](javascript:x)\n:red[no] $x$"
    rendered = passage_markdown(text, [(2, 31)])
    assert rendered.startswith(
        "\u00a0\u00a0:orange-background[\\<img src\\=x onerror\\=alert\\(1\\)\\>]"
    )
    assert "\\*not bold\\*" in rendered and "\\[link\\]\\(javascript\\:x\\)" in rendered
    assert "  \n\\:red\\[no\\] \\$x\\$" in rendered
    assert "".join(safe_pieces(["see !", "[img](http://x/a.png) now!"])) == (
        "see !\\[img](http://x/a.png) now!"
    )


def test_a_source_label_names_the_page_or_the_notebook_cells() -> None:
    def labelled(**place: int) -> str:
        meta = {"source": "jobs/etl.py", "title": "Etl", "heading_path": "Etl", "product": "team"}
        return source_label(2, Hit("x", "text", 1.0, {**meta, **place}))

    assert labelled(cell=3) == "[2] team notes · Etl, cell 3"
    assert labelled(cell=3, last_cell=5) == "[2] team notes · Etl, cells 3-5"
    assert labelled(page=4) == "[2] team notes · Etl, page 4"
    assert labelled() == "[2] team notes · Etl"
