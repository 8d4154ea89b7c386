"""Pure rendering helpers for the pages: escaping, highlighting, context windows, citation cards.

Article text, titles and metadata are untrusted (anyone can upload an article), so every string
that reaches HTML goes through `esc` first; the only markup in the output is the markup made here.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from qa_app.records import Answer, Citation, Document, Passage

CONTEXT_CHARS = 150  # characters of article shown on each side of a quote in a citation card
PASSAGE_CHARS = 500  # a retrieved passage is shown up to about this length (the article view has the rest)
MARK_ID = "cited-span"  # element id of the highlighted span in the article view (the scroll target)
_MARKER = re.compile(r"\[(\d+)\]")
_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:])")

Lookup = Callable[[str], Document | None]


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


def outlet_of(document: Document | None, fallback: str) -> str:
    """The outlet named in the metadata, else the source (file name or URL)."""
    if document is not None:
        outlet = document.metadata.get("outlet")
        if isinstance(outlet, str) and outlet.strip():
            return outlet.strip()
        return document.source or fallback
    return fallback


@dataclass(frozen=True)
class Snippet:
    """A span of an article with some of the text around it."""

    before: str
    quote: str
    after: str
    clipped_start: bool  # text precedes `before` in the article
    clipped_end: bool  # text follows `after` in the article


def context_window(text: str, start: int, end: int, chars: int = CONTEXT_CHARS) -> Snippet:
    """`text[start:end]` with about `chars` characters on each side, cut at word boundaries."""
    start = max(0, min(start, len(text)))
    end = max(start, min(end, len(text)))
    lo = max(0, start - chars)
    if lo > 0:  # do not begin inside a word
        space = text.find(" ", lo, start)
        lo = space + 1 if space != -1 else lo
    hi = min(len(text), end + chars)
    if hi < len(text):  # nor end inside one
        space = text.rfind(" ", end, hi)
        hi = space if space != -1 else hi
    return Snippet(text[lo:start], text[start:end], text[end:hi], lo > 0, hi < len(text))


def snippet_html(snippet: Snippet) -> str:
    """The snippet escaped, with the quote inside `<mark>`."""
    before = ("…" if snippet.clipped_start else "") + esc(_one_line(snippet.before))
    after = esc(_one_line(snippet.after)) + ("…" if snippet.clipped_end else "")
    return f'{before}<mark class="qa-quote">{esc(snippet.quote)}</mark>{after}'


def _one_line(text: str) -> str:
    return re.sub(r"\s*\n\s*", " ", text)


def highlight_html(text: str, start: int | None = None, end: int | None = None, mark_id: str = MARK_ID) -> str:
    """A whole article escaped, with `text[start:end]` inside `<mark id=mark_id>` when a span is given."""
    if start is None or end is None or not 0 <= start < end <= len(text):
        return esc(text)
    return (
        f'{esc(text[:start])}<mark id="{esc(mark_id)}" class="qa-quote">{esc(text[start:end])}</mark>{esc(text[end:])}'
    )


def answer_html(text: str, markers: Sequence[int] = ()) -> str:
    """The answer escaped, with its known `[n]` markers styled as citation badges."""
    known = set(markers)

    def badge(match: re.Match[str]) -> str:
        n = int(match.group(1))
        return f'<span class="qa-marker">[{n}]</span>' if n in known else match.group(0)

    return _MARKER.sub(badge, esc(text))


def split_notes(answer: Answer) -> tuple[str, tuple[str, ...]]:
    """The answer text without its trailing notes (about disagreeing sources), and the notes."""
    text = answer.text
    for note in answer.notes:
        text = text.replace(note, "")
    return text.strip(), answer.notes


def parse_span(start: Any, end: Any, length: int) -> tuple[int, int] | None:
    """A (start, end) pair from query parameters when it is a valid, non-empty span of a text of `length`."""
    try:
        lo, hi = int(str(start)), int(str(end))
    except (TypeError, ValueError):
        return None
    return (lo, hi) if 0 <= lo < hi <= length else None


@dataclass(frozen=True)
class Card:
    """What a citation (or a retrieved passage) card shows."""

    n: int | None
    doc_id: str
    title: str
    outlet: str
    published_at: str | None
    page: int | None
    start: int
    end: int
    snippet: Snippet
    score: float | None = None

    @property
    def meta(self) -> str:
        """`Outlet · 3 May 2025 · p. 2` (plain text)."""
        parts = [self.outlet, format_date(self.published_at)]
        if self.page is not None:
            parts.append(f"p. {self.page}")
        return " · ".join(parts)

    @property
    def link_params(self) -> dict[str, str]:
        """Query parameters of the article view for this span."""
        return {"doc": self.doc_id, "start": str(self.start), "end": str(self.end)}


def citation_card(citation: Citation, lookup: Lookup, chars: int = CONTEXT_CHARS) -> Card:
    """A card for `citation`, with context from its article (or just the quote if the article is gone)."""
    document = lookup(citation.doc_id)
    if document is not None and document.text[citation.start : citation.end] == citation.quote:
        snippet = context_window(document.text, citation.start, citation.end, chars)
    else:
        snippet = Snippet("", citation.quote, "", False, False)
    return Card(
        citation.n,
        citation.doc_id,
        citation.title,
        outlet_of(document, citation.source),
        citation.published_at,
        citation.page,
        citation.start,
        citation.end,
        snippet,
    )


def clip(text: str, limit: int = PASSAGE_CHARS) -> str:
    """`text` cut at a word boundary near `limit` characters, with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    space = text.rfind(" ", 0, limit)
    return text[: space if space > limit // 2 else limit].rstrip() + "…"


def passage_card(passage: Passage, lookup: Lookup) -> Card:
    """A card for a retrieved passage (its beginning, nothing highlighted)."""
    document = lookup(passage.doc_id)
    return Card(
        None,
        passage.doc_id,
        passage.title,
        outlet_of(document, passage.source),
        passage.published_at,
        passage.page,
        passage.start,
        passage.end,
        Snippet(clip(passage.text), "", "", False, False),
        passage.score,
    )


def card_html(card: Card) -> str:
    """The body of a card: number, title, outlet/date/page line, and the quote in its context."""
    number = f'<span class="qa-marker">[{card.n}]</span> ' if card.n is not None else ""
    body = snippet_html(card.snippet) if card.snippet.quote else esc(card.snippet.before)
    score = f" · score {card.score:.3f}" if card.score is not None else ""
    return (
        '<div class="qa-card">'
        f'<div class="qa-card-title">{number}{esc(card.title)}</div>'
        f'<div class="qa-card-meta">{esc(card.meta)}{score}</div>'
        f'<div class="qa-card-quote">{body}</div>'
        "</div>"
    )


def metadata_rows(document: Document) -> list[tuple[str, str]]:
    """(field, value) pairs describing an article, values as display strings."""
    rows = [
        ("Source", document.source),
        ("Published", format_date(document.published_at)),
        ("Added", (document.added_at or "")[:19].replace("T", " ")),
        ("Document id", document.doc_id),
    ]
    if document.page_starts:
        rows.append(("Pages", str(len(document.page_starts))))
    for key, value in sorted(document.metadata.items()):
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        rows.append((str(key), shown))
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


def filters_summary(values: Mapping[str, Any]) -> str:
    """`from 2025-05-01 · to … · sources: AP, Reuters` for the filters that are set (plain text)."""
    parts = []
    if values.get("published_after"):
        parts.append(f"from {values['published_after']}")
    if values.get("published_before"):
        parts.append(f"to {values['published_before']}")
    if values.get("sources"):
        parts.append("sources: " + ", ".join(values["sources"]))
    return " · ".join(parts)


SCROLL_SCRIPT = f"""
<script>
(function () {{
  var tries = 0;
  var timer = setInterval(function () {{
    var mark = document.getElementById("{MARK_ID}");
    if (mark || ++tries > 100) {{
      clearInterval(timer);
      if (mark) mark.scrollIntoView({{block: "center"}});
    }}
  }}, 100);
}})();
</script>
"""

CSS = """
<style>
.qa-card-title { font-weight: 600; line-height: 1.3; margin-bottom: .15rem; }
.qa-card-meta { color: #5f6b7a; font-size: .85rem; margin-bottom: .4rem; }
.qa-card-quote { font-size: .92rem; line-height: 1.5; color: #2b2f36; }
.qa-answer { font-size: 1.02rem; line-height: 1.6; }
mark.qa-quote { background: #fff1a8; color: inherit; padding: 0 .1em; border-radius: 2px; }
.qa-marker { display: inline-block; font-size: .72rem; font-weight: 600; color: #1f5fa8; background: #e6effa;
             border-radius: .6rem; padding: 0 .4rem; margin-left: .1rem; vertical-align: super; line-height: 1.3; }
.qa-article { white-space: pre-wrap; font-family: Georgia, "Times New Roman", serif; font-size: 1.05rem;
              line-height: 1.7; max-width: 46rem; }
.qa-title { font-size: 1.9rem; line-height: 1.25; margin: 0 0 .3rem 0; padding: 0; }
table.qa-meta { font-size: .85rem; border-collapse: collapse; width: 100%; }
table.qa-meta th { text-align: left; color: #5f6b7a; font-weight: 500; padding: .2rem .6rem .2rem 0;
                   vertical-align: top; white-space: nowrap; }
table.qa-meta td { padding: .2rem 0; overflow-wrap: anywhere; }
</style>
"""
