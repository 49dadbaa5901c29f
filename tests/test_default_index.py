"""Quality on a subset of the default index, built by the real `ingest --mirror` with the
onnx-int8 backend: floors on the harness's figures for the dev questions it answers.

The default index is 80% API reference; so is this subset. Its sources are the default sources
file with each PyPI package swapped for an installed one cut down to the modules that most often
crowd the guides out of the top 10 on the full index (tests never reach PyPI).
"""

from __future__ import annotations

import json
import os
import time
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rag.evaluate import Question, Row, evaluate, read_questions
from rag.kb import KnowledgeBase
from rag.settings import load_settings
from tests.commands import run
from tests.conftest import copy_corpus
from tests.fake_packages import api_subset

REPO = Path(__file__).resolve().parent.parent
# Guides that answer dev questions (each question whose gold docs are all here is asked).
GOLD_GUIDES = (
    "delta/docs/delta-catalog-managed-tables.mdx",
    "delta/docs/delta-change-data-feed.mdx",
    "delta/docs/delta-constraints.mdx",
    "delta/docs/delta-default-columns.mdx",
    "delta/docs/delta-spark-connect.mdx",
    "delta/docs/delta-streaming/index.mdx",
    "delta/docs/delta-uniform.mdx",
    "delta/docs/delta-utility/index.mdx",
    "delta/docs/optimizations-oss/index.mdx",
    "delta/docs/porting.mdx",
    "mlflow/docs/docs/classic-ml/auth/index.mdx",
    "mlflow/docs/docs/classic-ml/deployment/index.mdx",
    "mlflow/docs/docs/classic-ml/evaluation/index.mdx",
    "mlflow/docs/docs/classic-ml/search/search-experiments/index.mdx",
    "mlflow/docs/docs/classic-ml/tracking/artifact-stores/index.mdx",
    "mlflow/docs/docs/classic-ml/tracking/autolog/index.mdx",
    "mlflow/docs/docs/classic-ml/tracking/backend-stores/index.mdx",
    "mlflow/docs/docs/genai/eval-monitor/index.mdx",
    "mlflow/docs/docs/genai/eval-monitor/quickstart.mdx",
    "mlflow/docs/docs/genai/prompt-registry/index.mdx",
    "mlflow/docs/docs/genai/prompt-registry/manage-prompt-lifecycles-with-aliases.mdx",
    "pdf/delta-io_delta/delta-charter.pdf",
    "pdf/delta-io_delta/examples/cheat_sheet/delta_lake_cheat_sheet.pdf",
    "spark/docs/cluster-overview.md",
    "spark/docs/hardware-provisioning.md",
    "spark/docs/sql-data-sources-csv.md",
    "spark/docs/sql-data-sources-jdbc.md",
    "spark/docs/sql-data-sources-load-save-functions.md",
    "spark/docs/sql-performance-tuning.md",
    "spark/docs/sql-ref-syntax-ddl-create-table-datasource.md",
    "spark/docs/sql-ref-syntax-dml-insert-table.md",
    "spark/docs/sql-ref-syntax-qry-select-join.md",
    "spark/docs/sql-ref-syntax-qry-select.md",
    "spark/docs/streaming/index.md",
    "spark/docs/streaming/performance-tips.md",
    "spark/docs/web-ui.md",
)
# Guides on neighbouring topics that answer no dev question.
DISTRACTOR_GUIDES = (
    "delta/docs/best-practices.mdx",
    "delta/docs/concurrency-control.mdx",
    "delta/docs/delta-clustering.mdx",
    "delta/docs/delta-deletion-vectors.mdx",
    "delta/docs/delta-row-tracking.mdx",
    "delta/docs/delta-type-widening.mdx",
    "delta/docs/table-properties.mdx",
    "delta/docs/versioning.mdx",
    "mlflow/docs/docs/classic-ml/mlflow-3/index.mdx",
    "mlflow/docs/docs/classic-ml/model-registry/workflow.mdx",
    "mlflow/docs/docs/classic-ml/tracking/server/index.mdx",
    "mlflow/docs/docs/classic-ml/tracking/tutorials/remote-server/index.mdx",
    "mlflow/docs/docs/genai/concepts/scorers.mdx",
    "mlflow/docs/docs/genai/prompt-registry/create-and-edit-prompts.mdx",
    "pdf/huangyibo_spark-summit-17/k1mateizaharia-170209192348.pdf",
    "spark/docs/monitoring.md",
    "spark/docs/sql-data-sources-generic-options.md",
    "spark/docs/sql-data-sources-json.md",
    "spark/docs/sql-data-sources-orc.md",
    "spark/docs/sql-getting-started.md",
    "spark/docs/sql-ref-syntax-qry-explain.md",
    "spark/docs/sql-ref-syntax-qry-select-groupby.md",
    "spark/docs/sql-ref-syntax-qry-select-window.md",
)
# For each PyPI package of the default sources: the installed distribution standing in for it
# and its modules kept (those most often in the full index's top 10 for the dev questions).
# delta-spark is not installed in the venv, so its API reference (1% of the index) is left out.
API_MODULES: dict[str, tuple[str, tuple[str, ...]]] = {
    "pyspark-client": (
        "pyspark",
        (
            "pyspark/sql/functions/builtin.py",
            "pyspark/sql/dataframe.py",
            "pyspark/sql/readwriter.py",
            "pyspark/sql/merge.py",
            "pyspark/sql/column.py",
            "pyspark/sql/catalog.py",
            "pyspark/sql/session.py",
            "pyspark/sql/streaming/readwriter.py",
            "pyspark/pandas/namespace.py",
        ),
    ),
    "mlflow-skinny": (
        "mlflow-skinny",
        (
            "mlflow/tracking/client.py",
            "mlflow/tracking/fluent.py",
            "mlflow/utils/databricks_utils.py",
            "mlflow/spark/__init__.py",
            "mlflow/projects/databricks.py",
            "mlflow/store/tracking/file_store.py",
            "mlflow/models/cli.py",
            "mlflow/genai/prompts/__init__.py",
            "mlflow/pyfunc/__init__.py",
            "mlflow/models/evaluation/base.py",
            "mlflow/sagemaker/__init__.py",
            "mlflow/server/auth/client.py",
        ),
    ),
}
# About two questions under what the code scored when the subset was set up (43 answerable and
# 10 unanswerable questions; ONNX Runtime's int8 kernels differ a little between CPUs, which can
# swap close ranks: on an AVX2-only AMD EPYC the same code's lead recall was 0.535, not 0.593,
# and its floor is two questions under that). Raise them as quality improves; the scores then
# are in the comments.
FLOORS = {
    "hit@1": 0.83,  # 0.8605
    "hit@5": 0.95,  # 1.0
    "mrr@10": 0.90,  # 0.9264
    "refusal_rate": 0.8,  # 0.9
    "citation_validity": 0.98,  # 1.0
    "answer_keyword_recall": 0.70,  # 0.7267
    "lead_keyword_recall": 0.49,  # 0.593; 0.535 on the AVX2-only machine
    "gold_piece_share": 0.76,  # 0.7962
}
# Figures where less is better: answers must not grow longer, nor answerable questions be refused.
CEILINGS = {
    "false_refusal_rate": 0.05,  # 0.0
    "answer_chars_p50": 900.0,  # 835.0
}
MIN_QUESTIONS = 30

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@dataclass(frozen=True)
class Built:
    """The subset index and what its build cost."""

    home: Path
    seconds: float
    status: dict[str, Any]


