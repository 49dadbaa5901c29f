"""The Chat, Ingest and Evaluate pages: scripts st.navigation runs, never imported."""
