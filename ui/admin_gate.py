"""The admin password that guards writes to the home folder and the index."""

from __future__ import annotations

import hmac

import streamlit as st

from rag.settings import Settings

ADMIN_OK = "admin-ok"
ADMIN_INPUT = "admin-password"


def password_matches(entered: str, password: str) -> bool:
    """Whether the entered password is the admin password, compared in constant time."""
    return hmac.compare_digest(entered.encode(), password.encode())


def admin_gate(settings: Settings, action: str) -> bool:
    """Whether this session may write to the home or the index: no admin password is set, or it
    was given once. Otherwise asks for it (and says why) and returns False."""
    if not settings.admin_password or st.session_state.get(ADMIN_OK):
        return True
    entered = st.text_input("Admin password", type="password", key=ADMIN_INPUT)
    if not entered:
        st.info(f"{action} needs the admin password (set by LAKESAGE_ADMIN_PASSWORD).")
        return False
    if not password_matches(entered, settings.admin_password):
        st.error("Wrong admin password; try again.")
        return False
    st.session_state[ADMIN_OK] = True
    del st.session_state[ADMIN_INPUT]  # the password does not stay in the session or the page
    st.rerun()
