"""Ingest: upload files or name a source; the pipeline runs in the background while chat goes on."""

from __future__ import annotations

import streamlit as st

from ingest.loaders import SUPPORTED_SUFFIXES
from ingest.sources import SourceSpec
from pages.common import (
    admin_gate,
    ingest_jobs,
    load_embedder,
    page_setup,
    save_uploads,
    stop_with_error,
)
from rag.errors import LakesageError

UPLOAD_TYPES = sorted(suffix.lstrip(".") for suffix in SUPPORTED_SUFFIXES)
PRODUCTS = ["auto", "spark", "delta", "mlflow", "team", "docs"]

settings, kb = page_setup("Ingest")
st.title("Add documents")

if not admin_gate(settings, "Ingesting"):
    st.stop()
if not settings.admin_password:
    st.caption(
        "No admin password is set: whoever can open this page can add documents, including "
        "files on this server. Set LAKESAGE_ADMIN_PASSWORD to require one."
    )

jobs = ingest_jobs()
uploads = st.file_uploader(
    "Upload files", type=UPLOAD_TYPES, accept_multiple_files=True, key="uploads"
)
source = st.text_input(
    "Or name a source",
    key="ingest-source",
    placeholder="/path/to/docs, pkg:pypdf, pypi:delta-spark==4.0.0 or https://…/docs.tar.gz",
)
product = st.selectbox("Product", PRODUCTS, key="ingest-product", help="auto: read from the path")
job = jobs.current(settings.home)
running = job is not None and not job.done

if st.button("Ingest", type="primary", disabled=running, key="ingest-start"):
    chosen = None if product == "auto" else product
    specs = []
    if uploads:
        save_uploads(settings.home / "uploads", list(uploads))
        specs.append(SourceSpec(str(settings.home / "uploads"), name="uploads", product=chosen))
    if source.strip():
        specs.append(SourceSpec(source.strip(), product=chosen))
    if not specs:
        stop_with_error("Upload files or name a source first.")
    try:
        embedder = load_embedder(
            settings.embed_model, settings.embed_backend, settings.embed_batch_size, settings
        )
        job = jobs.start(settings, embedder, specs)
    except LakesageError as exc:
        stop_with_error(str(exc))
    running = True


@st.fragment(run_every=1.0 if running else None)
def progress() -> None:
    """The running job's progress bar; once it ends, its report (and a refresh of the sidebar)."""
    job = jobs.current(settings.home)
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


progress()
