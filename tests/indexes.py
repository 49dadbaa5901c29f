"""The small real index of the suite: corpus files copied as in the corpus, tagged sources, a
team note, a vector cache, and the builders test modules use to make their own index cheaply."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ingest.pipeline import Pipeline
from ingest.sources import SourceSpec
from rag.settings import Settings, load_settings
from tests.fake_packages import LEGACY, cache_wheel

SPARK_FILES = ("spark/docs/sql-data-sources-jdbc.md", "spark/docs/sql-ref-datatypes.md")
DELTA_FILES = (
    "delta/docs/delta-constraints.mdx",
    "delta/docs/delta-column-mapping.mdx",
    "delta/docs/delta-default-columns.mdx",
)
OTHER_FILES = (
    "mlflow/docs/docs/classic-ml/model-registry/workflow.mdx",
    "pdf/delta-io_delta/delta-charter.pdf",
)
SPARK_VERSION = "4.0.0"
DELTA_VERSION = "3.3.0"
NOTE_SOURCE = "bronze-retention.md"
NOTE = """# Bronze retention

## Vacuum policy

Our team runs VACUUM on bronze tables every night with a retention of 168 hours.
The job is called nightly-bronze-vacuum and it lives in the ops workspace.
"""
# A question the small index answers (from delta-column-mapping.mdx).
ON_CORPUS = "How do I enable column mapping with delta.columnMapping.mode?"
ALL_SOURCES = {*SPARK_FILES, *DELTA_FILES, *OTHER_FILES, NOTE_SOURCE}
# A question the legacy index answers from a deprecated entry, and the note its answer opens with.
REGISTER = "How do I register a DataFrame as a temporary table with registerTempTable?"
REGISTER_NOTE = (
    "Note: `fakepkg.DataFrame.registerTempTable` is deprecated since 2.0.0; "
    "use `DataFrame.createOrReplaceTempView` instead. [1]"
)


def clean_settings(home: Path, **overrides: Any) -> Settings:
    """Settings for home, read with no LAKESAGE_* variables and no lakesage.toml in sight."""
    with pytest.MonkeyPatch.context() as mp:
        for key in list(os.environ):
            if key.startswith("LAKESAGE_") and not key.startswith("LAKESAGE_TEST_"):
                mp.delenv(key)
        home.parent.mkdir(parents=True, exist_ok=True)
        mp.chdir(home.parent)
        return load_settings(home=home, **overrides)


def copy_files(corpus: Path, root: Path, files: Sequence[str]) -> Path:
    """Copies of real corpus files laid out as in the corpus, with its MANIFEST for URLs."""
    for rel in files:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(corpus / rel, root / rel)
    shutil.copy(corpus / "MANIFEST.tsv", root / "MANIFEST.tsv")
    return root


def lay_out(root: Path, corpus: Path) -> list[SourceSpec]:
    """Spark docs tagged 4.0.0, Delta docs tagged 3.3.0, MLflow and the charter PDF
    untagged, and a team note; the specs that ingest them."""
    notes = root / "notes"
    notes.mkdir(parents=True)
    (notes / NOTE_SOURCE).write_text(NOTE)
    return [
        SourceSpec(str(copy_files(corpus, root / "spark", SPARK_FILES)), version=SPARK_VERSION),
        SourceSpec(str(copy_files(corpus, root / "delta", DELTA_FILES)), version=DELTA_VERSION),
        SourceSpec(str(copy_files(corpus, root / "upstream", OTHER_FILES))),
        SourceSpec(str(notes), product="team"),
    ]


# Vectors by embedder class, then by text: the real model's and the hash backend's never mix.
_VECTORS: dict[str, dict[str, np.ndarray]] = {}


class CachingEmbedder:
    """An embedder remembering vectors by text so each module's index costs one embed."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.vectors = _VECTORS.setdefault(type(inner).__qualname__, {})

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self.vectors))
        if missing:
            self.vectors.update(zip(missing, self.inner.embed(missing), strict=True))
        if not texts:
            return np.zeros((0, self.inner.dim), dtype=np.float32)
        return np.stack([self.vectors[t] for t in texts])


def ingest(settings: Settings, specs: Sequence[SourceSpec], embedder: Any) -> None:
    """Run the real pipeline; every file must go in."""
    report = Pipeline(settings, CachingEmbedder(embedder)).run(list(specs))
    assert report.failures == []


def build_legacy_index(base: Path, embedder: Any) -> Settings:
    """An index of tests.fake_packages.LEGACY alone, as `pypi:` (its wheel cached), under
    base/home, tagged Spark."""
    settings = clean_settings(base / "home")
    spec = cache_wheel(settings.cache_dir, LEGACY)
    ingest(settings, [SourceSpec(spec, product="spark")], embedder)
    return settings


def build_small_index(base: Path, corpus: Path, embedder: Any, **overrides: Any) -> Settings:
    """The small real index of this suite under base/home (settings overrides such as the
    embed_backend of the embedder given)."""
    settings = clean_settings(base / "home", **overrides)
    ingest(settings, lay_out(base / "corpus", corpus), embedder)
    return settings
