"""Library page: add articles (many files at once), browse, delete, and see the index's state."""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from qa_app.app import access, charts, state, web_sources
from qa_app.app.render import date_note, escape_markdown
from qa_app.app.uploads import UPLOAD_TYPES, index_uploads, progress_fraction, progress_text
from qa_app.errors import QAError
from qa_app.library import Progress
from qa_app.records import AddResult, DocumentInfo

library = state.start_page("Library")

if "upload_results" not in st.session_state:
    st.session_state.upload_results = None  # list[AddResult] of the last batch
    st.session_state.delete_round = 0  # bumped after a delete, to reset the confirmation widgets
    st.session_state.deleted = None

_STATUSES = ("indexed", "replaced", "already indexed", "failed")


def show_status() -> None:
    status = library.status()
    cols = st.columns(3)
    cols[0].metric("Articles", f"{status.documents:,}")
    cols[1].metric("Chunks", f"{status.chunks:,}")
    cols[2].metric("Index on disk", f"{status.size_bytes / 1024 / 1024:.1f} MB")
    st.caption(
        f"Model `{status.model}` ({status.dimension} dimensions) · index folder `{status.index_dir}` · "
        f"generation {status.generation}"
    )


def add_files() -> None:
    """Upload form: several files at once, indexed with a progress bar, then a result table."""
    with st.form("upload", clear_on_submit=True, border=True):
        files = st.file_uploader(
            "Article files: .txt .md .html .htm .pdf .json .jsonl",
            type=UPLOAD_TYPES,
            accept_multiple_files=True,
            help="Text, Markdown, HTML, PDF, or JSON/JSONL article records "
            "(title + body, optional url, source, published_at, author).",
        )
        submitted = st.form_submit_button("Add to library", type="primary", icon=":material/upload:")
    if submitted and files:
        bar = st.progress(0.0, text=f"Reading {len(files)} file{'s' * (len(files) != 1)}…")
        started = time.monotonic()

        def report(progress: Progress) -> None:
            bar.progress(progress_fraction(progress), text=progress_text(progress, time.monotonic() - started))

        try:
            st.session_state.upload_results = index_uploads(library, files, progress=report)
        except QAError as exc:
            st.session_state.upload_results = None
            st.error(f"Nothing was indexed: {escape_markdown(str(exc))}")
        bar.empty()
        st.session_state.upload_took = time.monotonic() - started
    elif submitted:
        st.warning("Choose one or more files first.")
    results = st.session_state.upload_results
    if results is not None:
        show_results(results, {d.doc_id: d.outlet or "" for d in library.documents()})


def show_results(results: list[AddResult], outlets: dict[str, str]) -> None:
    counts = {status: sum(r.status == status for r in results) for status in _STATUSES}
    summary = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
    took = st.session_state.get("upload_took")
    chunks = sum(r.chunks for r in results if r.status in ("indexed", "replaced"))
    timing = f" {chunks} chunks in {took:.1f} s ({chunks / took:.1f} chunks/s)." if took and chunks else ""
    (st.warning if counts["failed"] else st.success)(f"Last upload: {summary or 'nothing to do'}.{timing}")
    # st.table renders Markdown in its cells: everything from the files is escaped first
    rows = [
        {
            "file": escape_markdown(r.file or r.source),  # an HTML page's source may be its canonical URL
            "result": r.status,
            "title": escape_markdown(r.title or ""),
            "outlet": escape_markdown(outlets.get(r.doc_id or "", "")),
            "chunks": str(r.chunks) if r.chunks else "",  # one type per column (Arrow)
            "reason": escape_markdown(r.reason or ""),
        }
        for r in results
    ]
    frame = pd.DataFrame(rows, columns=["file", "result", "title", "outlet", "chunks", "reason"])
    st.table(frame.set_index("file"))


