"""The sidebar: persona, products, answer engine and its endpoint, passages, what the index
holds; and the knowledge base as this session's choices see it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import streamlit as st

from rag.errors import LakesageError
from rag.feedback import ChatTurn, transcript_markdown
from rag.kb import KnowledgeBase
from rag.llm import OLLAMA_URL
from rag.settings import ENGINES, Settings
from ui.knowledge_base import index_status
from ui.safe_markdown import escape_markdown

CHOICE_KEYS = (
    "persona",
    "products",
    "versions",
    "engine",
    "llm_base_url",
    "databricks_host",
    "llm_model",
    "top_k",
)
DATABRICKS_EXAMPLE = "https://<workspace>.cloud.databricks.com"
OPENAI_EXAMPLE = "http://127.0.0.1:8000/v1"


@dataclass(frozen=True)
class Choices:
    """What the sidebar picked: persona, product filter, answer engine, endpoint and passages."""

    persona: str
    products: tuple[str, ...]
    versions: tuple[str, ...]
    engine: str
    llm_base_url: str
    databricks_host: str
    llm_model: str
    top_k: int


def sidebar(kb: KnowledgeBase, settings: Settings) -> Choices:
    """Draw the choices and the index status; returns what this session picked."""
    state = st.session_state
    for key in CHOICE_KEYS:
        if key in state:
            state[key] = state[key]  # keeps the choices when the reader switches pages
    with st.sidebar:
        try:
            personas = kb.personas()
        except LakesageError as exc:
            st.error(str(exc))
            personas = []
        if state.get("persona") not in personas:
            state["persona"] = settings.persona if settings.persona in personas else None
        st.selectbox("Persona", personas, key="persona")
        status = index_status(kb)
        products = sorted(status["products"]) if status else []
        state["products"] = [p for p in state.get("products", []) if p in products]
        st.multiselect("Products", products, key="products", placeholder="All products")
        releases = release_options(status, state["products"])
        state["versions"] = [v for v in state.get("versions", []) if v in releases]
        if releases:
            st.multiselect(
                "Releases",
                list(releases),
                key="versions",
                format_func=lambda version: releases.get(version, version),
                placeholder="All releases",
            )
        if state.get("engine") not in ENGINES:
            state["engine"] = settings.engine
        engine = st.selectbox("Answer engine", ENGINES, key="engine")
        if engine == "llamacpp":
            st.caption(
                escape_markdown(f"Local model: {settings.llm_model}")
                if settings.llm_model
                else "Set LAKESAGE_LLM_MODEL to a .gguf file to answer with a local model."
            )
        elif engine != "extractive":
            endpoint_inputs(engine, settings)
        state.setdefault("top_k", settings.top_k)
        st.slider("Passages", 1, max(20, settings.top_k), key="top_k")
        show_status(status, settings)
    return choices(settings)


def release_options(status: dict[str, Any] | None, products: list[str]) -> dict[str, str]:
    """The indexed releases of the picked products (all products when none is picked), by
    version, labelled with their products ("3.3.2 (delta)")."""
    found: dict[str, list[str]] = {}
    for product, versions in ((status or {}).get("releases") or {}).items():
        if not products or product in products:
            for version in versions:
                found.setdefault(version, []).append(product)
    return {v: f"{v} ({', '.join(ps)})" for v, ps in sorted(found.items())}


def endpoint_inputs(engine: str, settings: Settings) -> None:
    """Where an LLM engine sends the chat: base URL or Databricks host, and model."""
    state = st.session_state
    state.setdefault("llm_base_url", settings.llm_base_url or "")
    state.setdefault("databricks_host", settings.databricks_host or "")
    state.setdefault("llm_model", settings.llm_model or "")
    if engine == "databricks":
        st.text_input("Databricks host", key="databricks_host", placeholder=DATABRICKS_EXAMPLE)
    else:
        example = OLLAMA_URL if engine == "ollama" else OPENAI_EXAMPLE
        st.text_input("LLM base URL", key="llm_base_url", placeholder=example)
    st.text_input("LLM model", key="llm_model")


def choices(settings: Settings) -> Choices:
    """This session's choices (the settings' defaults before the sidebar ran)."""
    state = st.session_state
    return Choices(
        persona=state.get("persona") or settings.persona,
        products=tuple(state.get("products") or ()),
        versions=tuple(state.get("versions") or ()),
        engine=state.get("engine") or settings.engine,
        llm_base_url=(state.get("llm_base_url") or "").strip(),
        databricks_host=(state.get("databricks_host") or "").strip(),
        llm_model=(state.get("llm_model") or "").strip(),
        top_k=int(state.get("top_k") or settings.top_k),
    )


def session_kb(kb: KnowledgeBase, picked: Choices) -> KnowledgeBase:
    """The knowledge base with this session's choices, sharing the loaded model and index
    (an endpoint the reader typed gets none of the configured secrets)."""
    endpoint = {
        name: value
        for name, value in (
            ("llm_base_url", picked.llm_base_url),
            ("databricks_host", picked.databricks_host),
            ("llm_model", picked.llm_model),
        )
        if value
    }
    if picked.engine == "llamacpp":
        # A reader picks no file to load as a model: the local model is the configured one.
        endpoint.pop("llm_model", None)
    return kb.with_settings(
        persona=picked.persona, engine=picked.engine, top_k=picked.top_k, **endpoint
    )


def show_status(status: dict[str, Any] | None, settings: Settings) -> None:
    """Files and chunks per product, the embedding model and the last ingest."""
    st.subheader("Index", divider="gray")
    if status is None:
        st.info(f"No index in {settings.home} yet: add documents on the Ingest page.")
        return
    st.caption(
        escape_markdown(f"{status['files']} files, {status['chunks']} chunks; {status['model']}")
    )
    if status["products"]:
        st.dataframe(
            [{"product": p, **counts} for p, counts in status["products"].items()],
            hide_index=True,
        )
    last = status.get("last_run") or {}
    if finished := last.get("finished_at"):
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(float(finished)))
        st.caption(escape_markdown(f"Last ingest: {when}"))


def chat_tools(turns: list[ChatTurn]) -> None:
    """Download the chat as Markdown, or clear it."""
    with st.sidebar:
        st.download_button(
            "Download chat (Markdown)",
            transcript_markdown(turns),
            file_name="lakesage-chat.md",
            mime="text/markdown",
            on_click="ignore",
            key="download-chat",
            icon=":material/download:",
        )
        if st.button("Clear chat", key="clear-chat"):
            turns.clear()
            st.rerun()
