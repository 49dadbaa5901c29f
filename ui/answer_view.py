"""Under an answer: the names nothing backs, the deprecated entries it cites, the sources, and
thumbs with an optional comment."""

from __future__ import annotations

import streamlit as st

from rag.errors import LakesageError
from rag.feedback import ChatTurn, Feedback, FeedbackLog, Rating
from rag.models import Answer
from ui.safe_markdown import safe_answer
from ui.sources_view import show_deprecated, show_sources, show_unverified

# st.feedback("thumbs") gives 0 for thumbs down, 1 for thumbs up.
RATINGS: tuple[Rating, Rating] = ("down", "up")


def show_answer_extras(turn: ChatTurn, log: FeedbackLog) -> None:
    """Unverified names, deprecated entries and sources, then thumbs up/down and, once rated,
    a comment box."""
    assert turn.answer is not None
    show_unverified(turn.answer)
    show_deprecated(turn.answer)
    show_sources(turn.answer)
    key = f"feedback-{turn.id}"
    st.feedback("thumbs", key=key, on_change=save_feedback, args=(turn, log))
    if st.session_state.get(key) is not None:
        with st.form(f"comment-form-{turn.id}", border=False):
            st.text_input("Comment (optional)", key=f"comment-{turn.id}", max_chars=2000)
            st.form_submit_button("Send comment", on_click=save_feedback, args=(turn, log))


def show_late_lines(answer: Answer, streamed: object) -> None:
    """Answer.late_lines under the streamed text; the history shows them in the answer's text."""
    for line in answer.late_lines(streamed if isinstance(streamed, str) else ""):
        st.markdown(safe_answer(line))


def save_feedback(turn: ChatTurn, log: FeedbackLog) -> None:
    """Store the thumbs (and the comment, when given) for one answer."""
    rating = st.session_state.get(f"feedback-{turn.id}")
    if rating is None or turn.answer is None:
        return
    comment = st.session_state.get(f"comment-{turn.id}", "")
    try:
        log.add(Feedback.of(turn.id, turn.answer, RATINGS[rating], comment))
    except (OSError, LakesageError) as exc:
        st.toast(f"Feedback not saved: {exc}")
        return
    st.toast("Thanks, feedback saved.")
