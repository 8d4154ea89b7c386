"""Load article files (.txt .md .html .htm .pdf .json .jsonl) into normalised `Document`s."""

from __future__ import annotations

import email.utils
import html
import io
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pypdf
import trafilatura
import yaml

from qa_app.config import SUPPORTED_SUFFIXES
from qa_app.errors import LoadError
from qa_app.records import Document, Failure, text_doc_id

_MB = 1024 * 1024
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_LINE_BREAKS = re.compile(r"\r\n|[\r\x0b\x0c\x85\u2028]")
_SPACES = re.compile(r"[\t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")
_INVISIBLE = re.compile(r"[\x00-\x09\x0e-\x1f\x7f-\x9f\u00ad\u200b-\u200d\u2060\ufeff]")
_RUNS_OF_SPACES = re.compile(r" {2,}")
_TRAILING_SPACES = re.compile(r" +$", re.MULTILINE)
_BLANK_LINES = re.compile(r"\n{3,}")
_LINE_END_HYPHEN = re.compile(r"(?<=[^\W\d_])-\n(?=[^\W\d_])")
_SINGLE_NEWLINE = re.compile(r"(?<!\n)\n(?!\n)")
_DATE_FORMATS = ("%B %d, %Y", "%b %d, %Y", "%d %B %Y", "%d %b %Y", "%Y/%m/%d")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)^(?:---|\.\.\.)[ \t]*\r?$\n?", re.MULTILINE | re.DOTALL)
_MD_HEADING = re.compile(r"#[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*")
_TITLE_TAG = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_ARTICLE_LISTS = ("articles", "documents", "items")
_CONSUMED_FIELDS = {"title", "body", "text", "source", "published_at", "date"}
_OPTIONAL_STRINGS = ("source", "url", "published_at", "date")
_JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}


# --- normalisation and building documents ----------------------------------------------------


def normalize_text(text: str, *, dehyphenate: bool = False) -> str:
    """Clean text so the same article always gives the same string (and the same doc_id)."""
    text = _LINE_BREAKS.sub("\n", text).replace("\u2029", "\n\n")
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
    title = _collapse(title) or text.split("\n", 1)[0][:120].strip()
    return Document(
        doc_id=text_doc_id(text),
        title=title,
        text=text,
        source=source,
        published_at=published,
        metadata=dict(metadata or {}),
        page_starts=page_starts,
    )


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
    except (TypeError, ValueError):
        return None


def _collapse(value: object) -> str:
    """`value` as one line of normalised text."""
    return " ".join(normalize_text(str(value)).split()) if value is not None else ""


def _stem_title(path: Path) -> str:
    return " ".join(re.sub(r"[-_]+", " ", path.stem).split())


# --- walking and loading files -----------------------------------------------------------------


def iter_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Files named in `paths`, and the non-hidden files under named folders, in sorted order."""
    for path in paths:
        if path.is_file():
            yield path
        elif path.is_dir():
            yield from _walk(path, seen=set())
        elif path.exists():
            raise LoadError(str(path), "not a regular file or folder")
        else:
            raise LoadError(str(path), "no such file or folder")


def _walk(folder: Path, *, seen: set[Path]) -> Iterator[Path]:
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
        if entry.is_dir():
            yield from _walk(entry, seen=seen)
        elif entry.is_file():
            yield entry


def load_file(path: Path, *, max_bytes: int) -> list[Document]:
    """The documents in one file; bad JSONL records are skipped (`load_files` reports them)."""
    documents, failures = _load(path, max_bytes=max_bytes)
    if not documents:
        raise LoadError(str(path), f"no valid records ({len(failures)} failed; first: {failures[0]})")
    return documents


def load_files(paths: Iterable[Path], *, max_bytes: int) -> tuple[list[Document], list[Failure]]:
    """Every document under `paths`, and a Failure for each file or record that could not be loaded."""
    documents: list[Document] = []
    failures: list[Failure] = []
    for path in paths:
        try:
            files = list(iter_files([path]))
        except LoadError as exc:
            failures.append(Failure(exc.source, exc.reason))
            continue
        for file in files:
            try:
                loaded, bad = _load(file, max_bytes=max_bytes)
            except LoadError as exc:
                failures.append(Failure(exc.source, exc.reason))
                continue
            documents.extend(loaded)
            failures.extend(bad)
    return documents, failures


def _load(path: Path, *, max_bytes: int) -> tuple[list[Document], list[Failure]]:
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        kind = f"'{suffix}'" if suffix else "(no extension)"
        supported = " ".join(SUPPORTED_SUFFIXES)
        raise LoadError(str(path), f"unsupported file type {kind} (supported: {supported})")
    data = _read(path, max_bytes=max_bytes)
    if suffix in _MULTI_LOADERS:
        return _MULTI_LOADERS[suffix](path, data)
    try:
        return [_SINGLE_LOADERS[suffix](path, data)], []
    except LoadError as exc:  # make_document names the document's source (a URL, say); report the file
        raise LoadError(str(path), exc.reason) from exc


def _read(path: Path, *, max_bytes: int) -> bytes:
    """The file's bytes, refusing empty and oversized files before reading them."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise LoadError(
                str(path),
                f"file is {size / _MB:.1f} MB, over the {max_bytes / _MB:.1f} MB limit (QA_APP_MAX_FILE_MB)",
            )
        if size == 0:
            raise LoadError(str(path), "empty file")
        return path.read_bytes()
    except OSError as exc:
        raise LoadError(str(path), f"cannot read the file ({exc.strerror or exc})") from exc


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


