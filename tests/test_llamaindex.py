"""lakesage inside LlamaIndex: the retriever on a small real index, and a RetrieverQueryEngine
over it answering with a real local model (SmolLM2 through llama.cpp)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from llama_index.core import instrumentation
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.instrumentation.events.llm import LLMCompletionEndEvent
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.schema import MetadataMode, NodeWithScore
from pydantic import Field

from rag.kb import KnowledgeBase
from rag.llamaindex import LakesageRetriever, query_engine
from rag.retrieval import Filters
from rag.settings import Settings
from tests.conftest import REPO, smollm2_gguf
from tests.indexes import DELTA_VERSION, SPARK_VERSION

QUESTION = "How do I enable column mapping with delta.columnMapping.mode?"


@pytest.fixture(scope="module")
def index(small_index: Settings) -> Settings:
    return small_index


@pytest.fixture(scope="module")
def kb(index: Settings, embedder: Any) -> KnowledgeBase:
    return KnowledgeBase(index, embedder=embedder)


# The retriever alone


def test_nodes_are_the_knowledge_bases_hits_with_their_citation(kb: KnowledgeBase) -> None:
    nodes = LakesageRetriever(kb, k=4).retrieve(QUESTION)
    hits = kb.search(QUESTION, 4)
    assert [n.node.node_id for n in nodes] == [h.id for h in hits]
    assert [n.score for n in nodes] == [h.score for h in hits]
    assert [n.node.get_content() for n in nodes] == [h.text for h in hits]
    top = nodes[0].node.metadata
    assert top["source"] == "delta/docs/delta-column-mapping.mdx"
    assert top["product"] == "delta" and top["version"] == DELTA_VERSION
    assert top["url"].startswith("https://github.com/delta-io/delta/blob/")
    assert top["heading_path"].startswith(top["title"] + " > ")
    assert top["release"] == f"Delta Lake {DELTA_VERSION}"
    assert top["citation"] == hits[0].citation
    assert top["heading_path"] in top["citation"] and top["source"] in top["citation"]


def test_the_llm_reads_the_passage_and_its_citation_label_only(kb: KnowledgeBase) -> None:
    node = LakesageRetriever(kb, k=1).retrieve(QUESTION)[0].node
    shown = node.get_content(MetadataMode.LLM)
    assert node.get_content() in shown
    assert f"citation: {node.metadata['citation']}" in shown
    assert "url: " not in shown and "product: " not in shown


def test_pdf_passages_keep_their_page(kb: KnowledgeBase) -> None:
    nodes = LakesageRetriever(kb, k=3, filters=Filters(sources=("pdf/",))).retrieve(
        "Delta Lake project charter"
    )
    assert nodes
    for found in nodes:
        assert found.node.metadata["source"].endswith(".pdf")
        page = found.node.metadata["page"]
        assert isinstance(page, int) and page >= 1
        assert f" p.{page}" in found.node.metadata["citation"]


@pytest.mark.parametrize("k", [1, 3, 6])
def test_k_is_honoured(kb: KnowledgeBase, k: int) -> None:
    assert len(LakesageRetriever(kb, k=k).retrieve(QUESTION)) == k


def test_filters_restrict_the_products(kb: KnowledgeBase) -> None:
    spark = LakesageRetriever(kb, k=5, filters=Filters(products=("spark",))).retrieve(QUESTION)
    assert len(spark) == 5
    assert {n.node.metadata["product"] for n in spark} == {"spark"}
    assert {n.node.metadata["version"] for n in spark} == {SPARK_VERSION}
    unfiltered = LakesageRetriever(kb, k=5).retrieve(QUESTION)
    assert "delta" in {n.node.metadata["product"] for n in unfiltered}


def test_rag_imports_without_llamaindex() -> None:
    script = (
        "import sys\n"
        "sys.modules['llama_index'] = None\n"  # an import of it now fails
        "import rag.kb, rag.cli, rag.answer, rag.evaluate\n"
        "try:\n"
        "    import rag.llamaindex\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == (
        "rag.llamaindex needs LlamaIndex: pip install 'lakesage[llamaindex]'"
    )


# A real LlamaIndex pipeline with a real local model


def chatml(completion: str) -> str:
    """SmolLM2's chat template around one user turn."""
    return f"<|im_start|>user\n{completion}<|im_end|>\n<|im_start|>assistant\n"


@pytest.fixture(scope="module")
def smollm() -> Iterator[Any]:
    model = smollm2_gguf()
    from llama_index.llms.llama_cpp import LlamaCPP

    llm = LlamaCPP(
        model_path=str(model),
        temperature=0.0,
        max_new_tokens=32,
        context_window=2048,
        completion_to_prompt=chatml,
        messages_to_prompt=lambda messages: chatml("\n".join(str(m.content) for m in messages)),
        model_kwargs={"n_gpu_layers": 0, "seed": 0},
        verbose=False,
    )
    yield llm
    llm._model.close()  # now, not in interpreter teardown, where its destructor fails


class Completions(BaseEventHandler):
    """Every completion the LLM returns, with the prompt it was given."""

    seen: list[LLMCompletionEndEvent] = Field(default_factory=list)

    @classmethod
    def class_name(cls) -> str:
        return "Completions"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        if isinstance(event, LLMCompletionEndEvent):
            self.seen.append(event)


@pytest.fixture
def completions() -> Any:
    handler = Completions()
    dispatcher = instrumentation.get_dispatcher()
    dispatcher.add_event_handler(handler)
    yield handler.seen
    dispatcher.event_handlers.remove(handler)


def test_query_engine_answers_from_the_passages_with_a_local_model(
    kb: KnowledgeBase, smollm: Any, completions: list[LLMCompletionEndEvent]
) -> None:
    engine = query_engine(kb, smollm, k=2, filters=Filters(products=("delta",)))
    assert isinstance(engine, RetrieverQueryEngine)
    response = engine.query(QUESTION)

    sources: list[NodeWithScore] = response.source_nodes
    assert len(sources) == 2
    assert [n.node.node_id for n in sources] == [
        h.id for h in kb.search(QUESTION, 2, Filters(products=("delta",)))
    ]
    for found in sources:
        meta = found.node.metadata
        assert meta["product"] == "delta" and meta["version"] == DELTA_VERSION
        assert meta["source"].startswith("delta/docs/")
        assert " > " in meta["heading_path"]
        assert meta["url"].startswith("https://github.com/delta-io/delta/blob/")
        assert meta["citation"].startswith(f"Delta Lake {DELTA_VERSION} · ")

    # The model was prompted with the passages and their labels, and wrote the answer.
    assert completions, "the LLM was never called"
    prompts = "\n".join(event.prompt for event in completions)
    for found in sources:
        assert found.node.get_content() in prompts
        assert found.node.metadata["citation"] in prompts
    passage_tokens = sum(
        len(smollm._model.tokenize(n.node.get_content().encode(), add_bos=False)) for n in sources
    )
    usages = [event.response.raw["usage"] for event in completions]
    assert sum(u["prompt_tokens"] for u in usages) >= passage_tokens
    assert all(0 < u["completion_tokens"] <= 32 for u in usages)
    last = completions[-1].response
    assert response.response is not None and response.response.strip()
    assert response.response.strip() == last.text.strip()
