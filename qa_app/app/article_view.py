"""The article view: the whole text with the cited span marked, its heading and its metadata table."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from qa_app.app.render import esc, published_label
from qa_app.records import DATE_FROM_TEXT, Document

MARK_ID = "cited-span"  # element id of the highlighted span in the article view (the scroll target)


def highlight_html(text: str, start: int | None = None, end: int | None = None, mark_id: str = MARK_ID) -> str:
    """A whole article escaped, with `text[start:end]` inside `<mark id=mark_id>` when a span is given."""
    if start is None or end is None or not 0 <= start < end <= len(text):
        return esc(text)
    return (
        f'{esc(text[:start])}<mark id="{esc(mark_id)}" class="qa-quote">{esc(text[start:end])}</mark>{esc(text[end:])}'
    )


def parse_span(start: Any, end: Any, length: int) -> tuple[int, int] | None:
    """A (start, end) pair from query parameters when it is a valid, non-empty span of a text of `length`."""
    try:
        lo, hi = int(str(start)), int(str(end))
    except (TypeError, ValueError):
        return None
    return (lo, hi) if 0 <= lo < hi <= length else None


def metadata_rows(document: Document) -> list[tuple[str, str]]:
    """(field, value) pairs describing an article, values as display strings."""
    published = published_label(document)
    if document.metadata.get("date_source") == DATE_FROM_TEXT:
        published += " (printed in the article)"
    rows = [
        ("Source", document.source),
        ("Published", published),
        ("Added", (document.added_at or "")[:19].replace("T", " ")),
        ("Document id", document.doc_id),
    ]
    if document.page_starts:
        rows.append(("Pages", str(len(document.page_starts))))
    shown_already = {"pages", "date_source"}  # in the rows above
    for key, value in sorted(document.metadata.items()):
        if key in shown_already:
            continue
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        rows.append((str(key)[:1].upper() + str(key)[1:], shown))
    return rows


def web_link(value: str) -> str:
    """An escaped value; an http(s) URL becomes a link that opens in a new tab."""
    parts = urlsplit(value.strip())
    if parts.scheme in ("http", "https") and parts.netloc and not any(ch.isspace() for ch in value.strip()):
        url = esc(value.strip())
        return f'<a href="{url}" target="_blank" rel="noopener noreferrer nofollow">{url}</a>'
    return esc(value)


def metadata_html(rows: Sequence[tuple[str, str]]) -> str:
    """A definition table of escaped (field, value) pairs."""
    cells = "".join(f"<tr><th>{esc(key)}</th><td>{web_link(value)}</td></tr>" for key, value in rows)
    return f'<table class="qa-meta">{cells}</table>'


def article_html(document: Document, span: tuple[int, int] | None) -> str:
    """The article body, escaped, with the cited span marked."""
    start, end = span if span else (None, None)
    return f'<div class="qa-article">{highlight_html(document.text, start, end)}</div>'


def title_html(title: str, meta: str) -> str:
    """An article heading and its byline, escaped."""
    return f'<h1 class="qa-title">{esc(title)}</h1><div class="qa-card-meta">{esc(meta)}</div>'
