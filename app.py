"""The lakesage Streamlit app (the chat arrives with the UI issue)."""

from __future__ import annotations

import streamlit as st

from rag.errors import LakesageError
from rag.ledger import Ledger
from rag.settings import load_settings

st.set_page_config(page_title="lakesage", page_icon=":books:")
st.title("lakesage")

try:
    settings = load_settings()
except LakesageError as exc:
    st.error(str(exc))
    st.stop()

ledger_path = settings.home / "ledger.sqlite"
if not ledger_path.exists():
    st.info(f"No index in {settings.home} yet. Run `ingest` to build it.")
    st.stop()

ledger = Ledger(ledger_path)
summary = ledger.summary()
ledger.close()
st.write(f"Index: {summary['files']} files, {summary['chunks']} chunks, model {summary['model']}.")
st.table({p: c for p, c in summary["products"].items()})
