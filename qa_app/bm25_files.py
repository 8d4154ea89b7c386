"""A bm25s index on disk in fewer bytes, read back as the very arrays bm25s made.

bm25s saves its vocabulary as a JSON object (~15 bytes a term), its score matrix's row indices as int32 and its
column pointers as int64. Here the vocabulary is its terms in column order, one a line, gzip-compressed, and the
two integer arrays take the smallest unsigned type that holds their values (`compact.json` records the types
bm25s made). Loading widens them back, so scores are the same bit for bit. A folder that bm25s saved itself
(indexes written before) loads as it always did. README, Index size.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import bm25s
import numpy as np

COMPACT = "compact.json"  # present only in folders written here
TERMS = "terms.txt.gz"
PARAMS = "params.index.json"  # bm25s's own names, so bm25s.BM25.load reads the parameters and the arrays
ARRAYS = {"data": "data.csc.index.npy", "indices": "indices.csc.index.npy", "indptr": "indptr.csc.index.npy"}
_NARROWED = ("indices", "indptr")


def save(bm25: bm25s.BM25, path: Path) -> None:
    """Write `bm25` into the (existing, empty) folder `path`."""
    terms = sorted(bm25.vocab_dict, key=bm25.vocab_dict.__getitem__)
    if [bm25.vocab_dict[term] for term in terms] != list(range(len(terms))) or any("\n" in t for t in terms):
        raise ValueError("the BM25 vocabulary is not one term per column")
    scores = bm25.scores
    for name, file in ARRAYS.items():
        np.save(path / file, _narrowest(scores[name]) if name in _NARROWED else scores[name])
    (path / TERMS).write_bytes(gzip.compress("\n".join(terms).encode("utf-8"), mtime=0))
    params = {"k1": bm25.k1, "b": bm25.b, "delta": bm25.delta, "method": bm25.method, "idf_method": bm25.idf_method,
              "dtype": bm25.dtype, "int_dtype": bm25.int_dtype, "num_docs": int(scores["num_docs"]),
              "version": bm25s.__version__, "backend": bm25.backend}  # fmt: skip  # what bm25s.BM25.save writes
    (path / PARAMS).write_text(json.dumps(params))
    (path / COMPACT).write_text(json.dumps({name: str(scores[name].dtype) for name in _NARROWED}))


def load(path: Path) -> bm25s.BM25:
    """The index saved in `path`, by `save` or by bm25s itself."""
    if not (path / COMPACT).exists():
        return bm25s.BM25.load(path, show_progress=False)
    types = json.loads((path / COMPACT).read_text())
    bm25 = bm25s.BM25.load(path, load_vocab=False, show_progress=False)
    terms = gzip.decompress((path / TERMS).read_bytes()).decode("utf-8").split("\n")
    bm25.vocab_dict = {term: column for column, term in enumerate(terms)}
    bm25.unique_token_ids_set = set(bm25.vocab_dict.values())
    for name in _NARROWED:
        bm25.scores[name] = bm25.scores[name].astype(types[name])
    return bm25


def _narrowest(values: np.ndarray) -> np.ndarray:
    """`values` (non-negative integers) in the smallest unsigned type that holds them all."""
    top = int(values.max()) if len(values) else 0
    return values.astype(np.min_scalar_type(top))
