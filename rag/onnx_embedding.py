"""An ONNX Runtime embedder: the packaged model exported and int8-quantised locally, once.

The first use exports the local transformer weights to ONNX (and a dynamic int8 copy) under
``cache_dir/onnx/<model folder>-<weights hash>/``; later runs load those files. Pooling (the mean
over the attention mask) runs in numpy and the base normalises, as sentence-transformers'
Transformer + Pooling(mean) + Normalize modules do.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import numpy as np

from rag.embedder_base import BaseEmbedder, resolve_model_path
from rag.errors import LakesageError
from rag.offline import go_offline

if TYPE_CHECKING:
    from rag.settings import Settings

INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OPSET = 17
# Bump when the export recipe changes, so old caches are not reused.
RECIPE = "v2"
FP32_FILE = "model.onnx"
INT8_FILE = "model-int8.onnx"


def weights_file(model_path: Path) -> Path:
    """The model's weights file (safetensors preferred)."""
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (model_path / name).is_file():
            return model_path / name
    raise FileNotFoundError(f"no model.safetensors or pytorch_model.bin in {model_path}")


def cache_key(model_path: Path) -> str:
    """Model folder name plus a short hash of the weights' size and mtime and the recipe."""
    stat = weights_file(model_path).stat()
    raw = f"{model_path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{RECIPE}|{OPSET}"
    return f"{model_path.name}-{hashlib.sha256(raw.encode()).hexdigest()[:12]}"


def _export_fp32(model_path: Path, out: Path) -> None:
    """Trace the local transformer to ONNX with dynamic batch and sequence axes."""
    go_offline()
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    # Eager attention traces to plain ops that honour the mask for any padding.
    model = AutoModel.from_pretrained(
        str(model_path), local_files_only=True, attn_implementation="eager"
    ).eval()

    class LastHidden(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(
            self,
            input_ids: torch.Tensor,
            attention_mask: torch.Tensor,
            token_type_ids: torch.Tensor,
        ) -> torch.Tensor:
            output = self.inner(
                input_ids=input_ids,
                attention_mask=attention_mask,
                token_type_ids=token_type_ids,
            )
            return output.last_hidden_state

    # A padded example, so the traced graph keeps the masking path.
    input_ids = torch.tensor([[101, 2023, 2003, 1037, 3231, 102], [101, 3231, 102, 0, 0, 0]])
    attention_mask = (input_ids != 0).long()
    token_type_ids = torch.zeros_like(input_ids)
    axes = {0: "batch", 1: "sequence"}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            LastHidden(model),
            (input_ids, attention_mask, token_type_ids),
            str(out),
            input_names=list(INPUT_NAMES),
            output_names=["last_hidden_state"],
            dynamic_axes={name: axes for name in (*INPUT_NAMES, "last_hidden_state")},
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )


