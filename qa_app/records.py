"""Typed values passed between the modules: documents, chunks, queries and their filters, passages, answers."""

from __future__ import annotations

import bisect
import hashlib
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

Span = tuple[int, int]
DATE_FROM_TEXT = "text"  # Document.metadata["date_source"]: the date is printed in the article
DATE_FROM_FILE = "pdf_metadata"  # ... or it is the PDF's own creation/modification date


def page_at(page_starts: tuple[int, ...], offset: int) -> int | None:
    """1-based page holding `offset`, or None for documents without pages."""
    return bisect.bisect_right(page_starts, offset) if page_starts else None


def text_doc_id(text: str) -> str:
    """Stable id of a document: a hash of its normalised text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Document:
    """One article; every offset in the system points into `text`."""

    doc_id: str
    title: str
    text: str
    source: str
    published_at: str | None = None
    added_at: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    page_starts: tuple[int, ...] = ()  # offset where each PDF page begins
    identity: str = ""  # what makes a later version the same article (see `key`)
    file: str = ""  # the file (and line) it was loaded from in this run, as the user named it; not stored

    def page_at(self, offset: int) -> int | None:
        """1-based page holding `offset`, or None for documents without pages."""
        return page_at(self.page_starts, offset)

    @property
    def key(self) -> str:
        """The article's identity for replacement: a new version with the same key replaces the old one.

        Set by the loaders (canonical URL, the record's own id, else the file's path, or `upload:` + the
        upload's name); a Document built in code without one is known by its source.
        """
        return self.identity or self.source


@dataclass(frozen=True)
class Chunk:
    """A run of whole sentences of one document; `id` is also its FAISS id."""

    id: int
    doc_id: str
    ordinal: int
    start: int
    end: int
    sentences: tuple[Span, ...] = ()


@dataclass(frozen=True)
class ChunkSpan:
    """Offsets of one chunk, before it is stored, and of the sentences inside it."""

    start: int
    end: int
    sentences: tuple[Span, ...]


@dataclass(frozen=True)
class Correction:
    """A question word and the vocabulary term it was matched to."""

    word: str
    term: str


@dataclass(frozen=True)
class Query:
    """A question ready to search: its text, the text for BM25 and its vector."""

    question: str
    lexical_text: str
    vector: np.ndarray
    corrections: tuple[Correction, ...] = ()  # misspelled question words and the index terms they became
    terms_text: str = ""  # the question with misspelled words corrected: what term matching reads ("": question)

    def __post_init__(self) -> None:
        if not self.terms_text:
            object.__setattr__(self, "terms_text", self.question)


@dataclass(frozen=True)
class SearchFilters:
    """Restrict a search to some documents (the store applies them). Dates are ISO `YYYY-MM-DD`, inclusive."""

    published_after: str | None = None
    published_before: str | None = None
    sources: tuple[str, ...] = ()  # matched (case-insensitively, as substrings) against source and outlet
    doc_ids: tuple[str, ...] = ()

    @property
    def restricts(self) -> bool:
        """Whether any filter is set (empty filters keep every document)."""
        return bool(self.published_after or self.published_before or self.sources or self.doc_ids)


@dataclass(frozen=True)
class Passage:
    """A search result: a chunk with its document's details and its scores."""

    chunk_id: int
    doc_id: str
    title: str
    source: str
    published_at: str | None
    start: int
    end: int
    text: str
    score: float
    sentences: tuple[Span, ...] = ()
    page: int | None = None
    dense_score: float | None = None
    lexical_score: float | None = None
    page_starts: tuple[int, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The passage as the CLI/JSON contract prints it."""
        return {
            "doc_id": self.doc_id,
            "chunk_id": self.chunk_id,
            "title": self.title,
            "source": self.source,
            "published_at": self.published_at,
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "score": round(self.score, 6),
        }


@dataclass(frozen=True)
class Citation:
    """A verbatim quote backing one claim: `document.text[start:end] == quote`."""

    n: int
    doc_id: str
    title: str
    source: str
    published_at: str | None
    start: int
    end: int
    quote: str
    page: int | None = None
    score: float | None = None  # the answer scorer's probability that this quote answers (extractive answers)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AnswerSentence:
    """One sentence of an answer, the citations backing it, and whether the check found it supported."""

    text: str
    citations: tuple[int, ...] = ()
    supported: bool = True
    reason: str | None = None  # why a sentence is unsupported (shown in the UI, not part of the JSON contract)

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "citations": list(self.citations), "supported": self.supported}


CONFLICT = "conflict"  # the sources disagree on what was asked: the note ends the answer's text
FALLBACK = "fallback"  # generation was tried, and the answer is the extractive one (the note says why)
UNSUPPORTED = "unsupported"  # some generated sentences were not supported by their passages (marked or left out)


@dataclass(frozen=True)
class Note:
    """A remark on an answer, typed by `kind` (`CONFLICT`, `FALLBACK` or `UNSUPPORTED`) rather than by its wording."""

    kind: str
    text: str

    @property
    def in_text(self) -> bool:
        """Whether the note is part of the answer's text (a conflict is; the others are said beside it)."""
        return self.kind == CONFLICT

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Answer:
    """An answer whose sentences carry `[n]` markers pointing at `citations`."""

    question: str
    text: str
    answered: bool
    citations: tuple[Citation, ...] = ()
    passages: tuple[Passage, ...] = ()
    notes: tuple[Note, ...] = ()
    score: float = 0.0  # the scorer's probability that the best sentence answers (see README, "Abstention")
    mode: str = "extractive"  # "extractive" | "generative": what produced `text`
    sentences: tuple[AnswerSentence, ...] = ()
    searched_for: str | None = None  # the question as searched, when misspelled words were corrected

    def __post_init__(self) -> None:
        # an extractive answer is its quotes: each one is a supported sentence citing itself
        if self.mode == "extractive" and not self.sentences and self.answered:
            quotes = tuple(AnswerSentence(c.quote, (c.n,), True) for c in self.citations)
            object.__setattr__(self, "sentences", quotes)

    def to_json(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.text,
            "answered": self.answered,
            "score": round(self.score, 4),
            "searched_for": self.searched_for,
            "mode": self.mode,
            "sentences": [s.to_json() for s in self.sentences],
            "citations": [c.to_json() for c in self.citations],
            "passages": [p.to_json() for p in self.passages],
        }


@dataclass(frozen=True)
class Failure:
    """A file (or record) that could not be indexed, and why."""

    source: str
    reason: str

    def __str__(self) -> str:
        return f"{self.source}: {self.reason}"


@dataclass(frozen=True)
class AddResult:
    """What happened to one input of `Library.add`."""

    source: str
    status: str  # "indexed" | "already indexed" | "replaced" | "failed"
    doc_id: str | None = None
    title: str | None = None
    chunks: int = 0
    reason: str | None = None
    file: str | None = None  # the input file (upload name, or path and line) when `source` is a URL or label

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LibraryStatus:
    """Facts about an index directory (`Library.status`): counts, model, generation, size on disk."""

    documents: int
    chunks: int
    model: str
    dimension: int
    generation: int
    index_dir: str
    size_bytes: int
    qa_app_version: str | None = None  # the version that last wrote the index (None: nothing written yet)


@dataclass(frozen=True)
class Feedback:
    """A thumbs up (+1) or down (-1) given to an answer, with the question, the answer and its citations."""

    created_at: str
    question: str
    answer: str
    citations: list[dict[str, Any]]
    rating: int

    def to_json(self) -> dict[str, Any]:
        """The rating as `feedback --json` prints it."""
        return asdict(self)


@dataclass(frozen=True)
class DocumentInfo:
    """A row of the document list: a document without its text."""

    doc_id: str
    title: str
    source: str
    published_at: str | None
    added_at: str
    chunks: int
    outlet: str | None = None  # metadata "outlet" (not part of `list --json`)
    date_source: str | None = None  # metadata "date_source": where the date came from (not part of `list --json`)

    def to_json(self) -> dict[str, Any]:
        """The row as `list --json` prints it (outlet and date source are not part of that contract)."""
        return {key: value for key, value in asdict(self).items() if key not in ("outlet", "date_source")}
