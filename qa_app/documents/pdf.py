"""PDF files: pages within bounds, their text joined with page offsets, the printed date and byline."""

from __future__ import annotations

import io
import re
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from qa_app.documents.bounds import MB, Limits, guarded, short, time_limit, too_long
from qa_app.documents.model import make_document, parse_date
from qa_app.documents.normalise import collapse, normalize_text
from qa_app.documents.text import is_headline
from qa_app.errors import LoadError
from qa_app.metadata import drop_leading_title, leading_byline, printed_date
from qa_app.records import DATE_FROM_FILE, DATE_FROM_TEXT, Document

if TYPE_CHECKING:
    import pypdf

_LEAD_LINES = 3  # a PDF's headline, byline and dateline
_MAX_LEAD_CHARS = 120


def load_pdf(path: Path, data: bytes, limits: Limits) -> Document:
    """Pages joined by blank lines; `page_starts[i]` is where page i+1 begins in the text."""
    import pypdf  # here, not at the top: answering never reads a PDF (0.08 s of every cold start)

    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not guarded(reader.decrypt, ""):  # "" opens copy-protected PDFs
            raise LoadError(str(path), "encrypted PDF (password required)")
        _check_page_count(path, reader, limits.max_pdf_pages)
        _check_content_size(path, reader, int(limits.max_pdf_content_mb * MB))
        pages = _extract_pages(path, reader, limits.max_text_chars, limits.max_pdf_seconds)
    except LoadError:
        raise
    except pypdf.errors.LimitReachedError as exc:
        raise LoadError(str(path), f"PDF structure too large to read safely ({short(exc)})") from exc
    except Exception as exc:  # pypdf raises many kinds of errors on damaged files
        raise LoadError(str(path), f"corrupt or unreadable PDF ({short(exc)})") from exc
    if not any(pages):
        raise LoadError(str(path), "no extractable text (scanned PDF? it needs OCR first)")
    first = next(n for n, page in enumerate(pages) if page)
    published, date_source = guarded(parse_date, printed_date(pages[first])), DATE_FROM_TEXT
    if published is None:  # the file's own date: when the PDF was made, not when the article was published
        published, date_source = guarded(parse_date, _pdf_date(reader)), DATE_FROM_FILE
    title = _pdf_title(collapse(guarded(lambda: reader.metadata.title)))
    headline, _, rest = pages[first].partition("\n")
    title = title or (headline if is_headline(headline, rest) else "")
    if title:  # the headline is the title, not the article's first sentence
        title, pages[first] = drop_leading_title(pages[first], title)
    byline, pages[first] = leading_byline(pages[first], _MAX_LEAD_CHARS)  # nor is "By Ana Ruiz, May 20, 2025"
    text, page_starts = _join_pages(pages)
    facts = {"pages": len(pages), "date_source": date_source if published else None, "byline": byline or None}
    return make_document(
        title=title,
        text=text,
        source=path.name,
        published_at=published,
        metadata={key: value for key, value in facts.items() if value},
        page_starts=page_starts,
    )


def _pdf_date(reader: pypdf.PdfReader) -> datetime | None:
    """The PDF's creation date, else its modification date (None metadata, or a malformed date: None)."""
    info = reader.metadata
    return (guarded(lambda: info.creation_date) or guarded(lambda: info.modification_date)) if info else None


_JUNK_PDF_TITLE = re.compile(
    r"^(untitled|untitled document|document\d*|title|microsoft (word|powerpoint|excel) - .*|.*\.(docx?|odt|rtf|pages|"
    r"pptx?|xlsx?|pdf|txt|indd|qxd))$",
    re.I,
)  # fmt: skip


def _pdf_title(title: str) -> str:
    """The PDF's metadata title, or "" (the first line of text is used) when it is a tool's placeholder."""
    return "" if _JUNK_PDF_TITLE.match(title.strip()) else title


