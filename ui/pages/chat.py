"""Chat: answers streamed from the index, with their highlighted sources and feedback."""

from __future__ import annotations

import streamlit as st

from rag.errors import LakesageError, LLMError
from rag.feedback import ChatTurn, FeedbackLog, history_of
from ui.answer_view import show_answer_extras, show_late_lines
from ui.errors import stop_with_error
from ui.jobs import warm_up
from ui.knowledge_base import index_status
from ui.page_setup import page_setup
from ui.safe_markdown import safe_answer, safe_pieces
from ui.sidebar import chat_tools

session = page_setup("Chat")
kb = session.kb
feedback_log = FeedbackLog(session.settings.home / "feedback.jsonl")
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
    kb.persona()
except LakesageError as exc:
    stop_with_error(f"The persona {kb.settings.persona!r} cannot be used: {exc}")

for turn in turns:
    with st.chat_message(turn.role):
        st.markdown(safe_answer(turn.text))
        if turn.answer is not None:
            show_answer_extras(turn, feedback_log)

if question := st.chat_input("Ask about Spark, Delta Lake, MLflow or the team notes", key="ask"):
    with st.chat_message("user"):
        st.markdown(safe_answer(question))
    with st.chat_message("assistant"):
        try:
            stream = kb.ask_stream(question, history=history_of(turns), filters=session.filters)
            streamed = st.write_stream(safe_pieces(stream))
        except LLMError as exc:
            st.error(str(exc))
            st.caption("Or pick another answer engine, base URL or model in the sidebar.")
            st.stop()
        except LakesageError as exc:
            stop_with_error(str(exc))
        assert stream.answer is not None
        show_late_lines(stream.answer, streamed)
        turns += [
            ChatTurn("user", question),
            ChatTurn("assistant", stream.answer.text, stream.answer),
        ]
        show_answer_extras(turns[-1], feedback_log)

if turns:
    chat_tools(turns)

warm_up(session.settings)  # after the page is on screen: the reader types while the model loads
