"""Load article files (.txt .md .html .htm .pdf .json .jsonl) into normalised `Document`s."""

from __future__ import annotations

import email.utils
import html
import io
import json
import os
import re
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pypdf
import trafilatura
import yaml

from qa_app.config import (
    DB_NAME,
    DEFAULT_MAX_METADATA_CHARS,
    DEFAULT_MAX_PDF_CONTENT_MB,
    DEFAULT_MAX_PDF_PAGES,
    DEFAULT_MAX_PDF_SECONDS,
    DEFAULT_MAX_RECORDS,
    DEFAULT_MAX_TEXT_CHARS,
    SUPPORTED_SUFFIXES,
)  # fmt: skip
from qa_app.errors import LoadError
from qa_app.metadata import (
    DATE_FROM_FILE,
    DATE_FROM_TEXT,
    drop_leading_title,
    leading_byline,
    printed_date,
    without_site_name,
)
from qa_app.records import Document, Failure, text_doc_id

_MB = 1024 * 1024
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_LINE_BREAKS = re.compile(r"\r\n|[\r\x0b\x0c\x85\u2028]")
_SPACES = re.compile(r"[\t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")
# controls, soft hyphens, zero-width characters, and bidi embeddings/overrides/isolates (U+202A-E, U+2066-9): an
# override makes a quote read differently from the stored text ("5.3" shown as "3.5"), so none is kept
_INVISIBLE = re.compile(r"[\x00-\x09\x0e-\x1f\x7f-\x9f\u00ad\u200b-\u200d\u202a-\u202e\u2060\u2066-\u2069\ufeff]")
_SURROGATES = re.compile("[\ud800-\udfff]")  # lone halves of UTF-16 pairs, from JSON escapes or PDF fonts
_RUNS_OF_SPACES = re.compile(r" {2,}")
# the lookbehind keeps this linear: without it, a long run of spaces inside a line is rescanned from each space
_TRAILING_SPACES = re.compile(r"(?<! ) +$", re.MULTILINE)
_BLANK_LINES = re.compile(r"\n{3,}")
_LINE_END_HYPHEN = re.compile(r"(?<=[^\W\d_])-\n(?=[^\W\d_])")
_SINGLE_NEWLINE = re.compile(r"(?<!\n)\n(?!\n)")
_DATE_FORMATS = ("%B %d, %Y", "%b %d, %Y", "%d %B %Y", "%d %b %Y", "%Y/%m/%d")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)^(?:---|\.\.\.)[ \t]*\r?$\n?", re.MULTILINE | re.DOTALL)
_MD_HEADING = re.compile(r"#[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*")
_TITLE_OPEN = re.compile(rb"<title\b[^<>]{0,1000}>", re.IGNORECASE)  # bounded: linear on hostile markup
_TITLE_CLOSE = re.compile(rb"</title\s*>", re.IGNORECASE)
_LEAD_LINES = 3  # a PDF's headline, byline and dateline
_MAX_LEAD_CHARS = 120
_MAX_TITLE_CHARS = 300  # the title goes into every chunk's embedding and BM25 text
_MAX_JSON_DEPTH = 32
_MAX_JSON_DIGITS = 100
_CONTROL_OR_BIDI = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_DRIVE = re.compile(r"\A[A-Za-z]:")
_MAX_NAME_BYTES = 200  # file systems allow 255 bytes of UTF-8
_ARTICLE_LISTS = ("articles", "documents", "items")
_CONSUMED_FIELDS = {"title", "body", "text", "source", "published_at", "date"}
_OPTIONAL_STRINGS = ("source", "url", "published_at", "date")
_JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}


# --- normalisation and building documents ----------------------------------------------------


