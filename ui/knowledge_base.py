"""The settings and the knowledge base every session shares, loaded once per process."""

from __future__ import annotations

import contextlib
from typing import Any

import streamlit as st

from rag.embedding import Embedder, make_embedder
from rag.errors import IndexNotFoundError, LakesageError
from rag.kb import KnowledgeBase, settings_for_index
from rag.settings import Settings, load_settings
from rag.store import ChromaClients
from ui.errors import stop_with_error


def app_settings() -> Settings:
    """The settings (defaults, lakesage.toml, LAKESAGE_* env vars), or an error naming the fix."""
    try:
        return settings_for_index(load_settings(), chroma_clients())
    except LakesageError as exc:
        stop_with_error(str(exc))


@st.cache_resource(show_spinner=False)
def chroma_clients() -> ChromaClients:
    """The Chroma clients every session and knowledge base of this process shares."""
    return ChromaClients()


@st.cache_resource(show_spinner=False)
def load_embedder(model: str, backend: str, batch_size: int, _settings: Settings) -> Embedder:
    """The embedding model, once per process (it loads its weights on first use)."""
    return make_embedder(_settings)


@st.cache_resource(show_spinner=False)
def load_knowledge_base(key: str, _settings: Settings) -> KnowledgeBase:
    """One KnowledgeBase per settings (cheap: the model and the index load on first use)."""
    embedder = load_embedder(
        _settings.embed_model, _settings.embed_backend, _settings.embed_batch_size, _settings
    )
    kb = KnowledgeBase(_settings, embedder=embedder, clients=chroma_clients())
    with contextlib.suppress(IndexNotFoundError):
        _ = kb.retriever  # built once here: the warm-up thread and the first question share it
    return kb


def knowledge_base(settings: Settings) -> KnowledgeBase:
    """The cached KnowledgeBase for these settings, or an error naming the fix."""
    try:
        return load_knowledge_base(settings.model_dump_json(), settings)
    except LakesageError as exc:
        stop_with_error(str(exc))


def index_status(kb: KnowledgeBase) -> dict[str, Any] | None:
    """What the index holds, or None when there is no index yet."""
    try:
        return kb.status()
    except IndexNotFoundError:
        return None
