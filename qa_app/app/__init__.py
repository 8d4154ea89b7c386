"""The Streamlit front end: Chat.py (main page), pages/ (library, article view), and their helpers."""