def normalize_text(text: str, *, dehyphenate: bool = False) -> str:
    """Clean text so the same article always gives the same string (and the same doc_id)."""
    text = _LINE_BREAKS.sub("\n", text).replace("\u2029", "\n\n")
    text = _SURROGATES.sub("\ufffd", text)  # they cannot be encoded, stored or hashed
    text = _INVISIBLE.sub("", _SPACES.sub(" ", text))
    if dehyphenate:
        text = _TRAILING_SPACES.sub("", text)
        text = _LINE_END_HYPHEN.sub(_join_hyphenated, text)
        text = _SINGLE_NEWLINE.sub(" ", _BLANK_LINES.sub("\n\n", text))
    text = _TRAILING_SPACES.sub("", _RUNS_OF_SPACES.sub(" ", text))
    # NFC last: removing an invisible char can bring a base letter and a combining mark together.
    return unicodedata.normalize("NFC", _BLANK_LINES.sub("\n\n", text).strip())


def _join_hyphenated(match: re.Match[str]) -> str:
    """Drop a line-end hyphen only before a lowercase letter ("inter-\\nnational")."""
    return "" if match.string[match.end()].islower() else match.group()


def make_document(
    *,
    title: str,
    text: str,
    source: str,
    published_at: str | date | None = None,
    metadata: dict[str, Any] | None = None,
    page_starts: tuple[int, ...] = (),
) -> Document:
    """A Document for already-normalised `text`; the title falls back to the text's first line."""
    if not text.strip():
        raise LoadError(source, "no text (empty or whitespace only)")
    try:
        published = parse_date(published_at)
    except ValueError as exc:
        raise LoadError(source, f"published_at: {exc}") from exc
    title = _clip(_collapse(title)) or text.split("\n", 1)[0][:120].strip()
    return Document(
        doc_id=text_doc_id(text),
        title=title,
        text=text,
        source=source,
        published_at=published,
        metadata=dict(metadata or {}),
        page_starts=page_starts,
    )


def _clip(title: str) -> str:
    """A title cut to `_MAX_TITLE_CHARS` at a word boundary."""
    if len(title) <= _MAX_TITLE_CHARS:
        return title
    cut = title[: _MAX_TITLE_CHARS - 1]
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


def _collapse(value: object) -> str:
    """`value` as one line of normalised text."""
    return " ".join(normalize_text(str(value)).split()) if value is not None else ""


def _stem_title(path: Path) -> str:
    return " ".join(re.sub(r"[-_]+", " ", path.stem).split())


# --- walking and loading files -----------------------------------------------------------------


def iter_files(
    paths: Iterable[Path], skipped: list[Failure] | None = None, *, follow_links: bool = False
) -> Iterator[Path]:
    """Files named in `paths`, and the files under named folders, in sorted order.

    Hidden files and folders are skipped, and so is any index directory inside (a folder holding `DB_NAME`).
    Inside a folder, a symbolic link that leads out of it is not followed unless `follow_links`, and a file
    whose name is not valid UTF-8 is not read; each is added to `skipped` with the reason.
    """
    for path in paths:
        if path.is_file():
            yield path
        elif path.is_dir():
            walk = _Walk(path.resolve(), follow_links, [] if skipped is None else skipped)
            yield from _walk(path, seen=set(), walk=walk)
        elif path.exists():
            raise LoadError(str(path), "not a regular file or folder")
        else:
            raise LoadError(str(path), "no such file or folder")


@dataclass(frozen=True)
class _Walk:
    """One folder being walked: where it really is, whether links may lead out of it, what was skipped."""

    root: Path
    follow_links: bool
    skipped: list[Failure]


