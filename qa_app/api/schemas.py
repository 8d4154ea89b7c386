"""The API's JSON schemas, generated from the record types (records.py) for the fields the CLI contract prints.

The responses themselves are built by `qa_app.contract`, exactly as `--json` prints them; these models describe
them in the OpenAPI document (`/docs`), and tests validate real responses against them (no extra, no missing key).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from qa_app.records import AddResult, Answer, AnswerSentence, Citation, Document, DocumentInfo, Passage

_STRICT = ConfigDict(extra="forbid")
_MODELS: dict[type, type[BaseModel]] = {}


def record_model(record: type, keys: Sequence[str], *, renamed: dict[str, str] | None = None) -> type[BaseModel]:
    """A pydantic model of `record` with the JSON `keys` (each a field, or `renamed[key]` names the field).

    Field types come from the dataclass's annotations: tuples become lists, records their own models.
    """
    hints = typing.get_type_hints(record)
    names = {f.name for f in dataclasses.fields(record)}
    fields: dict[str, Any] = {}
    for key in keys:
        attr = (renamed or {}).get(key, key)
        if attr not in names:
            raise TypeError(f"{record.__name__} has no field {attr!r}")
        fields[key] = (_json_type(hints[attr]), ...)
    model = create_model(record.__name__, __config__=_STRICT, **fields)
    _MODELS[record] = model
    return model


def _json_type(annotation: Any) -> Any:
    """The JSON form of an annotation: tuple[X, ...] -> list[X], a record -> its model, unions kept."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation in _MODELS:
        return _MODELS[annotation]
    if origin is tuple:
        return list[_json_type(args[0])] if args else list[Any]
    if origin in (types.UnionType, typing.Union):
        return typing.Union[tuple(_json_type(a) for a in args)]  # noqa: UP007 (built from a tuple)
    return annotation


PassageJSON = record_model(
    Passage, ["doc_id", "chunk_id", "title", "source", "published_at", "start", "end", "text", "score"]
)
CitationJSON = record_model(Citation, [f.name for f in dataclasses.fields(Citation)])
SentenceJSON = record_model(AnswerSentence, ["text", "citations", "supported"])
AnswerJSON = record_model(
    Answer,
    ["question", "answer", "answered", "score", "searched_for", "mode", "sentences", "citations", "passages"],
    renamed={"answer": "text"},
)
AddResultJSON = record_model(AddResult, [f.name for f in dataclasses.fields(AddResult)])
DocumentInfoJSON = record_model(DocumentInfo, ["doc_id", "title", "source", "published_at", "added_at", "chunks"])
DocumentJSON = record_model(Document, ["doc_id", "title", "source", "published_at", "added_at", "metadata", "text"])


class IndexJSON(BaseModel):
    """`index --json`: one result per file, record or URL."""

    model_config = _STRICT
    results: list[AddResultJSON]  # type: ignore[valid-type]


class SearchJSON(BaseModel):
    """`search --json`."""

    model_config = _STRICT
    question: str
    passages: list[PassageJSON]  # type: ignore[valid-type]


class DocumentsJSON(BaseModel):
    """`list --json`."""

    model_config = _STRICT
    documents: list[DocumentInfoJSON]  # type: ignore[valid-type]


class RemovedJSON(BaseModel):
    """What `DELETE /documents/{doc_id}` removed."""

    model_config = _STRICT
    removed: DocumentInfoJSON  # type: ignore[valid-type]


class HealthJSON(BaseModel):
    """`GET /health`: the index's state."""

    model_config = _STRICT
    status: Literal["ok"]
    generation: int
    documents: int
    chunks: int
    model: str


class ErrorJSON(BaseModel):
    """Every error: a message a person can act on (and, for uploads where nothing was indexed, the results)."""

    error: str
    results: list[AddResultJSON] | None = None  # type: ignore[valid-type]


class Filters(BaseModel):
    """Which articles to search: publication dates (inclusive, ISO) and sources (substring, any of them)."""

    model_config = _STRICT
    after: str | None = Field(None, examples=["2025-03-01"])
    before: str | None = Field(None, examples=["2025-03-31"])
    sources: list[str] = Field(default_factory=list, max_length=50)


class AskRequest(BaseModel):
    """`POST /ask`: a question, the conversation's earlier questions (oldest first), k and filters."""

    model_config = _STRICT
    question: str = Field(min_length=1, max_length=2000, examples=["Did Mexico accept American troops?"])
    history: list[str] = Field(default_factory=list, max_length=20)
    k: int | None = Field(None, ge=1, le=100)
    filters: Filters | None = None
    stream: bool = Field(False, description="server-sent events: one `sentence` event per checked sentence, "
                                            "then one `citations` event, then one `answer` event "
                                            "with the whole answer")  # fmt: skip


class UrlRequest(BaseModel):
    """`POST /documents` with an article URL to fetch."""

    model_config = _STRICT
    url: str = Field(max_length=4000, examples=["https://example.com/news/story.html"])


class RecordsRequest(BaseModel):
    """`POST /documents` with article records, as the lines of a JSONL file (title, body or text, url, ...)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "records": [
                        {
                            "title": "Bridge closes",
                            "body": "The Harbor Street bridge will close.",
                            "published_at": "2025-05-03",
                        }
                    ]
                }
            ]
        },
    )
    records: list[dict[str, Any]] = Field(min_length=1)
