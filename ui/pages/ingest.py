"""Ingest: upload files or name a source; the pipeline runs in the background while chat goes on."""

from __future__ import annotations

import streamlit as st

from ingest.loaders import SUPPORTED_SUFFIXES
from ingest.sources import SourceSpec
from rag.errors import LakesageError
from ui.admin_gate import admin_gate
from ui.errors import stop_with_error
from ui.ingest_report import show_ingest
from ui.jobs import ingest_jobs
from ui.page_setup import page_setup
from ui.uploads import save_uploads

UPLOAD_TYPES = sorted(suffix.lstrip(".") for suffix in SUPPORTED_SUFFIXES)
PRODUCTS = ["auto", "spark", "delta", "mlflow", "team", "docs"]

session = page_setup("Ingest")
settings = session.settings
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
        jobs.start(settings, session.kb.embedder, specs)
    except LakesageError as exc:
        stop_with_error(str(exc))
    running = True

show_ingest(jobs, settings.home, running)