def subset_sources(site: Path) -> str:
    """The default sources file, its PyPI packages swapped for installed subsets, paths absolute."""
    sources_file = REPO / "corpus" / "sources.toml"
    entries = tomllib.loads(sources_file.read_text(encoding="utf-8"))["source"]
    lines = []
    for entry in entries:
        entry = dict(entry)
        if "package" in entry:
            package = entry["package"].removeprefix("pypi:").split("==")[0]
            if package not in API_MODULES:
                continue
            dist, modules = API_MODULES[package]
            entry["package"] = f"pkg:{api_subset(site, dist, modules)}"
        if "path" in entry:
            entry["path"] = str((sources_file.parent / entry["path"]).resolve())
        lines.append("[[source]]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in entry.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, shared_corpus: Path) -> Built:
    """`ingest --mirror` of the subset into a fresh home, with the onnx-int8 backend."""
    base = tmp_path_factory.mktemp("default-index")
    mirror = copy_corpus(
        shared_corpus, base / "mirror", (*GOLD_GUIDES, *DISTRACTOR_GUIDES, "MANIFEST.tsv")
    )
    site = base / "site"
    sources = base / "sources.toml"
    sources.write_text(subset_sources(site), encoding="utf-8")
    home = base / "home"
    started = time.perf_counter()
    done = run(
        "ingest",
        "--mirror",
        str(mirror),
        "--json",
        home=home,
        cwd=base,
        timeout=800,
        LAKESAGE_EMBED_BACKEND="onnx-int8",
        LAKESAGE_SOURCES_FILE=str(sources),
        PYTHONPATH=os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH")) if p),
    )
    seconds = round(time.perf_counter() - started, 1)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["failures"] == []
    status = KnowledgeBase(load_settings(home=home)).status()
    return Built(home, seconds, status)


def asked(path: Path) -> list[Question]:
    """The dev questions the subset answers (all their gold docs are in it) and every
    unanswerable one."""
    present = set(GOLD_GUIDES) | set(DISTRACTOR_GUIDES)
    return [
        q
        for q in read_questions(path)
        if not q.answerable or (q.gold_docs and set(q.gold_docs) <= present)
    ]


def report(built: Built, figures: dict[str, Any], rows: Sequence[Row]) -> str:
    """The figures and the build, for the failure message and the test output."""
    api = sum(n["chunks"] for o, n in built.status["sources"].items() if o.startswith("pkg:"))
    missed = [
        f"  {r.id}: rank {r.gold_rank}, {r.retrieved[:3]}"
        for r in rows
        if r.answerable and (r.gold_rank is None or r.gold_rank > 1)
    ]
    return "\n".join(
        [
            f"default-index subset: {built.status['files']} files, {built.status['chunks']} "
            f"chunks ({api} API reference), ingest {built.seconds} s",
            json.dumps(figures),
            "not first at 1:",
            *missed,
        ]
    )


def test_quality_floors_on_the_default_index_subset(
    built: Built, dev_questions: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    questions = asked(dev_questions)
    assert sum(q.answerable for q in questions) >= MIN_QUESTIONS
    kb = KnowledgeBase(load_settings(home=built.home))
    assert kb.settings.embed_backend == "onnx-int8"
    figures, rows = evaluate(kb, questions)
    text = report(built, figures, rows)
    with capsys.disabled():  # shown in the test output without -s
        print(f"\n{text}")
    low = {k: (figures[k], floor) for k, floor in FLOORS.items() if figures[k] < floor}
    high = {k: (figures[k], top) for k, top in CEILINGS.items() if figures[k] > top}
    assert not low and not high, f"below floor {low}, above ceiling {high}\n{text}"