def shown_path(path: Path) -> str:
    """A path as text that can always be printed and stored: undecodable bytes of its name as \\xNN."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _walk(folder: Path, *, seen: set[Path], walk: _Walk) -> Iterator[Path]:
    resolved = folder.resolve()
    if resolved in seen:  # a symlink loop
        return
    seen.add(resolved)
    try:
        entries = sorted(folder.iterdir())
    except OSError as exc:
        raise LoadError(str(folder), f"cannot read the folder ({exc.strerror or exc})") from exc
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if _SURROGATES.search(entry.name):  # os.fsdecode keeps undecodable bytes as lone surrogates
            walk.skipped.append(Failure(shown_path(entry), "the file name is not valid UTF-8; rename the file"))
            continue
        if entry.is_symlink() and not walk.follow_links and not entry.resolve().is_relative_to(walk.root):
            reason = f"a symbolic link to {shown_path(entry.resolve())}, outside {walk.root}: not followed"
            walk.skipped.append(Failure(shown_path(entry), f"{reason} (QA_APP_FOLLOW_LINKS=1 follows links)"))
            continue
        if entry.is_dir():
            if not (entry / DB_NAME).exists():
                yield from _walk(entry, seen=seen, walk=walk)
        elif entry.is_file():
            yield entry


@dataclass(frozen=True)
class _Limits:
    """What one file may hold before it is refused (see Settings)."""

    max_bytes: int
    max_pdf_pages: int = DEFAULT_MAX_PDF_PAGES
    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS
    max_records: int = DEFAULT_MAX_RECORDS
    max_metadata_chars: int = DEFAULT_MAX_METADATA_CHARS
    max_pdf_content_mb: float = DEFAULT_MAX_PDF_CONTENT_MB
    max_pdf_seconds: float = DEFAULT_MAX_PDF_SECONDS


def load_file(
    path: Path,
    *,
    max_bytes: int,
    max_pdf_pages: int = DEFAULT_MAX_PDF_PAGES,
    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
) -> list[Document]:
    """The documents in one file; bad JSONL records are skipped (`load_files` reports them)."""
    documents, failures = _load(path, _Limits(max_bytes, max_pdf_pages, max_text_chars))
    if not documents:
        raise LoadError(str(path), f"no valid records ({len(failures)} failed; first: {failures[0]})")
    return documents


def load_files(
    paths: Iterable[Path],
    *,
    max_bytes: int,
    max_pdf_pages: int = DEFAULT_MAX_PDF_PAGES,
    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
    uploads: bool = False,
    follow_links: bool = False,
    max_records: int = DEFAULT_MAX_RECORDS,
    max_metadata_chars: int = DEFAULT_MAX_METADATA_CHARS,
    max_pdf_content_mb: float = DEFAULT_MAX_PDF_CONTENT_MB,
    max_pdf_seconds: float = DEFAULT_MAX_PDF_SECONDS,
) -> tuple[list[Document], list[Failure]]:
    """Every document under `paths`, and a Failure for each file or record that could not be loaded.

    Each document gets its identity (`Document.key`): its canonical URL or its record's own id when it has one,
    else its file's absolute path (plus the line or record number in a JSON/JSONL file). With `uploads`,
    files are uploads saved in a temporary folder and known by `upload:` + their name instead of their path.
    """
    limits = _Limits(max_bytes, max_pdf_pages, max_text_chars, max_records, max_metadata_chars, max_pdf_content_mb,
                     max_pdf_seconds)  # fmt: skip
    documents: list[Document] = []
    failures: list[Failure] = []
    for path in paths:
        try:
            files = list(iter_files([path], failures, follow_links=follow_links))
        except LoadError as exc:
            failures.append(Failure(exc.source, exc.reason))
            continue
        except OSError as exc:  # a name too long, a folder we may not enter...
            failures.append(Failure(str(path), f"cannot read ({exc.strerror or exc})"))
            continue
        for file in files:
            try:
                loaded, bad = _load(file, limits)
            except LoadError as exc:
                failures.append(Failure(exc.source, exc.reason))
                continue
            documents.extend(with_identity(doc, file, uploads) for doc in loaded)
            failures.extend(bad)
    return documents, failures


def with_identity(doc: Document, file: Path, upload: bool = False) -> Document:
    """The document with its identity for replacement (see `load_files`)."""
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
    return replace(doc, identity=identity)


def _load(path: Path, limits: _Limits) -> tuple[list[Document], list[Failure]]:
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        kind = f"'{suffix}'" if suffix else "(no extension)"
        supported = " ".join(SUPPORTED_SUFFIXES)
        raise LoadError(str(path), f"unsupported file type {kind} (supported: {supported})")
    data = _read(path, max_bytes=limits.max_bytes)
    if suffix in _MULTI_LOADERS:
        return _MULTI_LOADERS[suffix](path, data, limits)
    try:
        document = _SINGLE_LOADERS[suffix](path, data, limits)
        _check_length(path.name, document.text, limits.max_text_chars)
    except LoadError as exc:  # make_document names the document's source (a URL, say); report the file
        raise LoadError(str(path), exc.reason) from exc
    return [document], []


def _check_length(source: str, text: str, max_chars: int) -> None:
    if len(text) > max_chars:
        raise LoadError(source, _too_long(f"text is {len(text):,} characters", max_chars))


def _too_long(what: str, max_chars: int) -> str:
    return f"{what}, over the {max_chars:,}-character limit per article (QA_APP_MAX_TEXT_CHARS)"


def _read(path: Path, *, max_bytes: int) -> bytes:
    """The file's bytes, refusing empty and oversized files before reading them."""
    try:
        size = path.stat().st_size
        if size == 0:
            raise LoadError(str(path), "empty file")
        if size <= max_bytes:
            with path.open("rb") as handle:
                data = handle.read(max_bytes + 1)  # the file may grow after the stat
            size = len(data)
        if size > max_bytes:
            raise LoadError(
                str(path),
                f"file is {size / _MB:.1f} MB, over the {max_bytes / _MB:.1f} MB limit (QA_APP_MAX_FILE_MB)",
            )
        if size == 0:
            raise LoadError(str(path), "empty file")
        return data
    except OSError as exc:
        raise LoadError(str(path), f"cannot read the file ({exc.strerror or exc})") from exc


