"""The torch backend: all-MiniLM-style models run with sentence-transformers on the CPU."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import numpy as np

from rag.embedder_base import BaseEmbedder, resolve_model_path
from rag.errors import SettingsError
from rag.offline import go_offline
from rag.packaged_models import packaged

if TYPE_CHECKING:
    from rag.settings import Settings


class SentenceTransformerEmbedder(BaseEmbedder):
    """The model's own sentence-transformers pipeline in fp32, weights loaded on first embed."""

    def __init__(self, name: str, model_path: Path, batch_size: int = 32, threads: int = 0) -> None:
        super().__init__(name, model_path, batch_size)
        self.threads = threads

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        """The embedder the settings describe, with their thread count."""
        model = packaged(settings.embed_model)
        if model and model.onnx_file:
            raise SettingsError(
                f"{settings.embed_model} ships as an ONNX file only, which the torch backend "
                "cannot load; set LAKESAGE_EMBED_BACKEND=onnx-int8"
            )
        model_path = resolve_model_path(settings.embed_model)
        return cls(
            settings.embed_model,
            model_path,
            settings.embed_batch_size,
            threads=settings.embed_threads,
        )

    @cached_property
    def model(self) -> Any:
        """The loaded model; loading is deferred so token counting stays cheap."""
        go_offline()
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        if self.threads:
            torch.set_num_threads(self.threads)
        return SentenceTransformer(str(self.model_path), device="cpu", local_files_only=True)

    @cached_property
    def dim(self) -> int:
        """Vector dimensions as the loaded pipeline reports them (a Dense layer may change them)."""
        model = self.model
        getter = (
            getattr(model, "get_embedding_dimension", None)
            or model.get_sentence_embedding_dimension
        )
        return int(getter())

    def embed_batch(self, texts: Sequence[str], encodings: Sequence[Any]) -> np.ndarray:
        """One batch through the sentence-transformers pipeline (which tokenizes it again)."""
        vectors = self.model.encode(
            list(texts),
            batch_size=len(texts),
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)
