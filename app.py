"""lakesage's Streamlit app: `streamlit run app.py` serves the Chat, Ingest and Evaluate pages."""

from __future__ import annotations

import streamlit as st

# Not in a pages/ folder: Streamlit runs a process's first session of an app that has one as an
# old-style multipage app, which served a first visit to /ingest without running this script.
st.navigation(
    [
        st.Page("ui/pages/chat.py", title="Chat", icon=":material/chat:", default=True),
        st.Page("ui/pages/ingest.py", title="Ingest", icon=":material/upload_file:"),
        st.Page("ui/pages/evaluate.py", title="Evaluate", icon=":material/monitoring:"),
    ]
).run()
