"""Heavy objects shared by every browser session of one Streamlit process."""

import streamlit as st

from qa_app.library import Library


@st.cache_resource
def get_library() -> Library:
    """One Library (and one model) per process; it follows other writers through the generation number."""
    return Library()
