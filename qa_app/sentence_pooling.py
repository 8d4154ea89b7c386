"""Sentence vectors from the chunk's own forward pass (`QA_APP_SENTENCE_VECTORS_FROM=chunks`).

A chunk's transformer pass already computes a contextual vector for every token in it. The mean of a
sentence's tokens (unit length) stands in for that sentence's vector, so the sentences need no forward pass of
their own: about half of the model time of indexing. A sentence cut off by the model's window (past its 256
tokens) is embedded alone, as are titles. The vectors differ from those of sentences embedded alone (they
carry the chunk's context), so the answer scorer's figures move: see README, "One forward pass per chunk".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from qa_app.records import ChunkSpan, Document

Span = tuple[int, int]


class TokenVectors:
    """One text's contextual token vectors with each token's character span in that text."""

    def __init__(self, vectors: np.ndarray, offsets: Sequence[Span]) -> None:
        self.vectors = vectors
        spans = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
        self._starts, self._ends = spans[:, 0], spans[:, 1]
        self._real = self._ends > self._starts  # special tokens have empty spans
        self.covered_to = int(self._ends.max(initial=0))  # where the model's window ended

    def text_vector(self) -> np.ndarray:
        """The whole text's vector as sentence-transformers pools it: the mean of every token, unit length."""
        return unit(self.vectors.mean(axis=0))

    def span_vector(self, start: int, end: int) -> np.ndarray | None:
        """The mean of the tokens inside `text[start:end]`, unit length; None when the window cut it off."""
        if end > self.covered_to:
            return None
        inside = self._real & (self._starts >= start) & (self._ends <= end)
        return unit(self.vectors[inside].mean(axis=0)) if inside.any() else None


def unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return (vector / norm if norm else vector).astype(np.float32)


def token_vectors(embedder: Any, texts: Sequence[str], batch_size: int) -> list[TokenVectors]:
    """Each text's token vectors from one forward pass (check `gives_token_vectors` first)."""
    if not gives_token_vectors(embedder):
        raise ValueError(f"{embedder.name} gives no token vectors (see gives_token_vectors)")
    return [TokenVectors(v, o) for v, o in embedder.token_vectors(list(texts), batch_size=batch_size)]


def gives_token_vectors(embedder: Any) -> bool:
    """Whether `token_vectors` works with this embedder: one with mean pooling that returns token vectors
    (`SentenceTransformerEmbedder`, either backend)."""
    return hasattr(embedder, "token_vectors") and bool(embedder.gives_token_vectors())


def pooled_document_vectors(
    chunked: Sequence[tuple[Document, Sequence[ChunkSpan]]],
    embedder: Any,
    batch_size: int,
    embedding_text: Callable[[str, str], str],
) -> list[tuple[np.ndarray, list[Span], np.ndarray, np.ndarray]]:
    """Per document: chunk vectors, its distinct sentence spans (sorted), their vectors, the title's vector.

    One forward pass over the chunks (`embedding_text(title, chunk)`, whose chunk part ends the text); each
    sentence takes its vector from the first chunk whose window holds it whole, else it is embedded alone
    with the titles.
    """
    texts: list[str] = []
    owners: list[tuple[int, ChunkSpan, int]] = []  # document, chunk, where the chunk's text starts in `texts`
    for d, (doc, chunks) in enumerate(chunked):
        for c in chunks:
            body = doc.text[c.start : c.end]
            texts.append(embedding_text(doc.title, body))
            owners.append((d, c, len(texts[-1]) - len(body)))
    tokens = token_vectors(embedder, texts, batch_size)
    found: dict[tuple[int, Span], np.ndarray] = {}
    for t, (d, c, offset) in zip(tokens, owners, strict=True):
        for start, end in c.sentences:
            if (d, (start, end)) not in found:
                vector = t.span_vector(start - c.start + offset, end - c.start + offset)
                if vector is not None:
                    found[(d, (start, end))] = vector
    spans = [sorted({span for c in chunks for span in c.sentences}) for _, chunks in chunked]
    missing = [(d, span) for d, doc_spans in enumerate(spans) for span in doc_spans if (d, span) not in found]
    alone = embedder.embed([chunked[d][0].text[s:e] for d, (s, e) in missing] + [doc.title for doc, _ in chunked],
                           batch_size=batch_size)  # fmt: skip
    found.update(zip(missing, alone[: len(missing)], strict=True))
    chunk_vectors = [t.text_vector() for t in tokens]
    result, first = [], 0
    for d, (_, chunks) in enumerate(chunked):
        rows = [found[(d, span)] for span in spans[d]]
        sentence_vectors = np.stack(rows) if rows else np.zeros((0, alone.shape[1]), np.float32)
        chunk_rows = chunk_vectors[first : first + len(chunks)]
        first += len(chunks)
        chunk_matrix = np.stack(chunk_rows) if chunk_rows else np.zeros((0, alone.shape[1]), np.float32)
        result.append((chunk_matrix.astype(np.float32), spans[d], sentence_vectors.astype(np.float32),
                       alone[len(missing) + d].astype(np.float32)))  # fmt: skip
    return result
