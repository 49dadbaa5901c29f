"""The Streamlit app's pages (ui/pages, run by app.py's st.navigation) and what they share."""
