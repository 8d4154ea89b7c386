"""Hybrid retrieval: dense (FAISS) and BM25 results fused by reciprocal rank, filtered and diversified."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from qa_app.config import Settings
from qa_app.embedder import Embedder, one_torch_thread
from qa_app.errors import ConfigError
from qa_app.index import VectorIndex
from qa_app.lexical import LexicalIndex, terms
from qa_app.records import Passage, page_at
from qa_app.spelling import Correction, corrected_text
from qa_app.store import ChunkRow, Store

MODES = ("hybrid", "dense", "lexical")
_PRONOUNS = {"he", "she", "it", "they", "him", "her", "his", "hers", "its", "their", "them", "this", "that",
             "these", "those", "there", "then"}  # fmt: skip
_FOLLOW_UP_WEIGHT = 0.35  # share of the previous question in a follow-up's query vector


@dataclass(frozen=True)
class SearchFilters:
    """Restrict a search to some documents. Dates are ISO `YYYY-MM-DD`, inclusive."""

    published_after: str | None = None
    published_before: str | None = None
    sources: tuple[str, ...] = ()  # matched (case-insensitively, as substrings) against source and outlet
    doc_ids: tuple[str, ...] = ()

    def sql(self) -> tuple[str, list[str]] | None:
        """An SQL condition on documents `d`, or None when nothing is filtered."""
        clauses, params = [], []
        if self.published_after:
            clauses.append("d.published_at >= ?")
            params.append(self.published_after)
        if self.published_before:
            clauses.append("d.published_at <= ?")
            params.append(self.published_before)
        if self.sources:
            like = ("(lower(d.source) LIKE ? ESCAPE '\\' OR lower(json_extract(d.metadata, '$.outlet')) LIKE ? "
                    "ESCAPE '\\')")  # fmt: skip
            clauses.append("(" + " OR ".join([like] * len(self.sources)) + ")")
            params += [f"%{_escape_like(s.lower())}%" for s in self.sources for _ in range(2)]
        if self.doc_ids:
            clauses.append(f"d.doc_id IN ({','.join('?' * len(self.doc_ids))})")
            params += list(self.doc_ids)
        return (" AND ".join(clauses), params) if clauses else None


def _escape_like(text: str) -> str:
    """`text` matched literally by LIKE: its % and _ are not wildcards."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True)
class Query:
    """A question ready to search: its text, the text for BM25 and its vector."""

    question: str
    lexical_text: str
    vector: np.ndarray
    corrections: tuple[Correction, ...] = ()  # misspelled question words and the index terms they became

    @cached_property
    def terms_text(self) -> str:
        """The question with misspelled words corrected: what term matching reads."""
        return corrected_text(self.question, list(self.corrections))


def is_follow_up(question: str) -> bool:
    """Short or pronoun-led questions lean on the previous turn ("what did she say about it?")."""
    words = re.findall(r"[a-z']+", question.lower())
    return len(terms(question)) <= 2 or bool(_PRONOUNS.intersection(words))


def build_query(
    embedder: Embedder, question: str, history: Sequence[str] = (), corrections: Sequence[Correction] = ()
) -> Query:
    """Embed the question; a follow-up borrows the previous question's terms at a lower weight.

    `corrections` (misspelled words and their vocabulary terms) add the right terms to the BM25 query, and the
    corrected question is what is embedded and what the answer scorer matches.
    """
    previous = next((q for q in reversed(history) if q.strip()), None)
    follow_up = previous is not None and is_follow_up(question)
    corrections = tuple(corrections)
    lexical = f"{question} {' '.join(c.term for c in corrections)}".strip()
    asked = corrected_text(question, list(corrections))
    with one_torch_thread():
        vectors = embedder.embed([asked, previous] if follow_up else [asked])
    if not follow_up:
        return Query(question, lexical, vectors[0], corrections)
    current, before = vectors
    vector = (1 - _FOLLOW_UP_WEIGHT) * current + _FOLLOW_UP_WEIGHT * before
    vector = vector / (np.linalg.norm(vector) or 1.0)
    # BM25 sums per query term, so repeating the question counts its terms twice, the context's once
    return Query(question, f"{lexical} {lexical} {previous}", vector.astype(np.float32), corrections)


def _passage(row: ChunkRow, score: float, dense: float | None, lexical: float | None) -> Passage:
    chunk = row.chunk
    return Passage(
        chunk.id, chunk.doc_id, row.title, row.source, row.published_at, chunk.start, chunk.end, row.text,
        score, chunk.sentences, page_at(row.page_starts, chunk.start), dense, lexical, row.page_starts,
    )  # fmt: skip


def _names_title(question_terms: set[str], title: str) -> bool:
    """Whether the question names this article (most of the title's words are in it)."""
    title_terms = set(terms(title))
    return len(title_terms) >= 2 and len(title_terms & question_terms) >= 0.6 * len(title_terms)


def search(
    store: Store,
    vectors: VectorIndex,
    lexical: LexicalIndex,
    query: Query,
    k: int,
    settings: Settings,
    filters: SearchFilters | None = None,
) -> list[Passage]:
    """The `k` best passages: fused dense and BM25 ranks, at most `max_per_doc` per article."""
    if settings.retrieval_mode not in MODES:
        raise ConfigError(f"retrieval mode {settings.retrieval_mode!r} is not one of {', '.join(MODES)}")
    condition = filters.sql() if filters else None
    allowed = store.chunk_ids_where(*condition) if condition else None
    if allowed is not None and not len(allowed):
        return []
    pool = max(settings.candidates, 4 * k)
    dense: dict[int, float] = {}
    lexical_scores: dict[int, float] = {}
    if settings.retrieval_mode != "lexical":
        scores, ids = vectors.search(query.vector, pool, allowed)
        dense = dict(zip(ids.tolist(), scores.tolist(), strict=True))
    if settings.retrieval_mode != "dense":
        scores, ids = lexical.search(query.lexical_text, pool, allowed)
        lexical_scores = dict(zip(ids.tolist(), scores.tolist(), strict=True))
    fused: Counter[int] = Counter()
    if settings.retrieval_mode == "hybrid":
        for weight, ranked in ((settings.dense_weight, dense), (settings.lexical_weight, lexical_scores)):
            for rank, chunk_id in enumerate(ranked):
                fused[chunk_id] += weight / (settings.rrf_k + rank + 1)
    else:  # one retriever: keep its own score (cosine or BM25)
        fused.update(dense or lexical_scores)
    rows = store.chunks([chunk_id for chunk_id, _ in fused.most_common()])
    question_terms = set(terms(query.question))
    per_doc: Counter[str] = Counter()
    passages: list[Passage] = []
    for chunk_id, score in fused.most_common():
        row = rows.get(chunk_id)
        if row is None:  # removed by a writer since the index was loaded
            continue
        doc_id = row.chunk.doc_id
        if per_doc[doc_id] >= settings.max_per_doc and not _names_title(question_terms, row.title):
            continue
        per_doc[doc_id] += 1
        passages.append(_passage(row, score, dense.get(chunk_id), lexical_scores.get(chunk_id)))
        if len(passages) == k:
            break
    return passages
