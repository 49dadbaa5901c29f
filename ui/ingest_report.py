"""The Ingest page's view of the background run: a progress bar, then its report."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui.jobs import IngestJobs


def show_ingest(jobs: IngestJobs, home: Path, running: bool) -> None:
    """The home's job: its progress while it runs (polled every second), then its report."""
    st.fragment(_show_job, run_every=1.0 if running else None)(jobs, home)


def _show_job(jobs: IngestJobs, home: Path) -> None:
    """The job's progress bar; once it ends, its report (and a rerun, for the sidebar)."""
    job = jobs.current(home)
    if job is None:
        return
    report = job.report
    if not job.done:
        share = report.files_done / report.files_total if report.files_total else 0.0
        text = (
            f"{report.files_done} of {report.files_total} files"
            if report.files_total
            else "Reading the sources…"
        )
        st.progress(min(share, 1.0), text=text)
        return
    if st.session_state.get("ingest-seen") != job.id:
        st.session_state["ingest-seen"] = job.id
        st.rerun()  # the whole page, so the sidebar shows the new index
    if job.error:
        st.error(job.error)
        return
    st.success(
        f"Ingest finished in {report.seconds:g} s: {report.files_indexed} files indexed "
        f"({report.chunks_stored} chunks), {report.files_unchanged} unchanged."
    )
    if report.failures:
        st.warning(f"{len(report.failures)} inputs could not be ingested:")
        st.code("\n".join(report.failures), language=None, wrap_lines=True)