def document_table(documents: list[DocumentInfo]) -> list[DocumentInfo]:
    """The filter box and the article table; returns the articles it shows."""
    query = st.text_input(
        "Filter",
        placeholder="Filter by title, outlet or source",
        key="doc_filter",
        label_visibility="collapsed",
        icon=":material/search:",
    )
    needle = query.strip().lower()
    shown = [d for d in documents if needle in f"{d.title}\n{d.outlet or ''}\n{d.source}".lower()]
    frame = pd.DataFrame(
        {
            "title": [d.title for d in shown],
            "published": [_published(d) for d in shown],  # ISO text sorts by date; undated stay blank
            "outlet": [d.outlet or "" for d in shown],
            "source": [d.source for d in shown],
            "chunks": [d.chunks for d in shown],
            "added": pd.to_datetime(pd.Series([d.added_at for d in shown], dtype="object"), errors="coerce", utc=True),
            "id": [d.doc_id for d in shown],
        }
    )
    st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        column_config={
            # a fixed width leaves room for the date beside the title on a phone (420 px)
            "title": st.column_config.TextColumn("Title", width=240),
            "published": st.column_config.TextColumn("Published", width=100),
            "outlet": st.column_config.TextColumn("Outlet"),
            "source": st.column_config.TextColumn("Source"),
            "chunks": st.column_config.NumberColumn("Chunks", format="%d"),
            "added": st.column_config.DatetimeColumn("Added", format="YYYY-MM-DD HH:mm"),
            "id": st.column_config.TextColumn("Id"),
        },
        key="documents",
    )
    matching = f" match “{escape_markdown(query.strip())}”" if needle else ""
    st.caption(f"{len(shown)} of {len(documents)} articles{matching}")
    return shown


def _published(info: DocumentInfo) -> str:
    """The ISO date, marked as cards mark it: a PDF file's own date, or a date later than the upload."""
    note = date_note(info.published_at, info.added_at, info.date_source)
    return (info.published_at or "") + (f" ({note})" if note else "")


def delete_document(documents: list[DocumentInfo]) -> None:
    round_ = st.session_state.delete_round
    by_id = {d.doc_id: d for d in documents}
    doc_id = st.selectbox(
        "Article to delete",
        list(by_id),
        index=None,
        key=f"delete_pick_{round_}",
        format_func=lambda i: f"{by_id[i].title} — {by_id[i].source}",
        placeholder="Choose an article",
    )
    if doc_id is None:
        return
    info = by_id[doc_id]
    st.page_link(state.ARTICLE_PAGE, label="Open this article", icon=":material/article:", query_params={"doc": doc_id})
    confirmed = st.checkbox(
        f"Yes, delete this article and its {info.chunks} chunk{'s' * (info.chunks != 1)} from the index",
        key=f"delete_confirm_{round_}",
    )
    if st.button(
        "Delete article",
        type="primary",
        disabled=not confirmed,
        icon=":material/delete:",
        key=f"delete_button_{round_}",
    ):
        try:
            removed = library.remove(doc_id)
        except QAError as exc:
            st.error(escape_markdown(str(exc)))
            return
        st.session_state.deleted = removed.title
        st.session_state.delete_round += 1
        st.rerun()


st.title("Library")
status_slot = st.container()  # filled last, so the counts include this run's upload

editable = access.can_edit()
if editable:
    st.subheader("Add articles")
    add_files()
    web_sources.add_url(library)

documents = library.documents()
st.subheader("Articles")
if st.session_state.deleted:
    st.success(f"Deleted “{escape_markdown(st.session_state.deleted)}”.", icon=":material/delete:")
    st.session_state.deleted = None
if not documents:
    st.info("No articles yet: add some above, or run `qa-app index corpus/`.")
else:
    shown = document_table(documents)
    chart = charts.library_timeline(shown)  # the articles the filter box leaves
    if chart is not None:
        undated = sum(1 for d in shown if not d.published_at)
        st.altair_chart(chart.properties(title="Articles by publication month"), width="stretch")
        if undated:
            st.caption(f"{undated} undated article{'s' * (undated != 1)} not shown.")
    if editable:
        with st.expander("Delete an article", icon=":material/delete:"):
            delete_document(documents)

st.subheader("News feeds")
web_sources.feeds_panel(library, editable)

with status_slot:
    show_status()