def _check_page_count(path: Path, reader: pypdf.PdfReader, max_pages: int) -> None:
    """Refuse a page bomb before reading any page: the declared count first, then the real one."""
    count = guarded(lambda: int(reader.trailer["/Root"]["/Pages"]["/Count"])) or 0
    if count <= max_pages:  # the declared count may lie: walk the page tree too (pypdf bounds that walk)
        count = len(reader.pages)
    if count > max_pages:
        raise LoadError(str(path), f"PDF has {count:,} pages, over the {max_pages:,}-page limit (QA_APP_MAX_PDF_PAGES)")


def _check_content_size(path: Path, reader: pypdf.PdfReader, max_bytes: int) -> None:
    """Refuse a PDF whose pages decode to more content than `max_bytes` (one stream shared by every page counts
    once per page: text extraction reads it for each), before any text is extracted."""
    total = 0
    for number, page in enumerate(reader.pages, 1):
        contents = page.get_contents()
        total += len(contents.get_data()) if contents is not None else 0
        if total > max_bytes:
            raise LoadError(str(path), f"PDF page content passes {total / MB:,.0f} MB by page {number} of "
                            f"{len(reader.pages):,}, over the {max_bytes / MB:,.0f} MB limit "
                            "(QA_APP_MAX_PDF_CONTENT_MB)")  # fmt: skip


def _extract_pages(path: Path, reader: pypdf.PdfReader, max_chars: int, max_seconds: float) -> list[str]:
    """Each page's normalised text; stops as soon as the joined text would pass `max_chars`, or the time
    spent `max_seconds`: inside a page where `time_limit` can interrupt it, else checked between pages."""
    pages: list[str] = []
    try:
        with time_limit(max_seconds):
            return _page_texts(path, reader, max_chars, time.monotonic() + max_seconds, max_seconds, pages)
    except TimeoutError:
        raise LoadError(str(path), f"reading the text took over {max_seconds:g} s and stopped during page "
                        f"{len(pages) + 1} of {len(reader.pages):,} (QA_APP_MAX_PDF_SECONDS)") from None  # fmt: skip


def _page_texts(path: Path, reader: pypdf.PdfReader, max_chars: int, deadline: float, max_seconds: float,
                pages: list[str]) -> list[str]:  # fmt: skip
    joined = -2  # length of the non-empty pages joined by "\n\n"
    for number, page in enumerate(reader.pages, 1):
        if time.monotonic() > deadline:
            raise LoadError(str(path), f"reading the text took over {max_seconds:g} s and stopped at page {number} "
                            f"of {len(reader.pages):,} (QA_APP_MAX_PDF_SECONDS)")  # fmt: skip
        text = _page_text(page.extract_text() or "", lead=not any(pages))
        joined += len(text) + 2 if text else 0
        if joined > max_chars:
            total = len(reader.pages)
            raise LoadError(str(path), too_long(f"text passes {joined:,} characters by page {number} of {total}",
                                                 max_chars))  # fmt: skip
        pages.append(text)
    return pages


def _page_text(raw: str, *, lead: bool) -> str:
    """A page's text, its lines joined into paragraphs.

    With `lead` (the first page with text), its leading short lines that read like a headline, a byline or a
    dateline stay lines of their own instead of running into the first sentence (where they would be quoted).
    """
    rest, kept = normalize_text(raw), []
    while lead and len(kept) < _LEAD_LINES:
        line, _, after = rest.partition("\n")
        if len(line) > _MAX_LEAD_CHARS or not is_headline(line, after):
            break
        kept.append(line)
        rest = after.lstrip("\n")
    return normalize_text("\n\n".join([*kept, normalize_text(rest, dehyphenate=True)]), dehyphenate=True)


def _join_pages(pages: list[str]) -> tuple[str, tuple[int, ...]]:
    """Join non-empty pages with "\\n\\n"; an empty page starts where the text so far ends."""
    parts: list[str] = []
    starts: list[int] = []
    offset = 0
    for page in pages:
        if page and parts:
            offset += 2
        starts.append(offset)
        if page:
            parts.append(page)
            offset += len(page)
    return "\n\n".join(parts), tuple(starts)
