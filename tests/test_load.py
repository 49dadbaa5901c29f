"""Load: 20 askers share one KnowledgeBase on a small real index for a bounded time, no errors
(the hash backend's vectors: what is checked is sharing, not what the vectors mean)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from ingest.sources import SourceSpec
from rag.evaluate import answer_problems
from rag.kb import KnowledgeBase
from rag.load import run_load
from rag.models import Answer, Hit
from rag.retrieval import Filters
from rag.settings import Settings
from tests.indexes import build_small_index, ingest

QUESTIONS = (
    "How do I enable column mapping with delta.columnMapping.mode?",
    "How do I add a CHECK constraint to a Delta table?",
    "How do I set the JDBC fetchsize option?",
    "How do I transition a model version to Production in the registry?",
    "How long do we keep bronze tables before VACUUM?",
    "Can a Delta column have a default value?",
    "Who won the 2018 FIFA World Cup?",
    "How do I configure a Snowpipe with auto-ingest?",
    "What is a good recipe for banana bread?",
)
ASKERS = 20
SECONDS = 10.0
LATE_NOTE = """# Gold compaction

## Schedule

Our team runs OPTIMIZE with ZORDER on the gold tables every Sunday at 03:00.
The job is called weekly-gold-zorder and it lives in the ops workspace.
"""


@pytest.fixture(scope="module")
def index(
    tmp_path_factory: pytest.TempPathFactory, shared_corpus: Path, hash_embedder: Any
) -> Settings:
    return build_small_index(
        tmp_path_factory.mktemp("load"), shared_corpus, hash_embedder, embed_backend="hash"
    )


def test_twenty_askers_share_one_knowledge_base_without_errors(
    index: Settings, hash_embedder: Any
) -> None:
    # A fresh KnowledgeBase: the askers race to build its retriever and snapshot.
    kb = KnowledgeBase(index, embedder=hash_embedder)
    products = ("delta", "spark", "team")
    report = run_load(kb, QUESTIONS, askers=ASKERS, seconds=SECONDS, products=products)
    summary = report.summary()
    print(
        f"\naskers: {summary['askers']}, questions: {summary['questions']}, "
        f"errors: {summary['errors']}, p50 {summary['p50_ms']} ms, p95 {summary['p95_ms']} ms, "
        f"{summary['throughput_qps']} calls/s"
    )
    assert report.errors == []
    assert summary["askers"] == ASKERS and summary["questions"] >= ASKERS * 3
    assert {"ask", "ask_stream", "search"} <= set(report.latencies)
    assert report.refused > 0  # the off-corpus questions were asked and declined
    assert SECONDS <= report.seconds < SECONDS + 30  # bounded: no asker hung
    assert summary["p95_ms"] >= summary["p50_ms"] > 0
    assert [t for t in threading.enumerate() if t.name.startswith("asker-")] == []


def test_answers_under_load_match_answers_alone(index: Settings, hash_embedder: Any) -> None:
    kb = KnowledgeBase(index, embedder=hash_embedder)
    alone = {q: kb.ask(q).text for q in QUESTIONS[:4]}
    results: dict[int, str] = {}
    errors: list[BaseException] = []

    def asker(n: int) -> None:
        try:
            results[n] = kb.ask(QUESTIONS[n % 4]).text
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=asker, args=(n,)) for n in range(ASKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert {n: text for n, text in results.items()} == {
        n: alone[QUESTIONS[n % 4]] for n in range(ASKERS)
    }


def test_the_load_check_catches_malformed_answers() -> None:
    hit = Hit(
        id="a", text="Delta tables keep their history.", score=1.0, metadata={"product": "delta"}
    )
    good = Answer("q", "- Delta tables keep their history. [1]\n", [hit], citations=[1])
    assert answer_problems(good, Filters(products=("delta",))) == []
    out_of_range = Answer("q", "- Delta tables keep their history. [3]\n", [hit], citations=[3])
    assert any("out of range" in p for p in answer_problems(out_of_range, Filters()))
    invented = Answer("q", "- Spark streams are fast. [1]\n", [hit], citations=[1])
    assert any("point at no passage" in p for p in answer_problems(invented, Filters()))
    leaked = answer_problems(good, Filters(products=("spark",)))
    assert any("leaked ['delta']" in p for p in leaked)
    assert "a refusal with citations" in answer_problems(
        Answer("q", "Not found [1]", [hit], citations=[1], refused=True), Filters()
    )


def test_racing_askers_build_one_retriever(index: Settings, hash_embedder: Any) -> None:
    kb = KnowledgeBase(index, embedder=hash_embedder)
    gate = threading.Barrier(ASKERS)
    seen: list[object] = []

    def first_use() -> None:
        gate.wait()
        seen.append(kb.retriever)

    threads = [threading.Thread(target=first_use) for _ in range(ASKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(seen) == ASKERS and len({id(r) for r in seen}) == 1


def test_an_ingest_during_the_load_is_picked_up_without_errors(
    tmp_path: Path, shared_corpus: Path, hash_embedder: Any
) -> None:
    settings = build_small_index(
        tmp_path / "late", shared_corpus, hash_embedder, embed_backend="hash"
    )
    kb = KnowledgeBase(settings, embedder=hash_embedder)
    question = "When does the weekly-gold-zorder job run OPTIMIZE?"
    assert all(h.source != "gold-compaction.md" for h in kb.search(question, 6))
    notes = tmp_path / "late-notes"
    notes.mkdir()
    (notes / "gold-compaction.md").write_text(LATE_NOTE)

    def late_ingest() -> None:
        threading.Event().wait(2.0)  # the askers are busy by then
        ingest(settings, [SourceSpec(str(notes), product="team")], hash_embedder)

    writer = threading.Thread(target=late_ingest)
    writer.start()
    report = run_load(kb, (*QUESTIONS, question), askers=10, seconds=4.0, products=("team",))
    writer.join(timeout=60)
    assert report.errors == []
    answer = kb.ask(question)
    assert answer.hits[0].source == "gold-compaction.md"
    assert not answer.refused and "weekly-gold-zorder" in answer.text
