"""Streamlit's pages folder: Ingest and Evaluate (app.py is the Chat page); pages/common is shared."""
