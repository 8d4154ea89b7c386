"""The lexical side of hybrid search: BM25 (bm25s) with English stop words and Snowball stemming.

A write must not rebuild BM25 over the whole library (11 s at 100k chunks), so the index has two segments, like
a search engine's: a large *main* segment, saved once and then only read, and a small *delta* segment over the
chunks added since, rebuilt on each write from their cached tokens. Removed chunks are masked until the next
merge. The delta's term weights are rescaled to the IDF of the whole collection, so its scores compare with the
main segment's. When the delta and the removed chunks outgrow `merge_at(len(main))`, everything is merged into
a new main segment.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path

# bm25s builds three (disabled) tqdm bars per tokenize call even with show_progress=False: 0.07 ms of a call's
# 0.09 ms, ~16 calls per question; its own switch, read when bm25s is first imported, drops them and tqdm's import.
os.environ.setdefault("DISABLE_TQDM", "1")

import bm25s
import numpy as np
import Stemmer
from bm25s.scoring import _score_idf_lucene  # the IDF bm25s's default ("lucene") method builds the main segment with

from qa_app import bm25_files
from qa_app.errors import DiskFullError
from qa_app.index_files import main_segment_name
from qa_app.storage_errors import disk_full_message

MERGE_SHARE = 0.05  # merge once the delta and the removed chunks reach 5% of the main segment...
MERGE_MIN, MERGE_MAX = 1_000, 20_000  # ...but not below 1,000 chunks, and at the latest at 20,000


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """Stemmed, lower-cased content words of each text (stop words dropped)."""
    return bm25s.tokenize(list(texts), stopwords="en", stemmer=_stemmer(), return_ids=False, show_progress=False)


def terms(text: str) -> list[str]:
    """Stemmed, lower-cased content words of `text` (stop words dropped)."""
    return tokenize([text])[0]


def merge_at(main_size: int) -> int:
    """How many delta plus removed chunks trigger a merge into a new main segment."""
    return int(min(max(MERGE_SHARE * main_size, MERGE_MIN), MERGE_MAX))


class Segment:
    """One bm25s index; its rows map to chunk ids."""

    def __init__(self, ids: np.ndarray, bm25: bm25s.BM25 | None) -> None:
        self.ids = np.asarray(ids, dtype=np.int64)
        self.bm25 = bm25

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def build(cls, ids: np.ndarray, tokens: Sequence[list[str]]) -> Segment:
        if not len(ids):
            return cls(ids, None)
        bm25 = bm25s.BM25()
        bm25.index(list(tokens), show_progress=False)
        return cls(ids, bm25)

    def doc_freqs(self) -> dict[str, int]:
        """How many chunks of this segment hold each term."""
        if self.bm25 is None:
            return {}
        counts = np.diff(self.bm25.scores["indptr"])  # the empty token bm25s adds has no column
        return {term: int(counts[column]) for term, column in self.bm25.vocab_dict.items() if column < len(counts)}

    def rescale_idf(self, other_freqs: dict[str, int], other_size: int) -> None:
        """Weigh each term by its IDF over this segment plus another, instead of over this segment alone."""
        if self.bm25 is None:
            return
        scores, total = self.bm25.scores, len(self) + other_size
        counts = np.diff(scores["indptr"])
        factors = np.ones(len(counts), dtype=np.float32)
        for term, column in self.bm25.vocab_dict.items():
            if column < len(counts) and counts[column]:
                own = _score_idf_lucene(counts[column], len(self))
                factors[column] = _score_idf_lucene(counts[column] + other_freqs.get(term, 0), total) / own
        scores["data"] = (scores["data"] * np.repeat(factors, counts)).astype(scores["data"].dtype)

    def search(self, query_terms: list[str], k: int, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Scores and chunk ids of the best `k` rows with a positive score; `mask` zeroes rows out."""
        if self.bm25 is None or k <= 0:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        scores = self.bm25.get_scores(query_terms, weight_mask=mask)
        # the top k among the scored rows only: bm25s's own top-k partitions every row, and numpy's argpartition
        # is slow on arrays that are mostly zeros (70 ms at 200k chunks, 180 ms at 1M, against ~1 ms here)
        rows = np.flatnonzero(scores > 0)
        if len(rows) > k:
            rows = rows[np.argpartition(-scores[rows], k - 1)[:k]]
        rows = rows[np.argsort(-scores[rows], kind="stable")]
        return scores[rows], self.ids[rows]

    def save(self, path: Path) -> None:
        path.mkdir()
        np.save(path / "ids.npy", self.ids)
        if self.bm25 is not None:
            bm25_files.save(self.bm25, path)

    @classmethod
    def load(cls, path: Path) -> Segment:
        """The segment saved in `path`; `DamagedIndexError` when any of its files is unreadable or inconsistent."""
        try:
            ids = np.load(path / "ids.npy")
            segment = cls(ids, bm25_files.load(path) if len(ids) else None)
            segment._validate()
        except DamagedIndexError:
            raise
        except Exception as exc:  # numpy, json and bm25s each fail their own way on a damaged file
            raise DamagedIndexError(f"{path.name}: {type(exc).__name__}: {exc}") from exc
        return segment

    def _validate(self) -> None:
        """The shapes a healthy segment has: a CSC matrix of (terms, rows) whose columns are the vocabulary."""
        if self.ids.ndim != 1 or self.ids.dtype != np.int64:
            raise DamagedIndexError(f"ids.npy holds {self.ids.dtype} of shape {self.ids.shape}, not chunk ids")
        if self.bm25 is None:
            return
        scores = self.bm25.scores
        data, indices, indptr = scores["data"], scores["indices"], scores["indptr"]
        if (len(data) != len(indices) or not len(indptr) or int(indptr[-1]) != len(data)
                or np.any(np.diff(indptr) < 0) or (len(indices) and (indices.min() < 0 or indices.max() >= len(self)))
                or len(indptr) - 1 > len(self.bm25.vocab_dict) or int(scores["num_docs"]) != len(self)):  # fmt: skip
            raise DamagedIndexError("its score matrix does not fit its vocabulary and chunk ids")


