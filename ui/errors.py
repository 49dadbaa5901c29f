"""How a page ends on an error: one clear line, no traceback."""

from __future__ import annotations

from typing import NoReturn

import streamlit as st


def stop_with_error(message: str) -> NoReturn:
    """Show one clear error line and end this run of the page."""
    st.error(message)
    st.stop()
