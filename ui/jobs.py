"""Work the pages leave to background threads: warming up the model and index, and ingests."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st

from ingest.pipeline import Pipeline, Report
from ingest.sources import SourceSpec
from rag.embedding import Embedder
from rag.errors import LakesageError
from rag.kb import KnowledgeBase
from rag.settings import Settings
from ui.knowledge_base import knowledge_base


def warm_up(settings: Settings) -> None:
    """Load the model and the index in the background (once), while the reader types."""
    _warm_up_thread(settings.model_dump_json(), knowledge_base(settings))


@st.cache_resource(show_spinner=False)
def _warm_up_thread(key: str, _kb: KnowledgeBase) -> threading.Thread:
    """The one background thread that warms up a knowledge base."""
    thread = threading.Thread(target=_warm_up, args=(_kb,), name="lakesage-warm-up", daemon=True)
    thread.start()
    return thread


def _warm_up(kb: KnowledgeBase) -> None:
    """Load the model weights and the index snapshot before the first question needs them."""
    try:
        kb.embedder.embed(["warm up"])
        kb.retriever.snapshot()
    except Exception:  # noqa: BLE001 - best effort: the first question reports any real problem
        pass


@dataclass
class IngestJob:
    """One ingest running in a background thread; the pages poll its report."""

    specs: list[SourceSpec]
    report: Report = field(default_factory=Report)
    error: str | None = None
    done: bool = False
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    started: float = field(default_factory=time.time)

    def run(self, settings: Settings, embedder: Embedder) -> None:
        """The pipeline over the specs; any failure ends up in `error`, never in the thread."""
        try:
            self.report = Pipeline(settings, embedder).run(self.specs, progress=self._progress)
        except LakesageError as exc:
            self.error = str(exc)
        except Exception as exc:  # noqa: BLE001 - a thread's exception would vanish unseen
            self.error = f"the ingest stopped unexpectedly ({type(exc).__name__}: {exc})"
        finally:
            self.done = True

    def _progress(self, report: Report) -> None:
        self.report = report


@dataclass
class IngestJobs:
    """The ingest jobs of this process, one per home folder, shared by every session."""

    jobs: dict[str, IngestJob] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def current(self, home: Path) -> IngestJob | None:
        """The running or last finished job for a home folder."""
        return self.jobs.get(str(home))

    def start(self, settings: Settings, embedder: Embedder, specs: list[SourceSpec]) -> IngestJob:
        """Start a job unless one is already running for this home folder."""
        with self.lock:
            job = self.jobs.get(str(settings.home))
            if job is not None and not job.done:
                raise LakesageError("an ingest is already running here; wait for it to finish")
            job = self.jobs[str(settings.home)] = IngestJob(specs)
        threading.Thread(
            target=job.run, args=(settings, embedder), name="lakesage-ingest", daemon=True
        ).start()
        return job


@st.cache_resource(show_spinner=False)
def ingest_jobs() -> IngestJobs:
    """The process-wide ingest job registry."""
    return IngestJobs()
