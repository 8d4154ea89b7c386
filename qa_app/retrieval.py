"""Finding passages for a question."""

from __future__ import annotations

from qa_app.embedder import Embedder
from qa_app.index import VectorIndex
from qa_app.records import Passage, page_at
from qa_app.store import ChunkRow, Store


def _passage(row: ChunkRow, score: float, dense: float | None = None) -> Passage:
    chunk = row.chunk
    page = page_at(row.page_starts, chunk.start)
    return Passage(
        chunk.id, chunk.doc_id, row.title, row.source, row.published_at, chunk.start, chunk.end, row.text,
        score, chunk.sentences, page, dense_score=dense,
    )  # fmt: skip


def dense_search(store: Store, vectors: VectorIndex, embedder: Embedder, question: str, k: int) -> list[Passage]:
    """Nearest chunks by cosine similarity of their vectors to the question's."""
    if len(vectors) == 0 or not question.strip():
        return []
    query = embedder.embed([question])[0]
    scores, ids = vectors.search(query, k)
    rows = store.chunks(ids.tolist())
    return [_passage(rows[int(i)], float(s), float(s)) for s, i in zip(scores, ids, strict=True) if int(i) in rows]
