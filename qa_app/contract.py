"""The JSON of the CLI/JSON contract (README, "Command line"), built in one place for `--json` and the HTTP API."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qa_app.records import AddResult, Answer, Document, DocumentInfo, Passage

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


def error_json(message: str) -> JSON:
    """An error as the API and `ask --batch` report it."""
    return {"error": message}
