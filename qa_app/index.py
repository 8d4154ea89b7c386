"""The FAISS vector index: inner product over unit vectors, keyed by chunk id, saved atomically.

Exact search (a flat index) while the collection is small; an inverted-file index (IVF) from `ivf_threshold`
chunks on, rebuilt with more lists as the collection grows (see `VectorIndex.suits`). Both hold each vector as
float16 (FAISS's fp16 scalar quantiser): the float16 values SQLite stores, so half the bytes of float32 with the
same scores. Files written before hold float32 codes; they are read, and rebuilt as float16 on the next load or
write that can save (see `suits`).
"""

from __future__ import annotations

import errno
import logging
import math
import os
from pathlib import Path

import faiss
import numpy as np

from qa_app.errors import DiskFullError
from qa_app.storage_errors import disk_full_message

log = logging.getLogger(__name__)

_TRAINING_POINTS_PER_LIST = 40  # FAISS warns below 39 training points per list
_SCORE_SLACK = 1e-3  # float32 rounding of unit vectors' inner products
_SEARCH_THREADS = 1  # one query at a time: a single thread is 2-3x faster than two fighting over 2 cores


def ivf_lists(n: int) -> int:
    """How many IVF lists suit `n` vectors: about 2·sqrt(n), with enough vectors to train each, at least 1."""
    return max(1, min(int(2 * math.sqrt(n)), n // _TRAINING_POINTS_PER_LIST))


class VectorIndex:
    """Inner-product search over chunk vectors; ids are SQLite chunk ids."""

    def __init__(self, dimension: int, index: faiss.Index | None = None, nprobe: int = 32) -> None:
        self.dimension = dimension
        self._index = index if index is not None else faiss.IndexIDMap2(_flat(dimension))
        self._ivf = _as_ivf(self._index)
        self.nprobe = nprobe

    @classmethod
    def build(
        cls, dimension: int, ids: np.ndarray, vectors: np.ndarray, ivf_threshold: int, nprobe: int = 32
    ) -> VectorIndex:
        """An index over `vectors` of the type their number calls for: flat below `ivf_threshold`, else IVF."""
        if len(ids) < ivf_threshold:
            index = cls(dimension, nprobe=nprobe)
        else:
            index = cls(dimension, _trained_ivf(dimension, vectors), nprobe)
        with _threads(os.cpu_count() or 1):
            index.add(ids, vectors)
        return index

    @property
    def kind(self) -> str:
        """ "flat" (exact) or "ivf" (approximate)."""
        return "flat" if self._ivf is None else "ivf"

    @property
    def lists(self) -> int:
        """Number of IVF lists (0 for a flat index)."""
        return 0 if self._ivf is None else int(self._ivf.nlist)

    def suits(self, ivf_threshold: int) -> bool:
        """Whether this index type still fits its size; otherwise rebuild it with `build`.

        Float16 codes only. Flat up to `ivf_threshold`; IVF from there, kept until the collection halves below the
        threshold (so a few deletions do not flip it back and forth) or grows enough to need twice as many lists.
        """
        n = len(self)
        if self._code_dtype() != np.float16:  # float32 codes, written before: rebuild them as float16
            return False
        if self._ivf is None:
            return n < ivf_threshold
        return n >= ivf_threshold // 2 and ivf_lists(n) < 2 * self.lists

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self._index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids.astype(np.int64))

    def remove(self, ids: np.ndarray) -> None:
        if len(ids):
            self._index.remove_ids(np.asarray(ids, dtype=np.int64))

    def ids(self) -> np.ndarray:
        """Every id in the index."""
        if self._ivf is None:
            return faiss.vector_to_array(faiss.downcast_index(self._index).id_map).astype(np.int64)
        lists = self._ivf.invlists
        per_list = [faiss.rev_swig_ptr(lists.get_ids(n), lists.list_size(n)) for n in range(self.lists)]
        return np.concatenate([np.array(ids, dtype=np.int64) for ids in per_list] or [np.zeros(0, np.int64)])

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Scores and ids of the `k` nearest vectors to one query vector, optionally among `allowed` ids."""
        k = min(k, len(self) if allowed is None else len(allowed))
        if k <= 0:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        selector = None if allowed is None else faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64))
        if self._ivf is None:
            params = faiss.SearchParameters(sel=selector)
        else:  # a filter keeps a share of each list: probe as many more lists, up to all of them (exact)
            share = 1.0 if allowed is None else max(len(allowed) / len(self), 1e-9)
            params = faiss.SearchParametersIVF(sel=selector, nprobe=min(self.lists, math.ceil(self.nprobe / share)))
        query = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        with _threads(_SEARCH_THREADS):
            scores, ids = self._index.search(query, k, params=params)
        # stored vectors are unit length, so a score above the query's length is a damaged vector in the file
        bound = float(np.linalg.norm(query)) * (1 + _SCORE_SLACK)
        keep = (ids[0] >= 0) & np.isfinite(scores[0]) & (np.abs(scores[0]) <= bound)
        if not keep[ids[0] >= 0].all():
            log.warning("the vector file holds damaged vectors (chunk ids %s scored above %.3f); they are left "
                        "out: run `qa-app check --repair`", ids[0][~keep & (ids[0] >= 0)].tolist(), bound)  # fmt: skip
        return scores[0][keep], ids[0][keep]

    def stored(self) -> tuple[np.ndarray, np.ndarray]:
        """Every id with the vector stored for it, as FAISS holds them (to verify against the database)."""
        if self._ivf is None:
            return self.ids(), faiss.downcast_index(self._index).index.reconstruct_n(0, len(self))
        lists, width = self._ivf.invlists, self._ivf.code_size
        codes = [faiss.rev_swig_ptr(lists.get_codes(n), lists.list_size(n) * width) for n in range(self.lists)]
        flat = np.concatenate([np.array(c, dtype=np.uint8) for c in codes] or [np.zeros(0, np.uint8)])
        return self.ids(), flat.view(self._code_dtype()).reshape(-1, self.dimension).astype(np.float32)

    def _code_dtype(self) -> type:
        """How each vector is held: float16 (written now) or float32 (flat and IVF files written before)."""
        inner = self._ivf if self._ivf is not None else faiss.downcast_index(faiss.downcast_index(self._index).index)
        return np.float16 if inner.code_size == 2 * self.dimension else np.float32

    def save(self, path: Path) -> None:
        """Write to a temporary file, flush it to disk, then rename: readers never see half a file.

        A failed write (a full disk) deletes its temporary file and raises `DiskFullError` or the `OSError`.
        """
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            try:
                faiss.write_index(self._index, str(tmp))
            except RuntimeError as exc:  # FAISS reports a failed write as a RuntimeError quoting strerror
                raise _write_error(exc, tmp) from exc
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except Exception as exc:
            tmp.unlink(missing_ok=True)
            if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
                raise DiskFullError(disk_full_message(path)) from exc
            raise

    @classmethod
    def load(cls, path: Path, nprobe: int = 32) -> VectorIndex:
        index = faiss.read_index(str(path))
        return cls(index.d, index, nprobe)


def _write_error(exc: RuntimeError, path: Path) -> OSError:
    """The OSError behind a failed FAISS write (its message quotes strerror)."""
    for code in (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EDQUOT):
        if os.strerror(code) in str(exc):
            return OSError(code, os.strerror(code), str(path))
    return OSError(errno.EIO, f"cannot write the vector file ({str(exc).splitlines()[-1]})", str(path))


def _as_ivf(index: faiss.Index) -> faiss.IndexIVF | None:
    inner = faiss.downcast_index(index)
    return inner if isinstance(inner, faiss.IndexIVF) else None


def _flat(dimension: int) -> faiss.IndexScalarQuantizer:
    """Exact inner-product search over float16 codes (needs no training)."""
    return faiss.IndexScalarQuantizer(dimension, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)


def _trained_ivf(dimension: int, vectors: np.ndarray) -> faiss.IndexIVFScalarQuantizer:
    """An IVF index of float16 codes (not residuals) whose lists are k-means centroids of a sample of `vectors`."""
    lists = ivf_lists(len(vectors))
    sample_size = min(len(vectors), lists * _TRAINING_POINTS_PER_LIST)
    sample = vectors[np.sort(np.random.default_rng(0).choice(len(vectors), sample_size, replace=False))]
    index = faiss.IndexIVFScalarQuantizer(faiss.IndexFlatIP(dimension), dimension, lists,
                                          faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT, False)  # fmt: skip
    with _threads(os.cpu_count() or 1):
        index.train(np.ascontiguousarray(sample, dtype=np.float32))
    return index


class _threads:
    """FAISS's OpenMP thread count for a block (it is process-wide: searches use one, builds use all)."""

    def __init__(self, count: int) -> None:
        self._count = count

    def __enter__(self) -> None:
        self._before = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(self._count)

    def __exit__(self, *_: object) -> None:
        faiss.omp_set_num_threads(self._before)
