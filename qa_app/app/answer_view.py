"""An answer's text as HTML: its `[n]` markers as badges linked to the source cards, its notes, its settings."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from qa_app.app.render import esc
from qa_app.records import Answer, Note

_MARKER = re.compile(r"\[(\d+)\]")


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