def safe_upload_name(name: str) -> str:
    """A client-supplied file name as a plain base name that cannot leave the folder it is saved in.

    Directory parts (POSIX `/`, Windows `\\`, a drive such as `C:`) are dropped and the extension is
    kept; names that are empty, `.` or `..`, hidden (leading dot) or hold control or bidirectional
    formatting characters raise LoadError.
    """
    shown = repr(name)
    if _CONTROL_OR_BIDI.search(name):
        raise LoadError(shown, "the file name contains control or invisible formatting characters; rename the file")
    base = _DRIVE.sub("", re.split(r"[\\/]", name)[-1])
    base = unicodedata.normalize("NFC", base).strip()
    if not base or base in {".", ".."}:
        raise LoadError(shown, "no file name left once folders are removed; name the file")
    if base.startswith("."):
        raise LoadError(shown, "hidden file names (starting with '.') are not accepted; rename the file")
    if len(base.encode("utf-8")) > _MAX_NAME_BYTES:  # shorten the stem, keep the extension
        stem, dot, suffix = base.rpartition(".")
        tail = f".{suffix}" if dot and len(suffix) <= 10 else ""
        stem = stem if tail else base
        cut = stem.encode("utf-8")[: _MAX_NAME_BYTES - len(tail.encode("utf-8"))]
        base = cut.decode("utf-8", "ignore").rstrip() + tail
    return base


def _decode(path: Path, data: bytes) -> str:
    """UTF-8 text (BOM allowed), or UTF-16 when the data starts with its BOM."""
    encoding = "utf-16" if data.startswith(_UTF16_BOMS) else "utf-8-sig"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        name = "UTF-16" if encoding == "utf-16" else "UTF-8"
        raise LoadError(str(path), f"not valid {name} text (binary file?)") from exc
    if "\x00" in text:
        raise LoadError(str(path), "contains NUL bytes (binary file?)")
    return text


# --- one loader per format ---------------------------------------------------------------------


def _is_headline(first: str, rest: str) -> bool:
    """A short first line followed by more text, that is not a hard-wrapped sentence going on."""
    if len(first) > 200 or not rest.strip():
        return False
    return rest.startswith("\n") or (not first.endswith((",", ";", ":", "-")) and not rest[:1].islower())


def _load_txt(path: Path, data: bytes, limits: _Limits) -> Document:
    """The first line is the title when it reads like a headline; otherwise the file name is."""
    text = normalize_text(_decode(path, data))
    first, _, rest = text.partition("\n")
    if _is_headline(first, rest):
        return make_document(title=first, text=rest.strip(), source=path.name)
    return make_document(title=_stem_title(path), text=text, source=path.name)


