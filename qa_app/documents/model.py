"""Building a `Document`: its fields checked, its date parsed, its title, and its identity for replacement."""

from __future__ import annotations

import email.utils
import re
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

from qa_app.documents.normalise import collapse
from qa_app.errors import LoadError
from qa_app.records import Document, text_doc_id

_DATE_FORMATS = ("%B %d, %Y", "%b %d, %Y", "%d %B %Y", "%d %b %Y", "%Y/%m/%d")
MAX_TITLE_CHARS = 300  # the title goes into every chunk's embedding and BM25 text


def make_document(
    *,
    title: str,
    text: str,
    source: str,
    published_at: str | date | None = None,
    metadata: dict[str, Any] | None = None,
    page_starts: tuple[int, ...] = (),
    file: str = "",
) -> Document:
    """A Document for already-normalised `text`; the title falls back to the text's first line."""
    if not text.strip():
        raise LoadError(source, "no text (empty or whitespace only)")
    try:
        published = parse_date(published_at)
    except ValueError as exc:
        raise LoadError(source, f"published_at: {exc}") from exc
    title = _clip(collapse(title)) or text.split("\n", 1)[0][:120].strip()
    return Document(
        doc_id=text_doc_id(text),
        title=title,
        text=text,
        source=source,
        published_at=published,
        metadata=dict(metadata or {}),
        page_starts=page_starts,
        file=file,
    )


def _clip(title: str) -> str:
    """A title cut to `MAX_TITLE_CHARS` at a word boundary."""
    if len(title) <= MAX_TITLE_CHARS:
        return title
    cut = title[: MAX_TITLE_CHARS - 1]
    return (cut.rsplit(" ", 1)[0] if " " in cut else cut).rstrip() + "…"


def parse_date(value: str | date | None) -> str | None:
    """An ISO `YYYY-MM-DD` date from a date, a datetime or a common date string; None when empty."""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise ValueError(f"invalid date {value!r}: expected a string such as 2025-05-03")
    parsed = _parse_date_string(value.strip())
    if parsed is None:
        raise ValueError(f"unrecognised date {value!r} (use YYYY-MM-DD, ISO 8601 or e.g. 'May 3, 2025')")
    return parsed.isoformat()


def _parse_date_string(value: str) -> date | None:
    try:
        return datetime.fromisoformat(value).date()
    except ValueError:
        pass
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    try:  # RFC 2822, as in RSS feeds: "Sat, 03 May 2025 10:00:00 +0000"
        return email.utils.parsedate_to_datetime(value).date()
    except (TypeError, ValueError, OverflowError):  # OverflowError: a year such as 99999999999
        return None


def stem_title(path: Path) -> str:
    """A title made of the file name ("harbor-bridge_closes.txt" -> "harbor bridge closes")."""
    return " ".join(re.sub(r"[-_]+", " ", path.stem).split())


def with_identity(doc: Document, file: Path, upload: bool = False) -> Document:
    """The document with its identity for replacement (see `load_files`) and the file it came from.

    `Document.file` is the upload's name or the path (plus " line 3" for a record), whatever `source` says.
    """
    url = doc.metadata.get("url") or (doc.source if doc.source.startswith(("http://", "https://")) else "")
    own_id = doc.metadata.get("id")
    if isinstance(url, str) and url:
        identity = url
    elif isinstance(own_id, str | int) and not isinstance(own_id, bool) and str(own_id).strip():
        identity = f"id:{own_id}"
    else:
        where = f"upload:{file.name}" if upload else str(file.resolve())
        within = doc.source[len(file.name) :] if doc.source.startswith(file.name) else ""  # " line 3"
        identity = where + within
    label = doc.file or doc.source  # a record's "feed.jsonl line 3"
    line = label[len(file.name) :] if label.startswith(file.name) else ""
    return replace(doc, identity=identity, file=(file.name if upload else str(file)) + line)
