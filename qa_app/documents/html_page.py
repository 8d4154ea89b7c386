"""HTML pages: the main text through trafilatura, the title, outlet, author and date from the page."""

from __future__ import annotations

import html
import re
from pathlib import Path

from qa_app.documents.bounds import UTF16_BOMS, Limits, guarded
from qa_app.documents.model import MAX_TITLE_CHARS, make_document, parse_date, stem_title
from qa_app.documents.normalise import collapse, normalize_text
from qa_app.errors import LoadError
from qa_app.metadata import (
    drop_leading_title,
    without_site_name,
)
from qa_app.records import Document

_TITLE_OPEN = re.compile(rb"<title\b[^<>]{0,1000}>", re.IGNORECASE)  # bounded: linear on hostile markup
_TITLE_CLOSE = re.compile(rb"</title\s*>", re.IGNORECASE)


def load_html(path: Path, data: bytes, limits: Limits) -> Document:
    """Main text via trafilatura, which drops scripts, styles and navigation and sniffs the charset."""
    import trafilatura  # here, not at the top: answering never parses HTML (0.15 s of every cold start)

    if b"\x00" in data and not data.startswith(UTF16_BOMS):
        raise LoadError(str(path), "contains NUL bytes (binary file?)")
    options = {"include_comments": False, "include_tables": True, "favor_recall": True}
    extracted = guarded(trafilatura.extract, data, **options) or guarded(trafilatura.html2txt, data)
    text = normalize_text(extracted or "")
    if not text and _html_depth(data) >= _MAX_HTML_DEPTH:
        raise LoadError(str(path), f"HTML nested over {_MAX_HTML_DEPTH} elements deep, deeper than the HTML parser "
                                   "reads: no text could be extracted")  # fmt: skip
    if not text:
        raise LoadError(str(path), "no readable text in the HTML (only scripts/markup?)")
    meta = guarded(trafilatura.extract_metadata, data)
    info = {
        "author": getattr(meta, "author", None),
        "outlet": collapse(getattr(meta, "sitename", None)) or getattr(meta, "hostname", None),  # og:site_name
        "url": getattr(meta, "url", None),
    }
    title = collapse(getattr(meta, "title", None)) or _title_tag(data)
    title = without_site_name(title, info["outlet"]) or stem_title(path)
    title, text = drop_leading_title(text, title)  # the page's <h1> is not a sentence of the article
    return make_document(
        title=title,
        text=text,
        source=info["url"] or path.name,
        published_at=guarded(parse_date, getattr(meta, "date", None)),
        metadata={key: value for key, value in info.items() if value},
    )


_MAX_HTML_DEPTH = 250  # libxml2, under trafilatura, gives up on elements nested about 255 deep
_TAG = re.compile(rb"<(/?)([a-zA-Z][\w:-]*)[^<>]*?(/?)>")
_VOID_TAGS = {b"area", b"base", b"br", b"col", b"embed", b"hr", b"img", b"input", b"link", b"meta", b"param",
              b"source", b"track", b"wbr"}  # fmt: skip


def _html_depth(data: bytes) -> int:
    """How deeply elements nest in an HTML page (from its tags alone; stops counting at the parser's limit)."""
    depth = deepest = 0
    for closing, name, self_closing in _TAG.findall(data):
        if self_closing or name.lower() in _VOID_TAGS:
            continue
        depth = max(0, depth - 1) if closing else depth + 1
        deepest = max(deepest, depth)
        if deepest >= _MAX_HTML_DEPTH:
            break
    return deepest


def _title_tag(data: bytes) -> str:
    opening = _TITLE_OPEN.search(data)
    closing = _TITLE_CLOSE.search(data, opening.end()) if opening else None
    if not opening or not closing:
        return ""
    raw = data[opening.end() : closing.start()][: 4 * MAX_TITLE_CHARS]
    return collapse(html.unescape(raw.decode("utf-8", "replace")))
