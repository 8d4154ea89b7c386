"""Hybrid retrieval in stages: dense (FAISS) and BM25 candidates, fused by reciprocal rank, an optional rerank,
then at most a few passages per article.

`retrieve` runs the stages in order; each stage is a small function of its own, so a reranker (DESIGN's "optional
rerank") or another fusion slots in without touching the others.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from qa_app.config import Settings
from qa_app.embedder import Embedder, one_torch_thread
from qa_app.errors import ConfigError
from qa_app.index import VectorIndex
from qa_app.lexical import LexicalIndex, terms
from qa_app.records import Correction, Passage, Query, SearchFilters, page_at
from qa_app.spelling import corrected_text
from qa_app.store import ChunkRow, Store

MODES = ("hybrid", "dense", "lexical")
_PRONOUNS = {"he", "she", "it", "they", "him", "her", "his", "hers", "its", "their", "them", "this", "that",
             "these", "those", "there", "then"}  # fmt: skip
_FOLLOW_UP_WEIGHT = 0.35  # share of the previous question in a follow-up's query vector

# the rerank hook: the fused passages (best first) in a new order, possibly rescored; see `retrieve`
Reranker = Callable[[Query, list[Passage]], list[Passage]]


@dataclass(frozen=True)
class RetrievalParams:
    """What retrieval reads of the settings (see config.Settings for each field's meaning and default)."""

    mode: str = Settings.retrieval_mode  # hybrid | dense | lexical
    candidates: int = Settings.candidates  # per retriever, before fusion
    rrf_k: int = Settings.rrf_k
    dense_weight: float = Settings.dense_weight
    lexical_weight: float = Settings.lexical_weight
    max_per_doc: int = Settings.max_per_doc

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"retrieval mode {self.mode!r} is not one of {', '.join(MODES)}")

    @classmethod
    def from_settings(cls, settings: Settings) -> RetrievalParams:
        """The retrieval part of the settings."""
        return cls(settings.retrieval_mode, settings.candidates, settings.rrf_k, settings.dense_weight,
                   settings.lexical_weight, settings.max_per_doc)  # fmt: skip


@dataclass(frozen=True)
class Candidates:
    """Stage 1: what each retriever found, chunk id -> its own score (cosine, BM25), best first."""

    dense: dict[int, float] = field(default_factory=dict)
    lexical: dict[int, float] = field(default_factory=dict)


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
        return Query(question, lexical, vectors[0], corrections, asked)
    current, before = vectors
    vector = (1 - _FOLLOW_UP_WEIGHT) * current + _FOLLOW_UP_WEIGHT * before
    vector = vector / (np.linalg.norm(vector) or 1.0)
    # BM25 sums per query term, so repeating the question counts its terms twice, the context's once
    return Query(question, f"{lexical} {lexical} {previous}", vector.astype(np.float32), corrections, asked)


def candidates(
    vectors: VectorIndex, lexical: LexicalIndex, query: Query, pool: int, mode: str, allowed: np.ndarray | None
) -> Candidates:
    """Stage 1: the `pool` best chunks of each retriever the mode uses, among the `allowed` ids (None: all)."""
    dense: dict[int, float] = {}
    lexical_scores: dict[int, float] = {}
    if mode != "lexical":
        scores, ids = vectors.search(query.vector, pool, allowed)
        dense = dict(zip(ids.tolist(), scores.tolist(), strict=True))
    if mode != "dense":
        scores, ids = lexical.search(query.lexical_text, pool, allowed)
        lexical_scores = dict(zip(ids.tolist(), scores.tolist(), strict=True))
    return Candidates(dense, lexical_scores)


def fuse(found: Candidates, params: RetrievalParams) -> list[tuple[int, float]]:
    """Stage 2: chunk ids with one score, best first: weighted reciprocal-rank fusion in hybrid mode, the one
    retriever's own score (cosine or BM25) otherwise."""
    fused: Counter[int] = Counter()
    if params.mode == "hybrid":
        for weight, ranked in ((params.dense_weight, found.dense), (params.lexical_weight, found.lexical)):
            for rank, chunk_id in enumerate(ranked):
                fused[chunk_id] += weight / (params.rrf_k + rank + 1)
    else:
        fused.update(found.dense or found.lexical)
    return fused.most_common()


def _passage(row: ChunkRow, score: float, dense: float | None, lexical: float | None) -> Passage:
    chunk = row.chunk
    return Passage(
        chunk.id, chunk.doc_id, row.title, row.source, row.published_at, chunk.start, chunk.end, row.text,
        score, chunk.sentences, page_at(row.page_starts, chunk.start), dense, lexical, row.page_starts,
    )  # fmt: skip


def passages(store: Store, ranked: list[tuple[int, float]], found: Candidates) -> list[Passage]:
    """The ranked chunks as passages, in order; chunks removed by a writer since the index was loaded drop out."""
    rows = store.chunks([chunk_id for chunk_id, _ in ranked])
    return [_passage(rows[chunk_id], score, found.dense.get(chunk_id), found.lexical.get(chunk_id))
            for chunk_id, score in ranked if chunk_id in rows]  # fmt: skip


def _names_title(question_terms: set[str], title: str) -> bool:
    """Whether the question names this article (most of the title's words are in it)."""
    title_terms = set(terms(title))
    return len(title_terms) >= 2 and len(title_terms & question_terms) >= 0.6 * len(title_terms)


def cap_per_article(ranked: Sequence[Passage], question: str, k: int, max_per_doc: int) -> list[Passage]:
    """Stage 4: the first `k` passages, at most `max_per_doc` of each article unless the question names it."""
    question_terms = set(terms(question))
    per_doc: Counter[str] = Counter()
    kept: list[Passage] = []
    for passage in ranked:
        if per_doc[passage.doc_id] >= max_per_doc and not _names_title(question_terms, passage.title):
            continue
        per_doc[passage.doc_id] += 1
        kept.append(passage)
        if len(kept) == k:
            break
    return kept


def retrieve(
    store: Store,
    vectors: VectorIndex,
    lexical: LexicalIndex,
    query: Query,
    k: int,
    params: RetrievalParams,
    filters: SearchFilters | None = None,
    rerank: Reranker | None = None,
) -> list[Passage]:
    """The `k` best passages: candidates -> fusion -> `rerank` (when given) -> per-article cap."""
    allowed = store.chunk_ids_matching(filters) if filters is not None and filters.restricts else None
    if allowed is not None and not len(allowed):
        return []
    found = candidates(vectors, lexical, query, max(params.candidates, 4 * k), params.mode, allowed)
    ranked = passages(store, fuse(found, params), found)
    if rerank is not None:
        ranked = rerank(query, ranked)
    return cap_per_article(ranked, query.question, k, params.max_per_doc)
