"""lakesage inside LlamaIndex: a retriever of cited passages and a query engine over it."""

from __future__ import annotations

from typing import Any

try:
    from llama_index.core.llms import LLM
    from llama_index.core.query_engine import RetrieverQueryEngine
    from llama_index.core.retrievers import BaseRetriever
    from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
except ImportError as exc:  # the rest of `rag` runs without LlamaIndex
    raise ImportError(
        "rag.llamaindex needs LlamaIndex: pip install 'lakesage[llamaindex]'"
    ) from exc

from rag.kb import KnowledgeBase
from rag.models import Hit
from rag.retrieval import Filters

# What a node carries from lakesage's metadata, for citing it wherever the node ends up.
CITATION_KEYS = (
    "source",
    "title",
    "heading_path",
    "product",
    "version",
    "url",
    "page",
    "cell",
    "last_cell",
    "symbol",
)
# The one key the LLM reads beside the passage: the rest would spend a small model's context.
LLM_KEYS = ("citation",)


class LakesageRetriever(BaseRetriever):
    """A LlamaIndex retriever over a KnowledgeBase's hybrid search."""

    def __init__(
        self,
        kb: KnowledgeBase,
        k: int = 5,
        filters: Filters | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.kb = kb
        self.k = k
        self.filters = filters

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        """The k best passages for the query, as scored text nodes."""
        hits = self.kb.search(query_bundle.query_str, self.k, self.filters)
        return [NodeWithScore(node=to_node(hit), score=hit.score) for hit in hits]


def to_node(hit: Hit) -> TextNode:
    """A passage as a text node, its id the chunk's and its metadata lakesage's citation."""
    metadata: dict[str, Any] = {
        key: hit.metadata[key] for key in CITATION_KEYS if hit.metadata.get(key) is not None
    }
    metadata["release"] = hit.release
    metadata["citation"] = hit.citation
    hidden = [key for key in metadata if key not in LLM_KEYS]
    return TextNode(
        id_=hit.id,
        text=hit.text,
        metadata=metadata,
        excluded_llm_metadata_keys=hidden,
        excluded_embed_metadata_keys=list(metadata),
    )


def query_engine(
    kb: KnowledgeBase,
    llm: LLM,
    k: int = 5,
    filters: Filters | None = None,
    **kwargs: Any,
) -> RetrieverQueryEngine:
    # The LLM is required: LlamaIndex's default (Settings.llm) would reach for OpenAI.
    """A LlamaIndex query engine answering with llm from the KnowledgeBase's passages; kwargs
    go to RetrieverQueryEngine.from_args (response_mode, text_qa_template, streaming...)."""
    return RetrieverQueryEngine.from_args(LakesageRetriever(kb, k, filters), llm=llm, **kwargs)
