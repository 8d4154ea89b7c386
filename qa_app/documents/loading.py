"""Loading files into documents: each file by its format's loader, failures reported by file or record."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from qa_app.config import (
    DEFAULT_MAX_METADATA_CHARS,
    DEFAULT_MAX_PDF_CONTENT_MB,
    DEFAULT_MAX_PDF_PAGES,
    DEFAULT_MAX_PDF_SECONDS,
    DEFAULT_MAX_RECORDS,
    DEFAULT_MAX_TEXT_CHARS,
    SUPPORTED_SUFFIXES,
)  # fmt: skip
from qa_app.documents.bounds import Limits, check_length, read_limited
from qa_app.documents.html_page import load_html
from qa_app.documents.json_records import Loaded, load_json, load_jsonl, partition
from qa_app.documents.model import with_identity
from qa_app.documents.pdf import load_pdf
from qa_app.documents.text import load_markdown, load_txt
from qa_app.documents.walk import iter_files
from qa_app.errors import LoadError
from qa_app.records import Document, Failure


def load_file(
    path: Path,
    *,
    max_bytes: int,
    max_pdf_pages: int = DEFAULT_MAX_PDF_PAGES,
    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
) -> list[Document]:
    """The documents in one file; bad JSONL records are skipped (`load_files` reports them)."""
    documents, failures = partition(_load(path, Limits(max_bytes, max_pdf_pages, max_text_chars)))
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
    limits = Limits(max_bytes, max_pdf_pages, max_text_chars, max_records, max_metadata_chars, max_pdf_content_mb,
                     max_pdf_seconds)  # fmt: skip
    return partition(iter_loaded(paths, limits, uploads=uploads, follow_links=follow_links))


def iter_loaded(paths: Iterable[Path], limits: Limits, *, uploads: bool = False, follow_links: bool = False
                ) -> Iterator[Loaded]:  # fmt: skip
    """`load_files`, one document or failure at a time: a JSON/JSONL file's records are yielded as parsed."""
    for path in paths:
        failures: list[Failure] = []
        try:
            files = list(iter_files([path], failures, follow_links=follow_links))
        except LoadError as exc:
            yield Failure(exc.source, exc.reason)
            continue
        except OSError as exc:  # a name too long, a folder we may not enter...
            yield Failure(str(path), f"cannot read ({exc.strerror or exc})")
            continue
        yield from failures  # what the walk skipped
        for file in files:
            try:
                for item in _load(file, limits):
                    yield item if isinstance(item, Failure) else with_identity(item, file, uploads)
            except LoadError as exc:  # raised before the file's first record (its size, format, record count)
                yield Failure(exc.source, exc.reason)


def _load(path: Path, limits: Limits) -> Iterable[Loaded]:
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        kind = f"'{suffix}'" if suffix else "(no extension)"
        supported = " ".join(SUPPORTED_SUFFIXES)
        raise LoadError(str(path), f"unsupported file type {kind} (supported: {supported})")
    data = read_limited(path, max_bytes=limits.max_bytes)
    if suffix in _MULTI_LOADERS:
        return _MULTI_LOADERS[suffix](path, data, limits)
    try:
        document = _SINGLE_LOADERS[suffix](path, data, limits)
        check_length(path.name, document.text, limits.max_text_chars)
    except LoadError as exc:  # make_document names the document's source (a URL, say); report the file
        raise LoadError(str(path), exc.reason) from exc
    return [document]


_SINGLE_LOADERS: dict[str, Callable[[Path, bytes, Limits], Document]] = {
    ".txt": load_txt,
    ".md": load_markdown,
    ".html": load_html,
    ".htm": load_html,
    ".pdf": load_pdf,
}
_MULTI_LOADERS: dict[str, Callable[[Path, bytes, Limits], Iterable[Loaded]]] = {
    ".json": load_json,
    ".jsonl": load_jsonl,
}
