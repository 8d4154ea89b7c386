"""Escaping and display formats every page shares: HTML and markdown escaping, dates, outlets.

Article text, titles and metadata are untrusted (anyone can upload an article), so every string
that reaches HTML goes through `esc` first; the only markup in the output is the markup made here and in
`answer_view`, `cards` and `article_view`.
"""

from __future__ import annotations

import html
import re
from datetime import date

from qa_app.records import DATE_FROM_FILE, Document

_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:])")


def esc(text: str) -> str:
    """Text made safe to place inside HTML elements and attribute values."""
    return html.escape(text, quote=True)


def escape_markdown(text: str) -> str:
    """Text made inert for `st.markdown` and friends: every markdown-significant character escaped."""
    return _MARKDOWN_SPECIALS.sub(r"\\\1", text)


def format_date(iso: str | None) -> str:
    """`2025-05-03` as `3 May 2025`; unparseable values as they are; None as `undated`."""
    if not iso:
        return "undated"
    try:
        day = date.fromisoformat(iso[:10])
    except ValueError:
        return iso
    return f"{day.day} {day:%b %Y}"


def date_note(published_at: str | None, added_at: str | None, date_source: object = None) -> str:
    """Why a publication date may not be one: it is a PDF file's own date, or it is later than the upload."""
    if not published_at:
        return ""
    if date_source == DATE_FROM_FILE:
        return "PDF file date"
    if added_at and published_at[:10] > added_at[:10]:
        return "after the upload date"
    return ""


def published_label(document: Document) -> str:
    """`3 May 2025`, or `1 Dec 2026 (PDF file date)` when the date is not printed in the article."""
    note = date_note(document.published_at, document.added_at, document.metadata.get("date_source"))
    return format_date(document.published_at) + (f" ({note})" if note else "")


def outlet_of(document: Document | None, fallback: str) -> str:
    """The outlet named in the metadata, else the source (file name or URL)."""
    if document is not None:
        outlet = document.metadata.get("outlet")
        if isinstance(outlet, str) and outlet.strip():
            return outlet.strip()
        return document.source or fallback
    return fallback
