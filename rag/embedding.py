"""Embedders by name: the protocol the rest of rag uses, the backends and make_embedder."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np

from rag.embedder_base import BaseEmbedder
from rag.errors import UnknownNameError
from rag.hash_embedding import HashEmbedder
from rag.onnx_embedding import OnnxEmbedder
from rag.torch_embedding import SentenceTransformerEmbedder

if TYPE_CHECKING:
    from rag.settings import Settings


class Embedder(Protocol):
    """Turns texts into L2-normalised vectors and counts their word pieces."""

    name: str
    max_tokens: int
    query_prefix: str  # what a question is prefixed with before it is embedded

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


# Backend name -> what builds it from the settings. Each backend imports its heavy library
# (torch, onnxruntime) only when it first embeds, so listing them all here costs nothing.
BACKENDS: dict[str, Callable[[Settings], BaseEmbedder]] = {
    "torch": SentenceTransformerEmbedder.from_settings,
    "onnx-int8": OnnxEmbedder.from_settings,
    "hash": HashEmbedder.from_settings,
}


def make_embedder(settings: Settings) -> Embedder:
    """The embedder of the backend the settings name."""
    try:
        backend = BACKENDS[settings.embed_backend]
    except KeyError:
        raise UnknownNameError(
            f"unknown embed_backend {settings.embed_backend!r}; use one of: {', '.join(BACKENDS)}"
        ) from None
    return backend(settings)


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


def settings_that_built(built: str, wanted: str) -> str:
    """The LAKESAGE_* assignments that turn the identity `wanted` into `built`."""
    (model, backend), (want_model, want_backend) = parse_identity(built), parse_identity(wanted)
    changes = []
    if model != want_model:
        changes.append(f"LAKESAGE_EMBED_MODEL={model}")
    if backend != want_backend:
        changes.append(f"LAKESAGE_EMBED_BACKEND={backend}")
    return " ".join(changes)
