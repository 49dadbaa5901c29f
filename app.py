"""lakesage chat (the app's main page): answers streamed from the index, with highlighted sources.

The Ingest and Evaluate pages live in pages/; what the pages share lives in pages/common.
"""

from __future__ import annotations

import streamlit as st

from pages.common import (
    chat_options,
    index_status,
    page_setup,
    safe_answer,
    safe_pieces,
    show_sources,
    show_unverified,
    stop_with_error,
    warm_up,
    with_llm,
)
from rag.errors import LakesageError, LLMError
from rag.feedback import (
    ChatTurn,
    Feedback,
    FeedbackLog,
    Rating,
    history_of,
    transcript_markdown,
)
from rag.models import Answer
from rag.retrieval import Filters

# st.feedback("thumbs") gives 0 for thumbs down, 1 for thumbs up.
RATINGS: tuple[Rating, Rating] = ("down", "up")

settings, kb = page_setup("Chat")
options = chat_options(settings)
feedback_log = FeedbackLog(settings.home / "feedback.jsonl")
turns: list[ChatTurn] = st.session_state.setdefault("turns", [])

st.title("lakesage")
status = index_status(kb)
if not status or not status["chunks"]:
    st.info(
        "The index is empty. Add documents on the **Ingest** page, or run `ingest` in a "
        "terminal (e.g. `ingest --mirror ../shared/corpus`), then ask here."
    )
    st.stop()
try:
    kb.persona(options.persona)
except LakesageError as exc:
    stop_with_error(f"The persona {options.persona!r} cannot be used: {exc}")


def save_feedback(turn: ChatTurn) -> None:
    """Store the thumbs (and the comment, when given) for one answer."""
    rating = st.session_state.get(f"feedback-{turn.id}")
    if rating is None or turn.answer is None:
        return
    comment = st.session_state.get(f"comment-{turn.id}", "")
    try:
        feedback_log.add(Feedback.of(turn.id, turn.answer, RATINGS[rating], comment))
    except (OSError, LakesageError) as exc:
        st.toast(f"Feedback not saved: {exc}")
        return
    st.toast("Thanks, feedback saved.")


def show_answer_extras(turn: ChatTurn) -> None:
    """Sources, then thumbs up/down and an optional comment."""
    assert turn.answer is not None
    show_unverified(turn.answer)
    show_sources(turn.answer)
    st.feedback("thumbs", key=f"feedback-{turn.id}", on_change=save_feedback, args=(turn,))
    if st.session_state.get(f"feedback-{turn.id}") is not None:
        with st.form(f"comment-form-{turn.id}", border=False):
            st.text_input("Comment (optional)", key=f"comment-{turn.id}", max_chars=2000)
            st.form_submit_button("Send comment", on_click=save_feedback, args=(turn,))


for turn in turns:
    with st.chat_message(turn.role):
        st.markdown(safe_answer(turn.text))
        if turn.answer is not None:
            show_answer_extras(turn)

if question := st.chat_input("Ask about Spark, Delta Lake, MLflow or the team notes", key="ask"):
    with st.chat_message("user"):
        st.markdown(safe_answer(question))
    with st.chat_message("assistant"):
        try:
            stream = with_llm(kb, options).ask_stream(
                question,
                persona=options.persona,
                history=history_of(turns),
                filters=Filters(products=options.products),
                engine=options.engine,
                k=options.top_k,
            )
            st.write_stream(safe_pieces(stream))
        except LLMError as exc:
            st.error(str(exc))
            st.caption("Or pick another answer engine, base URL or model in the sidebar.")
            st.stop()
        except LakesageError as exc:
            stop_with_error(str(exc))
        answer: Answer | None = stream.answer
        assert answer is not None
        turns += [ChatTurn("user", question), ChatTurn("assistant", answer.text, answer)]
        show_answer_extras(turns[-1])

if turns:
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

warm_up(kb)  # after the page is on screen: the reader types while the model loads
