"""The lexical side of hybrid search: BM25 (bm25s) with English stop words and Snowball stemming."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import bm25s
import numpy as np
import Stemmer


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


def terms(text: str) -> list[str]:
    """Stemmed, lower-cased content words of `text` (stop words dropped)."""
    return bm25s.tokenize([text], stopwords="en", stemmer=_stemmer(), return_ids=False, show_progress=False)[0]


class LexicalIndex:
    """BM25 over chunk texts; rows map to chunk ids."""

    def __init__(self, ids: np.ndarray, bm25: bm25s.BM25 | None) -> None:
        self.ids = ids.astype(np.int64)
        self._bm25 = bm25
        self._row_of = {int(chunk_id): row for row, chunk_id in enumerate(self.ids)}

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def build(cls, ids: np.ndarray, texts: Sequence[str]) -> LexicalIndex:
        if not len(ids):
            return cls(ids, None)
        tokens = bm25s.tokenize(list(texts), stopwords="en", stemmer=_stemmer(), show_progress=False)
        bm25 = bm25s.BM25()
        bm25.index(tokens, show_progress=False)
        return cls(ids, bm25)

    def search(self, query: str, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Scores and chunk ids of the best `k` chunks with a positive score, optionally among `allowed` ids."""
        query_terms = terms(query)
        if self._bm25 is None or not query_terms:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        mask = None
        if allowed is not None:
            mask = np.zeros(len(self.ids), dtype=np.float32)
            rows = [self._row_of[int(i)] for i in allowed if int(i) in self._row_of]
            mask[rows] = 1.0
        rows, scores = self._bm25.retrieve(
            [query_terms], k=min(k, len(self.ids)), weight_mask=mask, show_progress=False
        )
        keep = scores[0] > 0
        return scores[0][keep], self.ids[rows[0][keep]]

    def save(self, path: Path) -> None:
        """Write into a temporary folder, then rename it into place."""
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        np.save(tmp / "ids.npy", self.ids)
        if self._bm25 is not None:
            self._bm25.save(tmp, show_progress=False)
        shutil.rmtree(path, ignore_errors=True)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> LexicalIndex:
        ids = np.load(path / "ids.npy")
        bm25 = bm25s.BM25.load(path, show_progress=False) if len(ids) else None
        return cls(ids, bm25)