def _quantize_int8(source: Path, out: Path) -> None:
    """Dynamic int8 weights, per output channel, for the weight matmuls only.

    Per-channel lifts the mean cosine to fp32 from ~0.95 to ~0.99; leaving the
    activation-by-activation attention matmuls in fp32 (MatMulConstBOnly) lifts the worst case
    from ~0.98 to ~0.99 at no measurable speed cost.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # its "consider pre-processing" hint is noise here
    try:
        quantize_dynamic(
            str(source),
            str(out),
            weight_type=QuantType.QInt8,
            per_channel=True,
            extra_options={"MatMulConstBOnly": True},
        )
    finally:
        root.setLevel(level)


def build_onnx(model_path: Path, cache_dir: Path) -> Path:
    """The folder holding the fp32 and int8 ONNX files, building it atomically when missing."""
    final = cache_dir / "onnx" / cache_key(model_path)
    if (final / FP32_FILE).is_file() and (final / INT8_FILE).is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        _export_fp32(model_path, tmp / FP32_FILE)
        _quantize_int8(tmp / FP32_FILE, tmp / INT8_FILE)
        if final.exists():  # an incomplete leftover (a finished one returned above)
            shutil.rmtree(final, ignore_errors=True)
        try:
            os.rename(tmp, final)
        except OSError:
            # Another process finished first; its copy is as good as ours.
            if not (final / INT8_FILE).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


class OnnxEmbedder(BaseEmbedder):
    """The same model as the torch backend, run with ONNX Runtime (int8 by default).

    Each text runs on its own, on single-threaded runs of one session side by side (one per
    core). Int8 activations are quantised per run, so a text's vector then does not depend on
    the texts beside it (an incremental ingest gives the vectors a fresh one does), and on two
    cores this was twice as fast as batches of 32 on one two-threaded run: no padding, no
    threads waiting on each other inside a run.
    """

    def __init__(
        self,
        name: str,
        model_path: Path,
        cache_dir: Path,
        quantize: bool = True,
        threads: int = 0,
    ) -> None:
        super().__init__(name, model_path, batch_size=1)
        self.threads = threads
        self.cache_dir = cache_dir
        self.quantize = quantize

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        """The int8 embedder the settings describe, its ONNX files in their model cache."""
        return cls(
            settings.embed_model,
            resolve_model_path(settings.embed_model),
            settings.model_cache,
            threads=settings.embed_threads,
        )

    @cached_property
    def onnx_path(self) -> Path:
        """The ONNX file this embedder runs: the one a packaged model ships, else one built on
        first use in a child process, so torch (needed only to export) never weighs on this
        process's memory."""
        model = self.packaged
        if model and model.onnx_file:
            if not self.quantize:
                raise LakesageError(f"{self.name} ships as int8 ONNX only; there is no fp32 copy")
            return self.model_path / model.onnx_file
        folder = self.cache_dir / "onnx" / cache_key(self.model_path)
        if not ((folder / FP32_FILE).is_file() and (folder / INT8_FILE).is_file()):
            started = time.perf_counter()
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "rag.onnx_embedding",
                    str(self.model_path),
                    str(self.cache_dir),
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                last = (done.stderr.strip().splitlines() or ["no output"])[-1]
                raise LakesageError(f"building the ONNX model in {folder} failed: {last}")
            # Once per model and user: say why this first run took longer, and where it went.
            print(
                f"lakesage: exported {self.name} to ONNX int8 on first use in "
                f"{time.perf_counter() - started:.1f} s (cached in {folder})",
                file=sys.stderr,
                flush=True,
            )
        return folder / (INT8_FILE if self.quantize else FP32_FILE)

    @property
    def workers(self) -> int:
        """Runs side by side: the configured threads, else every core."""
        return self.threads or os.cpu_count() or 1

    @cached_property
    def session(self) -> Any:
        """The ONNX Runtime session: single-threaded runs (run() may be called from several
        threads at once), full graph optimisation."""
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        # Busy-waiting workers steal the cores from each other and from other jobs on a small,
        # shared machine: measured 2x slower there with spinning on.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return ort.InferenceSession(
            str(self.onnx_path), options, providers=["CPUExecutionProvider"]
        )

    @cached_property
    def _input_names(self) -> set[str]:
        return {i.name for i in self.session.get_inputs()}

    @cached_property
    def _pad_id(self) -> int:
        pad = self.tokenizer.token_id("[PAD]")
        return int(pad) if pad is not None else 0

    def run_batches(
        self, batches: Iterable[tuple[Sequence[str], Sequence[Any]]]
    ) -> Iterator[np.ndarray]:
        """embed_batch() of each batch, in order, `workers` runs at a time."""
        self.session  # noqa: B018 - built once here, not by the first workers at the same time
        if self.workers == 1:
            yield from super().run_batches(batches)
            return
        with ThreadPoolExecutor(self.workers, thread_name_prefix="lakesage-embed") as pool:
            yield from pool.map(lambda batch: self.embed_batch(*batch), batches)

    def embed_batch(self, texts: Sequence[str], encodings: Sequence[Any]) -> np.ndarray:
        """One batch padded to its longest text, pooled as the model was trained: the mean over
        the attention mask, or the first ([CLS]) token's state."""
        width = max(len(enc.ids) for enc in encodings)
        ids = np.full((len(texts), width), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(texts), width), dtype=np.int64)
        types = np.zeros((len(texts), width), dtype=np.int64)
        for row, enc in enumerate(encodings):
            n = len(enc.ids)
            ids[row, :n] = enc.ids
            mask[row, :n] = 1
            types[row, :n] = enc.type_ids
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        feeds = {k: v for k, v in feeds.items() if k in self._input_names}
        hidden = self.session.run(None, feeds)[0]
        if self.packaged and self.packaged.pooling == "cls":
            return np.asarray(hidden[:, 0, :])
        weights = mask[:, :, None].astype(np.float32)
        return (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)


if __name__ == "__main__":
    build_onnx(Path(sys.argv[1]), Path(sys.argv[2]))
