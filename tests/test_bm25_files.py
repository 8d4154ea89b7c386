"""BM25 segments on disk in fewer bytes: read back as the same arrays, scoring the same; bm25s's own folders load."""

from __future__ import annotations

from pathlib import Path

import bm25s
import numpy as np

from qa_app import bm25_files
from qa_app.lexical import Segment, tokenize

TEXTS = [
    "The harbour reopened on Monday after the storm; ferries sail again at dawn.",
    "The old bridge closed for repairs. Traffic goes by the ring road until June.",
    "Farmers began the wheat harvest early this year and prices fell at the grain market.",
    "A chess champion won the final in Oslo after a six-hour game.",
] * 80  # 320 rows: more than a uint8 row index holds


def _bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _same(loaded: bm25s.BM25, built: bm25s.BM25) -> None:
    assert loaded.vocab_dict == built.vocab_dict
    for name in ("data", "indices", "indptr"):
        assert loaded.scores[name].dtype == built.scores[name].dtype
        assert np.array_equal(loaded.scores[name], built.scores[name])
    assert int(loaded.scores["num_docs"]) == int(built.scores["num_docs"])


def test_a_segment_reads_back_as_it_was_built_in_fewer_bytes(tmp_path: Path) -> None:
    ids = np.arange(10, 10 + len(TEXTS), dtype=np.int64)
    segment = Segment.build(ids, tokenize(TEXTS))
    segment.save(tmp_path / "compact")
    loaded = Segment.load(tmp_path / "compact")
    _same(loaded.bm25, segment.bm25)
    assert np.load(tmp_path / "compact" / bm25_files.ARRAYS["indices"]).dtype == np.uint16
    for query in (["harbour", "ferri"], ["wheat", "price"], ["nothing"]):
        assert np.array_equal(loaded.search(query, 5, None)[0], segment.search(query, 5, None)[0])
        assert np.array_equal(loaded.search(query, 5, None)[1], segment.search(query, 5, None)[1])
    (tmp_path / "bm25s").mkdir()
    segment.bm25.save(tmp_path / "bm25s", show_progress=False)
    compact = _bytes(tmp_path / "compact") - (tmp_path / "compact" / "ids.npy").stat().st_size
    assert compact < 0.8 * _bytes(tmp_path / "bm25s")  # here float32 scores dominate; the news set: -55%


def test_a_segment_bm25s_saved_itself_still_loads(tmp_path: Path) -> None:
    ids = np.arange(len(TEXTS[:4]), dtype=np.int64)
    segment = Segment.build(ids, tokenize(TEXTS[:4]))
    (tmp_path / "old").mkdir()
    np.save(tmp_path / "old" / "ids.npy", ids)
    segment.bm25.save(tmp_path / "old", show_progress=False)  # how Segment.save wrote folders before
    assert not (tmp_path / "old" / bm25_files.COMPACT).exists()
    loaded = Segment.load(tmp_path / "old")
    _same(loaded.bm25, segment.bm25)
    assert np.array_equal(loaded.search(["bridg"], 2, None)[1], segment.search(["bridg"], 2, None)[1])
