"""The JSON of the CLI/JSON contract (README, "Command line"), built in one place for `--json` and the HTTP API."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qa_app.errors import QAError
from qa_app.library import parse_date
from qa_app.records import AddResult, Answer, Document, DocumentInfo, Passage, SearchFilters

JSON = dict[str, Any]


def index_json(results: Sequence[AddResult]) -> JSON:
    """`index --json`: one result per input (file, record or URL)."""
    return {"results": [r.to_json() for r in results]}


def search_json(question: str, passages: Sequence[Passage]) -> JSON:
    """`search --json`: the question and its passages, best first."""
    return {"question": question, "passages": [p.to_json() for p in passages]}


def answer_json(answer: Answer) -> JSON:
    """`ask --json`: the answer, its sentences, citations and passages."""
    return answer.to_json()


def documents_json(documents: Sequence[DocumentInfo]) -> JSON:
    """`list --json`: every document without its text."""
    return {"documents": [d.to_json() for d in documents]}


def document_json(doc: Document) -> JSON:
    """`show DOC_ID --json`: one document with its full text and metadata."""
    return {"doc_id": doc.doc_id, "title": doc.title, "source": doc.source, "published_at": doc.published_at,
            "added_at": doc.added_at, "metadata": doc.metadata, "text": doc.text}  # fmt: skip


def search_filters(after: str | None, before: str | None, sources: Sequence[str] | None) -> SearchFilters | None:
    """The filters of `--after/--before/--source` (and the API's): None when nothing is filtered."""
    try:
        after, before = parse_date(after), parse_date(before)
    except ValueError as exc:
        raise QAError(f"after/before: {exc}") from exc
    if not (after or before or sources):
        return None
    return SearchFilters(published_after=after, published_before=before, sources=tuple(sources or ()))


def error_json(message: str) -> JSON:
    """An error as the API and `ask --batch` report it."""
    return {"error": message}
