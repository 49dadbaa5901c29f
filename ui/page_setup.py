"""What every page starts with: offline mode, the page config, the settings, the sidebar, and
the knowledge base as this session's choices see it."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from rag.errors import LakesageError
from rag.kb import KnowledgeBase
from rag.offline import go_offline
from rag.retrieval import Filters
from rag.settings import Settings
from ui.errors import stop_with_error
from ui.knowledge_base import app_settings, knowledge_base
from ui.sidebar import session_kb, sidebar


@dataclass(frozen=True)
class Session:
    """What a page works with: the app's settings, this session's view of the knowledge base
    (its persona, engine, endpoint and passages) and its product and release filters."""

    settings: Settings
    kb: KnowledgeBase
    filters: Filters


def page_setup(title: str) -> Session:
    """Set up the page, draw the sidebar, and return what the page works with."""
    go_offline()
    st.set_page_config(page_title=f"{title} · lakesage", page_icon=":books:")
    settings = app_settings()
    kb = knowledge_base(settings)
    picked = sidebar(kb, settings)
    try:
        view = session_kb(kb, picked)
    except LakesageError as exc:
        stop_with_error(str(exc))
    return Session(settings, view, Filters(products=picked.products, versions=picked.versions))
