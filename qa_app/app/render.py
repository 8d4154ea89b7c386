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

from qa_app.metadata import DATE_FROM_FILE, DATE_FROM_TEXT
from qa_app.records import Answer, Citation, Document, Note, Passage

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


def cite_anchor(prefix: str, n: int) -> str:
    """Element id of source card `n` of one answer (`prefix` tells the answers of a conversation apart)."""
    return f"qa-cite-{prefix}-{n}"


def marker_html(n: int, prefix: str | None = None, quote: str | None = None) -> str:
    """Badge `[n]`; with `prefix`, a link to its source card, and the quote as a hover/focus preview."""
    if prefix is None:
        return f'<span class="qa-marker">[{n}]</span>'
    preview = f'<span class="qa-preview" role="tooltip">“{esc(quote)}”</span>' if quote else ""
    return (
        f'<span class="qa-cite"><a class="qa-marker" href="#{esc(cite_anchor(prefix, n))}" '
        f'aria-label="Source {n}">[{n}]</a>{preview}</span>'
    )


def answer_html(
    text: str, markers: Sequence[int] = (), *, prefix: str | None = None, quotes: Mapping[int, str] | None = None
) -> str:
    """The answer escaped, with its known `[n]` markers as badges (links to the source cards with `prefix`)."""
    known = set(markers)
    quotes = quotes or {}

    def badge(match: re.Match[str]) -> str:
        n = int(match.group(1))
        return marker_html(n, prefix, quotes.get(n)) if n in known else match.group(0)

    return _MARKER.sub(badge, esc(text))


def split_notes(answer: Answer) -> tuple[str, tuple[Note, ...]]:
    """The answer text without the notes it ends with (about disagreeing sources), and the notes."""
    text = answer.text
    for note in answer.notes:
        if note.in_text:
            text = text.replace(note.text, "")
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
    date_note: str = ""  # see `date_note`

    @property
    def shown_date(self) -> str:
        """`3 May 2025`, or `1 Dec 2026 (PDF file date)`."""
        return format_date(self.published_at) + (f" ({self.date_note})" if self.date_note else "")

    @property
    def meta(self) -> str:
        """`Outlet · 3 May 2025 · p. 2` (plain text; "p. 2" never breaks across lines)."""
        parts = [self.outlet, self.shown_date]
        if self.page is not None:
            parts.append(f"p.\u00a0{self.page}")
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
        date_note=_date_note_of(document, citation.published_at),
    )


def _date_note_of(document: Document | None, published_at: str | None) -> str:
    if document is None:
        return ""
    return date_note(published_at, document.added_at, document.metadata.get("date_source"))


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
        date_note=_date_note_of(document, passage.published_at),
    )


def card_html(card: Card, anchor: str | None = None) -> str:
    """The body of a card: number, title, outlet/date/page line, and the quote in its context.

    `anchor` is the card's element id, the target of its `[n]` markers in the answer.
    """
    number = f'<span class="qa-marker">[{card.n}]</span> ' if card.n is not None else ""
    body = snippet_html(card.snippet) if card.snippet.quote else esc(card.snippet.before)
    score = f" · score {card.score:.3f}" if card.score is not None else ""
    ident = f' id="{esc(anchor)}" tabindex="-1"' if anchor else ""
    return (
        f'<div class="qa-card"{ident}>'
        f'<div class="qa-card-title">{number}{esc(card.title)}</div>'
        f'<div class="qa-card-meta">{esc(card.meta)}{score}</div>'
        f'<div class="qa-card-quote">{body}</div>'
        "</div>"
    )


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


def asked_with(values: Mapping[str, Any], k: int | None) -> str:
    """`from 2025-05-01 · sources: AP · k = 8`, or `no filters · k = 8` (plain text)."""
    return " · ".join(part for part in (filters_summary(values) or "no filters", f"k = {k}" if k else "") if part)


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

CHART_SCRIPT = """
<script>
(function () {
  // a chart's toolbar (data, PNG, spec, fullscreen): there for the mouse, not four stops on every Tab
  if (!window.qaQuietCharts) {
    window.qaQuietCharts = true;
    var quiet = function () {
      var chart = "[data-testid='stFullScreenFrame']:has([data-testid='stVegaLiteChart'])";
      document.querySelectorAll(chart + " [data-testid='stElementToolbar'] button").forEach(function (button) {
        if (button.tabIndex !== -1) button.tabIndex = -1;
      });
    };
    new MutationObserver(quiet).observe(document.body, {childList: true, subtree: true});
    quiet();
  }
})();
</script>
"""

