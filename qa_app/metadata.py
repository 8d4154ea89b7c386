"""Article facts read from the text itself: a date printed near the top, a heading that repeats the title."""

from __future__ import annotations

import re

TOP_CHARS = 600  # "near the top of the first page": a dateline sits within the first few lines
_MONTHS = (
    "January|February|March|April|May|June|July|August|September|October|November|December|"
    "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec"
)
_ORDINAL = r"(?:st|nd|rd|th)?"
_PRINTED_DATE = re.compile(
    rf"\b(?:(?P<m1>{_MONTHS})\.? (?P<d1>\d{{1,2}}){_ORDINAL},? (?P<y1>\d{{4}})"
    rf"|(?P<d2>\d{{1,2}}){_ORDINAL} (?P<m2>{_MONTHS})\.?,? (?P<y2>\d{{4}})"
    r"|(?P<iso>\d{4}-\d{2}-\d{2}))\b",
    re.IGNORECASE,
)
_BYLINE = re.compile(r"(?:by|von|par|di|por)\s+\w", re.IGNORECASE)
_TITLE_SEPARATORS = (" | ", " - ", " – ", " — ", " :: ", " · ")


def printed_date(text: str, within: int = TOP_CHARS) -> str | None:
    """The first date written out in the first `within` characters, as `May 20, 2025` or ISO; None if none.

    The result is for `documents.parse_date`, which checks that it is a real day (not "Feb 30, 2025").
    """
    match = _PRINTED_DATE.search(text[:within])
    if match is None:
        return None
    if match["iso"]:
        return match["iso"]
    month = (match["m1"] or match["m2"]).title()
    month = "Sep" if month == "Sept" else month  # strptime knows "Sep" and "September" only
    return f"{month} {match['d1'] or match['d2']}, {match['y1'] or match['y2']}"


def without_site_name(title: str, site: str | None) -> str:
    """`Bridge reopens | Torino Daily` as `Bridge reopens` when the site's name is known."""
    if not site:
        return title
    for separator in _TITLE_SEPARATORS:
        head, sep, tail = title.rpartition(separator)
        if sep and head.strip() and _same(tail, site):
            return head.strip()
    return title


def drop_leading_title(text: str, title: str) -> tuple[str, str]:
    """(title, text) without the text's first line when that line repeats the title (an HTML `<h1>`).

    A title such as `Bridge reopens | Daily` whose first part is that line becomes the line. The text is
    otherwise unchanged, so every offset into the stored text is exact; a text that is only its title is kept.
    """
    first, _, rest = text.partition("\n")
    if not rest.strip():
        return title, text
    if _same(first, title):
        return title, rest.strip()
    for separator in _TITLE_SEPARATORS:
        head, sep, _ = title.partition(separator)
        if sep and _same(first, head):
            return head.strip(), rest.strip()
    return title, text


def leading_byline(text: str, max_chars: int = 120) -> tuple[str, str]:
    """(byline, rest) when `text` opens with a short line of its own naming the author or the date, else ("", text).

    `By Ana Ruiz, Genoa, May 20, 2025` above a PDF article is not a sentence of it: left in, it gets quoted.
    """
    first, _, rest = text.partition("\n")
    dated = printed_date(first, within=max_chars) is not None
    if rest.startswith("\n") and len(first) <= max_chars and (_BYLINE.match(first) or dated):
        return first, rest.strip()
    return "", text


def _same(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()