def _load_txt(path: Path, data: bytes) -> Document:
    """The first line is the title when it reads like a headline; otherwise the file name is."""
    text = normalize_text(_decode(path, data))
    first, _, rest = text.partition("\n")
    if _is_headline(first, rest):
        return make_document(title=first, text=rest.strip(), source=path.name)
    return make_document(title=_stem_title(path), text=text, source=path.name)


def _load_markdown(path: Path, data: bytes) -> Document:
    """Markdown kept as written; title from front matter, a leading `# Heading`, or the file name."""
    raw = _decode(path, data)
    match = _FRONT_MATTER.match(raw)
    front = _front_matter(path, match.group(1)) if match else {}
    text = normalize_text(raw[match.end() :] if match else raw)
    title = _collapse(front.pop("title", None))
    heading = _MD_HEADING.fullmatch(text.partition("\n")[0])
    if not title and heading:
        title, text = heading.group(1), text.partition("\n")[2].strip()
    published = front.pop("published_at", None) or front.pop("date", None)
    front.pop("date", None)  # when published_at won, date is a duplicate, not metadata
    source = front.pop("source", None) or front.get("url") or path.name
    return make_document(
        title=title or _stem_title(path),
        text=text,
        source=str(source),
        published_at=published,
        metadata=front,
    )


def _front_matter(path: Path, block: str) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(block)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 2}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise LoadError(str(path), f"malformed YAML front matter ({problem}{where})") from exc
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise LoadError(str(path), "front matter must be a YAML mapping of 'key: value' lines")
    # default=str turns YAML dates into strings, so the metadata stays JSON
    return {str(key): json.loads(json.dumps(value, default=str)) for key, value in loaded.items()}


def _load_html(path: Path, data: bytes) -> Document:
    """Main text via trafilatura, which drops scripts, styles and navigation and sniffs the charset."""
    if b"\x00" in data and not data.startswith(_UTF16_BOMS):
        raise LoadError(str(path), "contains NUL bytes (binary file?)")
    options = {"include_comments": False, "include_tables": True, "favor_recall": True}
    extracted = _guarded(trafilatura.extract, data, **options) or _guarded(trafilatura.html2txt, data)
    text = normalize_text(extracted or "")
    if not text:
        raise LoadError(str(path), "no readable text in the HTML (only scripts/markup?)")
    meta = _guarded(trafilatura.extract_metadata, data)
    info = {
        "author": getattr(meta, "author", None),
        "site": getattr(meta, "sitename", None) or getattr(meta, "hostname", None),
        "url": getattr(meta, "url", None),
    }
    return make_document(
        title=_collapse(getattr(meta, "title", None)) or _title_tag(data) or _stem_title(path),
        text=text,
        source=info["url"] or path.name,
        published_at=_guarded(parse_date, getattr(meta, "date", None)),
        metadata={key: value for key, value in info.items() if value},
    )