CHAT_SCRIPT = """
<script>
(function () {
  // [n] markers: scroll to their source card and flash it (the href is the fallback without this script)
  if (!window.qaCiteLinks) {
    window.qaCiteLinks = true;
    document.addEventListener("click", function (event) {
      var link = event.target.closest ? event.target.closest("a.qa-marker[href^='#qa-cite-']") : null;
      var card = link ? document.getElementById(link.getAttribute("href").slice(1)) : null;
      if (!card) return;
      event.preventDefault();
      card.scrollIntoView({block: "center", behavior: "smooth"});
      card.classList.remove("qa-flash");
      void card.offsetWidth;  // restart the animation
      card.classList.add("qa-flash");
      card.focus({preventScroll: true});
    });
  }
  // the chat box takes the keyboard when the page opens, unless the reader is already somewhere else
  var tries = 0;
  var timer = setInterval(function () {
    var box = document.querySelector("[data-testid='stChatInputTextArea']");
    if ((box && !box.disabled) || ++tries > 100) {
      clearInterval(timer);
      var idle = !document.activeElement || document.activeElement === document.body;
      if (box && !box.disabled && idle) box.focus();
    }
  }, 100);
})();
</script>
"""

# Colours: text inherits the theme's (light or dark, from the reader's system setting); only badges and
# highlights, which bring their own background, set a text colour.
CSS = """
<style>
.qa-card { border-radius: .4rem; outline: 2px solid transparent; outline-offset: .35rem; }
.qa-card:focus { outline-color: transparent; }
.qa-card.qa-flash, .qa-card:target { animation: qa-flash 2.4s ease-out; }
@keyframes qa-flash { 0%, 60% { outline-color: #1f5fa8; background: rgba(31, 95, 168, .12); } }
.qa-card-title { font-weight: 600; line-height: 1.3; margin-bottom: .15rem; }
.qa-card-meta { opacity: .78; font-size: .85rem; margin-bottom: .4rem; }
.qa-card-quote { font-size: .92rem; line-height: 1.5; }
.qa-answer { font-size: 1.02rem; line-height: 1.6; }
mark.qa-quote { background: #fff1a8; color: #1d1d1d; padding: 0 .1em; border-radius: 2px; }
.qa-marker { display: inline-block; font-size: .72rem; font-weight: 600; color: #1f5fa8; background: #e6effa;
             border-radius: .6rem; padding: 0 .4rem; margin-left: .1rem; vertical-align: super; line-height: 1.3;
             text-decoration: none; white-space: nowrap; }
a.qa-marker:hover, a.qa-marker:focus-visible { background: #1f5fa8; color: #ffffff; }
a.qa-marker:focus-visible { outline: 2px solid #1f5fa8; outline-offset: 1px; }
.qa-cite { position: relative; }
.qa-preview { display: none; position: absolute; left: 0; top: 1.6em; z-index: 20; width: min(24rem, 70vw);
              padding: .45rem .6rem; border-radius: .35rem; background: #1d2733; color: #f4f6f8;
              font-size: .82rem; line-height: 1.45; font-weight: 400; box-shadow: 0 4px 14px rgba(0, 0, 0, .25); }
.qa-cite:hover .qa-preview, .qa-cite:focus-within .qa-preview { display: block; }
.qa-article { white-space: pre-wrap; font-family: Georgia, "Times New Roman", serif; font-size: 1.05rem;
              line-height: 1.7; max-width: 46rem; }
.qa-title { font-size: 1.9rem; line-height: 1.25; margin: 0 0 .3rem 0; padding: 0; }
table.qa-meta { font-size: .85rem; border-collapse: collapse; width: 100%; }
table.qa-meta th { text-align: left; opacity: .78; font-weight: 500; padding: .2rem .6rem .2rem 0;
                   vertical-align: top; white-space: nowrap; }
table.qa-meta td { padding: .2rem 0; overflow-wrap: anywhere; }
</style>
"""
