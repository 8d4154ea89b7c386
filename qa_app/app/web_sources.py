"""Library page parts for articles from the web: a URL box, and the news feeds (list, add, remove, poll now)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from qa_app.app.render import escape_markdown
from qa_app.app.state import shared
from qa_app.errors import QAError
from qa_app.feeds import Feeds
from qa_app.fetch import fetch_document
from qa_app.library import Library
from qa_app.records import AddResult


@st.cache_resource(show_spinner=False)
def _feeds(_library: Library, index_dir: str) -> Feeds:
    """One Feeds per library and process (its database connection is thread-safe), kept through cache clears."""
    return shared(("feeds", _library), lambda: Feeds(_library))


def feeds_of(library: Library) -> Feeds:
    return _feeds(library, str(library.index_dir))


def _say(result: AddResult) -> None:
    """One line for what happened to a fetched article; the page's text is escaped."""
    title = escape_markdown(result.title or "")
    source = escape_markdown(result.source)
    if result.status == "failed":
        st.error(f"{source}: {escape_markdown(result.reason or '')}")
    else:
        st.success(f"{result.status.capitalize()}: “{title}” ({result.chunks} chunks) from {source}")


def add_url(library: Library) -> None:
    """A URL box: fetch one article page and index it."""
    with st.form("add_url", clear_on_submit=True, border=True):
        hint = "An http(s) news page: its main text is extracted like an uploaded HTML file."
        url = st.text_input("Article URL", placeholder="https://…", key="article_url", help=hint)
        submitted = st.form_submit_button("Fetch and add", icon=":material/link:")
    if submitted and url.strip():
        with st.spinner("Fetching the page…"):
            try:
                results = library.add([fetch_document(url.strip(), library.settings)])
            except QAError as exc:  # LoadError names the URL and the reason
                results = [AddResult(url.strip(), "failed", reason=getattr(exc, "reason", str(exc)))]
        st.session_state.url_results = results
    elif submitted:
        st.warning("Type an article's URL first.")
    for result in st.session_state.get("url_results") or []:
        _say(result)


def feeds_panel(library: Library, editable: bool) -> None:
    """The followed feeds with their last poll; with `editable`, follow, stop following and poll now."""
    feeds = feeds_of(library)
    followed = feeds.list()
    if followed:
        frame = pd.DataFrame(
            {
                "feed": [f.title or f.url for f in followed],
                "url": [f.url for f in followed],
                "last poll": [f.last_polled_at or "never" for f in followed],
                "result": [f.last_status or "" for f in followed],
                "new": [f.last_new for f in followed],
                "items": [f.items for f in followed],
                "error": [f.last_error or "" for f in followed],
            }
        )
        st.dataframe(frame, hide_index=True, width="stretch", key="feeds_table")
    else:
        st.caption("No feeds followed yet." + (" Add an RSS or Atom feed's URL below." if editable else ""))
    if not editable:
        return
    with st.form("add_feed", clear_on_submit=True, border=True):
        url = st.text_input("Feed URL", placeholder="https://…/rss.xml", key="feed_url")
        if st.form_submit_button("Follow feed", icon=":material/rss_feed:") and url.strip():
            try:
                feeds.add(url)
                st.session_state.feed_message = ("success", f"Following {url.strip()}; poll to index its items.")
            except QAError as exc:
                st.session_state.feed_message = ("error", str(exc))
            st.rerun()
    cols = st.columns(2)
    if followed and cols[0].button("Poll now", icon=":material/refresh:", key="poll_feeds"):
        with st.spinner("Polling the feeds…"):
            try:
                polls = feeds.poll()
                new = sum(p.new for p in polls)
                failed = sum(p.status == "failed" for p in polls)
                summary = f"Polled {len(polls)} feeds: {new} new articles, {failed} failed."
                st.session_state.feed_message = ("warning" if failed else "success", summary)
            except QAError as exc:
                st.session_state.feed_message = ("error", str(exc))
        st.rerun()
    if followed:
        with cols[1].popover("Stop following", icon=":material/delete:"):
            by_id = {f.id: f for f in followed}
            chosen = st.selectbox("Feed", list(by_id), format_func=lambda i: by_id[i].title or by_id[i].url,
                                  key="feed_remove_pick", index=None, placeholder="Choose a feed")  # fmt: skip
            if st.button("Stop following", key="feed_remove", disabled=chosen is None):
                feeds.remove(str(chosen))
                st.session_state.feed_message = ("success", f"Stopped following {by_id[chosen].url}.")
                st.rerun()
    kind, message = st.session_state.pop("feed_message", (None, ""))
    if kind:
        getattr(st, kind)(escape_markdown(message))
