"""Chat page (placeholder until the front-end issue): ask a question, see the matching passages."""

import streamlit as st

from qa_app.app.state import get_library

st.set_page_config(page_title="Newsdesk Q&A", page_icon="📰")
st.title("Newsdesk Q&A")
library = get_library()
question = st.chat_input("Ask about the news")
if question:
    with st.chat_message("user"):
        st.text(question)
    with st.chat_message("assistant"):
        for passage in library.search(question, 3):
            st.markdown(f"**{passage.title}** ({passage.published_at or 'undated'})")
            st.text(passage.text)
