"""Citation and passage cards: the quote in its context, the article's outlet, date and page."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from qa_app.app.render import date_note, esc, format_date, outlet_of
from qa_app.records import Citation, Document, Passage

CONTEXT_CHARS = 150  # characters of article shown on each side of a quote in a citation card
PASSAGE_CHARS = 500  # a retrieved passage is shown up to about this length (the article view has the rest)

Lookup = Callable[[str], Document | None]


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
