"""Chat page: questions about the indexed articles, answered with quotes that link to their articles."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from functools import cache

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from qa_app.app import page_assets, state, widgets
from qa_app.app.answer_view import asked_with
from qa_app.app.cards import citation_card, passage_card
from qa_app.app.export import ExportTurn, conversation_markdown
from qa_app.app.render import escape_markdown
from qa_app.app.state import Turn
from qa_app.errors import QAError
from qa_app.records import Document, SearchFilters

library = state.start_page()
state.init_chat()
# our own constant script (no article data in it): [n] markers scroll to their card; the chat box takes focus
st.html(page_assets.CHAT_SCRIPT, unsafe_allow_javascript=True)


def sidebar() -> tuple[SearchFilters, int, bool]:
    """Filters, k and the passages toggle; they apply to the next question."""
    st.sidebar.header("Search filters")
    after = st.sidebar.date_input(
        "Published on or after", value=None, key="after", min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)
    )
    before = st.sidebar.date_input(
        "Published on or before", value=None, key="before", min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)
    )
    if after and before and after > before:
        st.sidebar.warning("The start date is after the end date: nothing can match.")
    options = state.source_options(library)
    sources = st.sidebar.multiselect("Sources", options, key="sources", placeholder="All sources")
    if "k" not in st.session_state:  # set once here, not as the slider's default: its state is kept across pages
        st.session_state.k = library.settings.top_k
    k = st.sidebar.slider("Passages to retrieve (k)", 1, 30, key="k")
    show = st.sidebar.toggle("Show retrieved passages with scores", key="show_passages")
    filters = SearchFilters(
        published_after=after.isoformat() if after else None,
        published_before=before.isoformat() if before else None,
        sources=tuple(sources),
    )
    return filters, k, show


def generative_sidebar() -> tuple[str, str] | None:
    """The optional generative server: (base URL, model) when it is switched on, else None."""
    defaults = {"llm_on": bool(library.settings.llm_base_url), "llm_base_url": library.settings.llm_base_url,
                "llm_model": library.settings.llm_model}  # fmt: skip
    for key, value in defaults.items():
        if key not in st.session_state:  # from the settings once; then the reader's choice, kept across pages
            st.session_state[key] = value
    with st.sidebar.expander("Generative answers", expanded=False, icon=":material/smart_toy:"):
        on = st.toggle("Write answers with a language model", key="llm_on")
        url = st.text_input("Server base URL (OpenAI-compatible)", key="llm_base_url",
                            placeholder="http://127.0.0.1:11434/v1")  # fmt: skip
        model = st.text_input("Model", key="llm_model", placeholder="e.g. llama3.2")
        st.caption(
            "Every generated sentence is checked against the passage it cites; sentences that fail are marked "
            "unsupported. Without a server, or when it fails, the answer is made of quotes."
        )
    return (url.strip(), model.strip()) if on and url.strip() else None


def ask(question: str, filters: SearchFilters, k: int, llm: tuple[str, str] | None) -> Turn:
    """Ask the library, with the earlier questions as history; keep what the chat needs to redraw it."""
    turn_id = st.session_state.next_turn
    st.session_state.next_turn += 1
    history = state.previous_questions()
    try:
        with st.spinner("Searching the articles…"):
            if llm is None:
                result = library.ask(question, history=history, k=k, filters=filters, llm_base_url="")
            else:
                stream = library.ask_stream(question, history=history, k=k, filters=filters, llm_base_url=llm[0],
                                            llm_model=llm[1])  # fmt: skip
        if llm is not None:
            live = st.empty()  # the sentences as they are checked; replaced by the finished answer
            with live.container():
                st.write_stream(widgets.streamed_sentences(stream))
            live.empty()
            result = stream.answer
    except QAError as exc:
        return Turn(turn_id, question, None, filters=filters, error=str(exc), k=k)

    @cache
    def lookup(doc_id: str) -> Document | None:
        return state.document_or_none(library, doc_id)

    cards = tuple(citation_card(c, lookup) for c in result.citations)
    passages = tuple(passage_card(p, lookup) for p in result.passages)
    return Turn(turn_id, question, result, cards, passages, filters, k=k)


def record_feedback(turn_id: int) -> None:
    """Store a thumbs up/down (st.feedback gives 1 for up, 0 for down, None when cleared)."""
    value = st.session_state.get(f"feedback-{turn_id}")
    turn = next((t for t in state.turns() if t.id == turn_id), None)
    if value is None or turn is None or turn.answer is None:
        return
    rating = 1 if value == 1 else -1
    try:
        library.record_feedback(turn.answer, rating)
    except QAError as exc:
        st.toast(f"Feedback not saved: {escape_markdown(str(exc))}", icon=":material/error:")
        return
    turn.rating = rating
    st.toast("Thanks, your feedback was saved.", icon=":material/thumb_up:" if rating > 0 else ":material/thumb_down:")


def clear_conversation() -> None:
    st.session_state.messages = []


def conversation_tools(slot: DeltaGenerator) -> None:
    """Download of the whole conversation as Markdown, and a fresh start."""
    turns = state.turns()
    with slot:
        st.divider()
        st.subheader("Conversation")
        markdown = conversation_markdown(
            [ExportTurn(t.question, t.answer, t.outlets, t.error, asked_with(asdict(t.filters), t.k)) for t in turns],
            exported_at=datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        )
        st.download_button(
            "Download as Markdown",
            markdown,
            file_name="newsdesk-conversation.md",
            mime="text/markdown",
            icon=":material/download:",
            disabled=not turns,
            on_click="ignore",
            width="stretch",
        )
        st.button(
            "Clear conversation",
            on_click=clear_conversation,
            disabled=not turns,
            icon=":material/delete_sweep:",
            width="stretch",
        )


filters, k, show_passages = sidebar()
llm = generative_sidebar()
tools_slot = st.sidebar.container()

st.title("Newsdesk Q&A")
documents, _ = library.counts()
question = st.chat_input("Ask about the news…", disabled=not documents)
if not documents:
    st.info("The library is empty: add articles on the Library page first.", icon=":material/library_add:")
    st.page_link(state.LIBRARY_PAGE, label="Go to the library", icon=":material/library_books:")
elif not st.session_state.messages and not question:
    st.caption(
        f"Ask about the {documents} indexed article{'s' * (documents != 1)}. Every sentence of an answer is a "
        "word-for-word quote with its source; open a source to read the quote in its article."
    )

for message in st.session_state.messages:
    with st.chat_message(message["role"]):
        if message["role"] == "user":
            st.markdown(escape_markdown(message["content"]))
        else:
            widgets.answer(message["turn"], show_passages, record_feedback)

if question:
    with st.chat_message("user"):
        st.markdown(escape_markdown(question))
    with st.chat_message("assistant"):
        turn = ask(question, filters, k, llm)
        widgets.answer(turn, show_passages, record_feedback)
    st.session_state.messages += [
        {"role": "user", "content": question},
        {"role": "assistant", "content": turn.answer.text if turn.answer else turn.error, "turn": turn},
    ]

conversation_tools(tools_slot)