def _guarded(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """`function(...)`, or None when a parser chokes on input we do not control (a page, PDF metadata)."""
    try:
        return function(*args, **kwargs)
    except Exception:
        return None


def _title_tag(data: bytes) -> str:
    match = _TITLE_TAG.search(data)
    return _collapse(html.unescape(match.group(1).decode("utf-8", "replace"))) if match else ""


def _load_pdf(path: Path, data: bytes) -> Document:
    """Pages joined by blank lines; `page_starts[i]` is where page i+1 begins in the text."""
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not _guarded(reader.decrypt, ""):  # "" opens copy-protected PDFs
            raise LoadError(str(path), "encrypted PDF (password required)")
        pages = [normalize_text(page.extract_text() or "", dehyphenate=True) for page in reader.pages]
    except LoadError:
        raise
    except Exception as exc:  # pypdf raises many kinds of errors on damaged files
        raise LoadError(str(path), f"corrupt or unreadable PDF ({_short(exc)})") from exc
    if not any(pages):
        raise LoadError(str(path), "no extractable text (scanned PDF? it needs OCR first)")
    text, page_starts = _join_pages(pages)
    created = _guarded(lambda: reader.metadata.creation_date)  # None metadata, or a malformed date
    return make_document(
        title=_collapse(_guarded(lambda: reader.metadata.title)),
        text=text,
        source=path.name,
        published_at=_guarded(parse_date, created),
        metadata={"pages": len(pages)},
        page_starts=page_starts,
    )


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


def _load_json(path: Path, data: bytes) -> tuple[list[Document], list[Failure]]:
    """One article object, a list of them, or an object holding the list under articles/documents/items."""
    try:
        value = json.loads(_decode(path, data))
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise LoadError(str(path), f"invalid JSON ({exc.msg} at {where})") from exc
    if isinstance(value, dict):
        listed = next((value[key] for key in _ARTICLE_LISTS if isinstance(value.get(key), list)), None)
        if listed is None:
            return load_records([(path.name, value)])
        value = listed
    if not isinstance(value, list):
        raise LoadError(str(path), f"expected a JSON object or a list of objects, got {_json_type(value)}")
    if not value:
        raise LoadError(str(path), "no articles in the file (empty list)")
    return load_records((f"{path.name} record {n}", item) for n, item in enumerate(value, 1))


def _load_jsonl(path: Path, data: bytes) -> tuple[list[Document], list[Failure]]:
    """One article object per non-empty line; a bad line fails alone."""
    documents: list[Document] = []
    failures: list[Failure] = []
    # split on "\n" only: str.splitlines would also split inside strings holding U+2028.
    lines = [(n, line) for n, line in enumerate(_decode(path, data).split("\n"), 1) if line.strip()]
    if not lines:
        raise LoadError(str(path), "no records in the file (only blank lines)")
    for n, line in lines:
        label = f"{path.name} line {n}"
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            failures.append(Failure(label, f"invalid JSON ({exc.msg} at column {exc.colno})"))
            continue
        loaded, bad = load_records([(label, value)])
        documents.extend(loaded)
        failures.extend(bad)
    return documents, failures


def load_records(records: Iterable[tuple[str, object]]) -> tuple[list[Document], list[Failure]]:
    """Documents from (label, parsed JSON value) pairs, and a Failure (named by label) for each bad one."""
    documents: list[Document] = []
    failures: list[Failure] = []
    for label, value in records:
        try:
            documents.append(_record_document(label, value))
        except LoadError as exc:
            failures.append(Failure(label, exc.reason))
    return documents, failures


def _record_document(label: str, record: object) -> Document:
    if not isinstance(record, dict):
        raise LoadError(label, f"a record must be a JSON object, not {_json_type(record)}")
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


_SINGLE_LOADERS: dict[str, Callable[[Path, bytes], Document]] = {
    ".txt": _load_txt,
    ".md": _load_markdown,
    ".html": _load_html,
    ".htm": _load_html,
    ".pdf": _load_pdf,
}
_MULTI_LOADERS: dict[str, Callable[[Path, bytes], tuple[list[Document], list[Failure]]]] = {
    ".json": _load_json,
    ".jsonl": _load_jsonl,
}
