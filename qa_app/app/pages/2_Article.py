"""Article view: one article in full, the cited span highlighted and scrolled into view."""

from __future__ import annotations

import streamlit as st

from qa_app.app import article_view, page_assets, render, state
from qa_app.records import Document

library = state.start_page("Article")


def choose_document(requested: str | None) -> Document | None:
    """A picker over every article, for visits without a valid `doc` parameter."""
    if requested:
        st.warning("That article is not in the library (it may have been deleted). Choose another one.")
    documents = library.documents()
    if not documents:
        st.info("The library is empty: add articles on the Library page.")
        return None
    by_id = {d.doc_id: d for d in documents}
    doc_id = st.selectbox(
        "Article",
        list(by_id),
        index=None,
        placeholder="Choose an article",
        format_func=lambda i: f"{by_id[i].title} ({by_id[i].published_at or 'undated'})",
    )
    if doc_id is None:
        return None
    st.query_params.from_dict({"doc": doc_id})
    return state.document_or_none(library, doc_id)


def show(document: Document, span: tuple[int, int] | None, span_requested: bool) -> None:
    byline = render.outlet_of(document, document.source) + " · " + render.published_label(document)
    st.html(article_view.title_html(document.title, byline))
    if span_requested and span is None:
        st.warning("The requested passage is not inside this article; showing the article without highlight.")
    main, side = st.columns([3, 1], gap="large")
    with side:
        if span:
            page = document.page_at(span[0])
            where = f"characters {span[0]:,}–{span[1]:,}" + (f", page {page}" if page else "")
            st.caption(f"Highlighted: the cited passage ({where}).")
        st.html(article_view.metadata_html(article_view.metadata_rows(document)))
        st.page_link(state.CHAT_PAGE, label="Back to the chat", icon=":material/chat:")
    with main:
        st.html(article_view.article_html(document, span))
    if span:
        # Our own constant script (no article data in it): bring the <mark> into view once it is drawn.
        st.html(page_assets.SCROLL_SCRIPT, unsafe_allow_javascript=True)


params = st.query_params
requested = params.get("doc")
document = state.document_or_none(library, requested) if requested else None
if document is None:
    document = choose_document(requested)
    span, span_requested = None, False
else:
    span_requested = "start" in params or "end" in params
    span = article_view.parse_span(params.get("start"), params.get("end"), len(document.text))
if document is not None:
    show(document, span, span_requested)