class LexicalIndex:
    """BM25 over chunk texts: a main segment, a delta segment and the chunk ids removed from the main one."""

    def __init__(self, main: Segment, main_name: str, delta: Segment, removed: np.ndarray,
                 delta_tokens: dict[int, list[str]] | None = None) -> None:  # fmt: skip
        self.main, self.main_name, self.delta = main, main_name, delta
        self.removed = np.asarray(removed, dtype=np.int64)
        self.delta_tokens = delta_tokens  # None when loaded from disk: the library tokenizes them again
        self._removed_mask = None if not len(self.removed) else (~np.isin(main.ids, self.removed)).astype(np.float32)

    @classmethod
    def build(cls, ids: np.ndarray, texts: Sequence[str], main_name: str = main_segment_name(0)) -> LexicalIndex:
        """A fresh index: every chunk in the main segment."""
        return cls(Segment.build(ids, tokenize(texts)), main_name, Segment(np.zeros(0), None), np.zeros(0))

    @property
    def ids(self) -> np.ndarray:
        """Every chunk id the index answers for."""
        kept = self.main.ids if self._removed_mask is None else self.main.ids[self._removed_mask > 0]
        return np.concatenate([kept, self.delta.ids])

    def __len__(self) -> int:
        return len(self.main) - len(self.removed) + len(self.delta)

    @property
    def pending(self) -> int:
        """Chunks added or removed since the main segment was built."""
        return len(self.delta) + len(self.removed)

    def vocabulary(self) -> dict[str, int]:
        """Every indexed term with the number of chunks (main and delta segments) that hold it."""
        counts = self.main.doc_freqs()
        for term, count in self.delta.doc_freqs().items():
            counts[term] = counts.get(term, 0) + count
        return counts

    def needs_merge(self) -> bool:
        return self.pending >= merge_at(len(self.main))

    def updated(
        self,
        added_ids: np.ndarray,
        added_texts: Sequence[str],
        removed_ids: np.ndarray,
        delta_tokens: dict[int, list[str]],
    ) -> LexicalIndex:
        """A new index with chunks added to the delta and removed ones masked; this one is left as it was.

        `delta_tokens` holds the tokens of this index's delta chunks by id (`self.delta_tokens` when known).
        """
        removed_ids = np.asarray(removed_ids, dtype=np.int64)
        kept = self.delta.ids[~np.isin(self.delta.ids, removed_ids)]
        tokens = {int(i): delta_tokens[int(i)] for i in kept}
        tokens.update(zip(np.asarray(added_ids).tolist(), tokenize(added_texts), strict=True))
        removed = np.union1d(self.removed, removed_ids[np.isin(removed_ids, self.main.ids)])
        delta = Segment.build(np.array(list(tokens), dtype=np.int64), list(tokens.values()))
        delta.rescale_idf(self.main.doc_freqs(), len(self.main))
        return LexicalIndex(self.main, self.main_name, delta, removed, tokens)

    def search(self, query: str, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Scores and chunk ids of the best `k` chunks with a positive score, optionally among `allowed` ids."""
        query_terms = terms(query)
        if not query_terms:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        main_mask, delta_mask = self._removed_mask, None
        if allowed is not None:
            main_mask = np.isin(self.main.ids, allowed).astype(np.float32) * (1 if main_mask is None else main_mask)
            delta_mask = np.isin(self.delta.ids, allowed).astype(np.float32)
        main_scores, main_ids = self.main.search(query_terms, k, main_mask)
        delta_scores, delta_ids = self.delta.search(query_terms, k, delta_mask)
        scores, ids = np.concatenate([main_scores, delta_scores]), np.concatenate([main_ids, delta_ids])
        best = np.argsort(-scores, kind="stable")[:k]
        return scores[best], ids[best]

    def save(self, folder: Path, name: str) -> None:
        """Write the delta and this state as `folder/name`, and the main segment if it is not on disk yet."""
        main_path = folder / self.main_name
        if not main_path.exists():
            _write_folder(main_path, self.main.save)
        _write_folder(folder / name, self._save_state)

    def _save_state(self, path: Path) -> None:
        path.mkdir()
        state = {"main": self.main_name, "removed": self.removed.tolist()}
        (path / "state.json").write_text(json.dumps(state))
        self.delta.save(path / "delta")

    @staticmethod
    def named_main(path: Path) -> str:
        """The main segment the state saved as `path` names (even when that segment is unreadable), or ""."""
        try:
            return str(json.loads((path / "state.json").read_text())["main"])
        except (OSError, ValueError, KeyError, TypeError):
            return ""

    @classmethod
    def load(cls, path: Path, loaded: LexicalIndex | None = None) -> LexicalIndex:
        """The index saved as `path` (its main segment is a sibling folder, or `loaded`'s when it names the same:
        a main segment never changes under its name)."""
        try:
            state = json.loads((path / "state.json").read_text())
            main_name, removed = str(state["main"]), np.array(state["removed"], dtype=np.int64)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DamagedIndexError(f"{path.name}/state.json: {type(exc).__name__}: {exc}") from exc
        main = (
            loaded.main
            if loaded is not None and loaded.main_name == main_name
            else Segment.load(path.parent / main_name)
        )
        return cls(main, main_name, Segment.load(path / "delta"), removed)


class DamagedIndexError(ValueError):
    """A BM25 file that cannot be read back (a ValueError, as callers already treat unreadable indexes)."""


def _write_folder(path: Path, write: Callable[[Path], None]) -> None:
    """Write a folder under a temporary name, then rename it into place: readers never see half of it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        write(tmp)
    except Exception as exc:  # a full disk: leave nothing half-written behind
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            raise DiskFullError(disk_full_message(path)) from exc
        raise
    shutil.rmtree(path, ignore_errors=True)
    os.replace(tmp, path)