def _load_markdown(path: Path, data: bytes, limits: _Limits) -> Document:
    """Markdown kept as written; title from front matter, a leading `# Heading`, or the file name."""
    raw = _decode(path, data)
    match = _FRONT_MATTER.match(raw)
    front = _front_matter(path, match.group(1)) if match else {}
    text = normalize_text(raw[match.end() :] if match else raw)
    title = _collapse(front.pop("title", None))
    heading = _MD_HEADING.fullmatch(text.partition("\n")[0])
    if heading and (not title or _collapse(heading.group(1)).casefold() == title.casefold()):
        title, text = title or heading.group(1), text.partition("\n")[2].strip()
    published = front.pop("published_at", None) or front.pop("date", None)
    front.pop("date", None)  # when published_at won, date is a duplicate, not metadata
    outlet = front.pop("source", None)  # `source: Adriatic Wire` names the outlet; the file stays the source
    if outlet is not None and "outlet" not in front:
        front["outlet"] = _collapse(outlet)
    source = front.get("url") or path.name
    return make_document(
        title=title or _stem_title(path),
        text=text,
        source=str(source),
        published_at=published,
        metadata=front,
    )


class _NoAliasLoader(yaml.SafeLoader):
    """YAML without aliases: `*name` can repeat a node exponentially (a "billion laughs" bomb)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not accepted", mark)
        return super().compose_node(parent, index)


def _front_matter(path: Path, block: str) -> dict[str, Any]:
    try:
        loaded = yaml.load(block, Loader=_NoAliasLoader)  # a SafeLoader subclass: safe
    except RecursionError as exc:
        raise LoadError(str(path), "malformed YAML front matter (nested too deeply)") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 2}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise LoadError(str(path), f"malformed YAML front matter ({problem}{where})") from exc
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise LoadError(str(path), "front matter must be a YAML mapping of 'key: value' lines")
    try:
        return {str(key): _plain_json(value) for key, value in loaded.items()}
    except ValueError as exc:
        raise LoadError(str(path), f"front matter: {exc}") from exc


def _load_html(path: Path, data: bytes, limits: _Limits) -> Document:
    """Main text via trafilatura, which drops scripts, styles and navigation and sniffs the charset."""
    if b"\x00" in data and not data.startswith(_UTF16_BOMS):
        raise LoadError(str(path), "contains NUL bytes (binary file?)")
    options = {"include_comments": False, "include_tables": True, "favor_recall": True}
    extracted = _guarded(trafilatura.extract, data, **options) or _guarded(trafilatura.html2txt, data)
    text = normalize_text(extracted or "")
    if not text and _html_depth(data) >= _MAX_HTML_DEPTH:
        raise LoadError(str(path), f"HTML nested over {_MAX_HTML_DEPTH} elements deep, deeper than the HTML parser "
                                   "reads: no text could be extracted")  # fmt: skip
    if not text:
        raise LoadError(str(path), "no readable text in the HTML (only scripts/markup?)")
    meta = _guarded(trafilatura.extract_metadata, data)
    info = {
        "author": getattr(meta, "author", None),
        "outlet": _collapse(getattr(meta, "sitename", None)) or getattr(meta, "hostname", None),  # og:site_name
        "url": getattr(meta, "url", None),
    }
    title = _collapse(getattr(meta, "title", None)) or _title_tag(data)
    title = without_site_name(title, info["outlet"]) or _stem_title(path)
    title, text = drop_leading_title(text, title)  # the page's <h1> is not a sentence of the article
    return make_document(
        title=title,
        text=text,
        source=info["url"] or path.name,
        published_at=_guarded(parse_date, getattr(meta, "date", None)),
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


def _guarded(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """`function(...)`, or None when a parser chokes on input we do not control (a page, PDF metadata)."""
    try:
        return function(*args, **kwargs)
    except Exception:
        return None


def _title_tag(data: bytes) -> str:
    opening = _TITLE_OPEN.search(data)
    closing = _TITLE_CLOSE.search(data, opening.end()) if opening else None
    if not opening or not closing:
        return ""
    raw = data[opening.end() : closing.start()][: 4 * _MAX_TITLE_CHARS]
    return _collapse(html.unescape(raw.decode("utf-8", "replace")))


def _load_pdf(path: Path, data: bytes, limits: _Limits) -> Document:
    """Pages joined by blank lines; `page_starts[i]` is where page i+1 begins in the text."""
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not _guarded(reader.decrypt, ""):  # "" opens copy-protected PDFs
            raise LoadError(str(path), "encrypted PDF (password required)")
        _check_page_count(path, reader, limits.max_pdf_pages)
        _check_content_size(path, reader, int(limits.max_pdf_content_mb * _MB))
        pages = _extract_pages(path, reader, limits.max_text_chars, limits.max_pdf_seconds)
    except LoadError:
        raise
    except pypdf.errors.LimitReachedError as exc:
        raise LoadError(str(path), f"PDF structure too large to read safely ({_short(exc)})") from exc
    except Exception as exc:  # pypdf raises many kinds of errors on damaged files
        raise LoadError(str(path), f"corrupt or unreadable PDF ({_short(exc)})") from exc
    if not any(pages):
        raise LoadError(str(path), "no extractable text (scanned PDF? it needs OCR first)")
    first = next(n for n, page in enumerate(pages) if page)
    published, date_source = _guarded(parse_date, printed_date(pages[first])), DATE_FROM_TEXT
    if published is None:  # the file's own date: when the PDF was made, not when the article was published
        published, date_source = _guarded(parse_date, _pdf_date(reader)), DATE_FROM_FILE
    title = _pdf_title(_collapse(_guarded(lambda: reader.metadata.title)))
    headline, _, rest = pages[first].partition("\n")
    title = title or (headline if _is_headline(headline, rest) else "")
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
    return (_guarded(lambda: info.creation_date) or _guarded(lambda: info.modification_date)) if info else None


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
    count = _guarded(lambda: int(reader.trailer["/Root"]["/Pages"]["/Count"])) or 0
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
            raise LoadError(str(path), f"PDF page content passes {total / _MB:,.0f} MB by page {number} of "
                            f"{len(reader.pages):,}, over the {max_bytes / _MB:,.0f} MB limit "
                            "(QA_APP_MAX_PDF_CONTENT_MB)")  # fmt: skip


def _extract_pages(path: Path, reader: pypdf.PdfReader, max_chars: int, max_seconds: float) -> list[str]:
    """Each page's normalised text; stops as soon as the joined text would pass `max_chars`, or the time
    spent `max_seconds` (checked between pages)."""
    pages: list[str] = []
    joined = -2  # length of the non-empty pages joined by "\n\n"
    deadline = time.monotonic() + max_seconds
    for number, page in enumerate(reader.pages, 1):
        if time.monotonic() > deadline:
            raise LoadError(str(path), f"reading the text took over {max_seconds:g} s and stopped at page {number} "
                            f"of {len(reader.pages):,} (QA_APP_MAX_PDF_SECONDS)")  # fmt: skip
        text = _page_text(page.extract_text() or "", lead=not any(pages))
        joined += len(text) + 2 if text else 0
        if joined > max_chars:
            total = len(reader.pages)
            raise LoadError(str(path), _too_long(f"text passes {joined:,} characters by page {number} of {total}",
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
        if len(line) > _MAX_LEAD_CHARS or not _is_headline(line, after):
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


def _short(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]


# --- JSON and JSONL records --------------------------------------------------------------------


def _parse_json(text: str) -> object:
    """`json.loads` that refuses what would break storage or the JSON output later."""
    return json.loads(text, parse_constant=_refuse_constant, parse_int=_bounded_int)


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")


def _bounded_int(digits: str) -> int:
    if len(digits) > _MAX_JSON_DIGITS:
        raise ValueError(f"a number with {len(digits):,} digits")
    return int(digits)


def _json_problem(exc: Exception, *, one_line: bool = False) -> str:
    if isinstance(exc, json.JSONDecodeError):
        where = f"column {exc.colno}" if one_line else f"line {exc.lineno} column {exc.colno}"
        return f"invalid JSON ({exc.msg} at {where})"
    if isinstance(exc, RecursionError):
        return "invalid JSON (nested too deeply)"
    return f"invalid JSON ({_short(exc)})"


def _plain_json(value: Any) -> Any:
    """`value` as plain JSON data: dates become strings, lone surrogates U+FFFD; ValueError when it cannot be.

    Refuses NaN and infinities (the JSON output could not be parsed) and deep nesting (it could not be saved).
    """
    if _depth(value) > _MAX_JSON_DEPTH:
        raise ValueError(f"nested more than {_MAX_JSON_DEPTH} levels deep")
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, default=str)
    except ValueError as exc:
        raise ValueError("NaN or infinity is not a JSON number") from exc
    return json.loads(_SURROGATES.sub("\ufffd", text))


def _depth(value: Any) -> int:
    """How deeply lists and objects nest in `value` (counted without recursion, stopping past the limit)."""
    deepest, stack = 0, [(value, 1)]
    while stack and deepest <= _MAX_JSON_DEPTH:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list | tuple) else None
        if children is not None:
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in children)
    return deepest


def _load_json(path: Path, data: bytes, limits: _Limits) -> tuple[list[Document], list[Failure]]:
    """One article object, a list of them, or an object holding the list under articles/documents/items."""
    try:
        value = _parse_json(_decode(path, data))
    except (ValueError, RecursionError) as exc:
        raise LoadError(str(path), _json_problem(exc)) from exc
    if isinstance(value, dict):
        listed = next((value[key] for key in _ARTICLE_LISTS if isinstance(value.get(key), list)), None)
        if listed is None:
            return load_records([(path.name, value)], max_text_chars=limits.max_text_chars,
                                max_metadata_chars=limits.max_metadata_chars)  # fmt: skip
        value = listed
    if not isinstance(value, list):
        raise LoadError(str(path), f"expected a JSON object or a list of objects, got {_json_type(value)}")
    if not value:
        raise LoadError(str(path), "no articles in the file (empty list)")
    _check_record_count(path, len(value), limits.max_records)
    records = ((f"{path.name} record {n}", item) for n, item in enumerate(value, 1))
    return load_records(records, max_text_chars=limits.max_text_chars, max_metadata_chars=limits.max_metadata_chars)


def _check_record_count(path: Path, count: int, max_records: int) -> None:
    if count > max_records:
        raise LoadError(str(path), f"{count:,} records, over the limit of {max_records:,} per file "
                                   "(QA_APP_MAX_RECORDS; split the file)")  # fmt: skip


def _load_jsonl(path: Path, data: bytes, limits: _Limits) -> tuple[list[Document], list[Failure]]:
    """One article object per non-empty line; a bad line fails alone."""
    documents, failures = _jsonl_records(path, _decode(path, data), 1, limits)
    if not documents and not failures:
        raise LoadError(str(path), "no records in the file (only blank lines)")
    return documents, failures


def jsonl_parts(path: Path, part_bytes: int) -> list[tuple[int, int, int]]:
    """(start, end, first line number) byte ranges of about `part_bytes` that begin at line starts.

    A UTF-16 file stays one part (its lines cannot be found in the raw bytes).
    """
    data = path.read_bytes()
    if data.startswith(_UTF16_BOMS) or len(data) <= part_bytes:
        return [(0, len(data), 1)]
    parts, start, line = [], 0, 1
    while start < len(data):
        cut = data.find(b"\n", start + part_bytes)
        end = len(data) if cut < 0 else cut + 1
        parts.append((start, end, line))
        line += data.count(b"\n", start, end)
        start = end
    return parts


def load_jsonl_part(
    path: Path, start: int, end: int, first_line: int, *, max_text_chars: int = DEFAULT_MAX_TEXT_CHARS
) -> tuple[list[Document], list[Failure]]:
    """The records of bytes [start, end) of a JSONL file (see `jsonl_parts`), with their identities.

    Labels and identities are those `load_files` gives the same lines, so a file split between workers
    indexes as it does whole.
    """
    try:
        with path.open("rb") as handle:
            handle.seek(start)
            data = handle.read(end - start)
    except OSError as exc:
        raise LoadError(str(path), f"cannot read the file ({exc.strerror or exc})") from exc
    limits = _Limits(max_bytes=end - start, max_text_chars=max_text_chars)
    documents, failures = _jsonl_records(path, _decode(path, data), first_line, limits)
    return [with_identity(doc, path) for doc in documents], failures


def _jsonl_records(path: Path, text: str, first_line: int, limits: _Limits) -> tuple[list[Document], list[Failure]]:
    documents: list[Document] = []
    failures: list[Failure] = []
    # split on "\n" only: str.splitlines would also split inside strings holding U+2028.
    lines = [(n, line) for n, line in enumerate(text.split("\n"), first_line) if line.strip()]
    _check_record_count(path, len(lines), limits.max_records)
    for n, line in lines:
        label = f"{path.name} line {n}"
        try:
            value = _parse_json(line)
        except (ValueError, RecursionError) as exc:
            failures.append(Failure(label, _json_problem(exc, one_line=True)))
            continue
        loaded, bad = load_records([(label, value)], max_text_chars=limits.max_text_chars,
                                   max_metadata_chars=limits.max_metadata_chars)  # fmt: skip
        documents.extend(loaded)
        failures.extend(bad)
    return documents, failures


def load_records(
    records: Iterable[tuple[str, object]],
    *,
    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
    max_metadata_chars: int = DEFAULT_MAX_METADATA_CHARS,
) -> tuple[list[Document], list[Failure]]:
    """Documents from (label, parsed JSON value) pairs, and a Failure (named by label) for each bad one."""
    documents: list[Document] = []
    failures: list[Failure] = []
    for label, value in records:
        try:
            document = _record_document(label, value)
            _check_length(label, document.text, max_text_chars)
            _check_metadata(label, document.metadata, max_metadata_chars)
            documents.append(document)
        except LoadError as exc:
            failures.append(Failure(label, exc.reason))
    return documents, failures


def _check_metadata(label: str, metadata: dict[str, Any], max_chars: int) -> None:
    size = len(json.dumps(metadata, ensure_ascii=False))
    if size > max_chars:
        raise LoadError(label, f"metadata (the fields besides title, body and date) is {size:,} characters as JSON, "
                               f"over the {max_chars:,}-character limit (QA_APP_MAX_METADATA_CHARS)")  # fmt: skip


def _record_document(label: str, record: object) -> Document:
    if not isinstance(record, dict):
        raise LoadError(label, f"a record must be a JSON object, not {_json_type(record)}")
    try:
        record = _plain_json(record)
    except ValueError as exc:
        raise LoadError(label, str(exc)) from exc
    if "body" not in record and "text" not in record:
        raise LoadError(label, "missing 'body' (or 'text')")
    body = _string_field(label, record, "body" if "body" in record else "text", required=True)
    title = _string_field(label, record, "title", required=True)
    source, url, published, dated = (_string_field(label, record, key) for key in _OPTIONAL_STRINGS)
    metadata = {key: value for key, value in record.items() if key not in _CONSUMED_FIELDS}
    for key in ("url", "author", "category"):
        if metadata.get(key) is None:
            metadata.pop(key, None)
    if source:  # the outlet; `Document.source` must locate this one article, so that replacing works
        metadata["outlet"] = source
    return make_document(
        title=title,
        text=normalize_text(body),
        source=url or label,
        published_at=published or dated,
        metadata=metadata,
    )


def _string_field(label: str, record: dict[str, Any], key: str, *, required: bool = False) -> str:
    """`record[key]` if it is a string; "" when absent or null and not required."""
    value = record.get(key)
    if value is None and not required:
        return ""
    if value is None:
        raise LoadError(label, f"missing '{key}'")
    if not isinstance(value, str):
        raise LoadError(label, f"'{key}' must be a string, not {_json_type(value)}")
    return value


def _json_type(value: object) -> str:
    return "null" if value is None else _JSON_TYPES.get(type(value), type(value).__name__)


_SINGLE_LOADERS: dict[str, Callable[[Path, bytes, _Limits], Document]] = {
    ".txt": _load_txt,
    ".md": _load_markdown,
    ".html": _load_html,
    ".htm": _load_html,
    ".pdf": _load_pdf,
}
_MULTI_LOADERS: dict[str, Callable[[Path, bytes, _Limits], tuple[list[Document], list[Failure]]]] = {
    ".json": _load_json,
    ".jsonl": _load_jsonl,
}
