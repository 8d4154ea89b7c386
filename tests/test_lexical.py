"""BM25 in segments: a write updates a small delta instead of rebuilding everything, and ranks as a rebuild."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from qa_app import lexical
from qa_app.config import Settings
from qa_app.documents import make_document
from qa_app.lexical import LexicalIndex, merge_at, tokenize
from qa_app.library import Library
from tests.fakes import HashingEmbedder

WORDS = [f"{stem}{suffix}" for stem in ("harbor", "council", "wheat", "bridge", "storm", "budget", "museum", "rail",
         "school", "court", "river", "market") for suffix in ("", "side", "land", "works", "field")]  # fmt: skip


def texts(count: int, seed: int) -> list[str]:
    """Chunks of 40-80 words drawn with Zipf-like weights, so terms have very different document frequencies."""
    rng = random.Random(seed)
    weights = [1 / (rank + 1) for rank in range(len(WORDS))]
    return [" ".join(rng.choices(WORDS, weights, k=rng.randint(40, 80))) for _ in range(count)]


QUERIES = ["harborland budget", "museumworks river", "railfield storm court", "wheatside", "schoolworks market"]


def top(index: LexicalIndex, query: str, k: int = 5) -> list[int]:
    return index.search(query, k)[1].tolist()


def split_at(main_size: int) -> tuple[LexicalIndex, LexicalIndex, np.ndarray]:
    """The same 600 chunks indexed at once, and as `main_size` in the main segment plus the rest in the delta."""
    corpus = texts(600, seed=1)
    ids = np.arange(1, 601, dtype=np.int64)
    main = LexicalIndex.build(ids[:main_size], corpus[:main_size])
    return LexicalIndex.build(ids, corpus), main.updated(ids[main_size:], corpus[main_size:], np.zeros(0), {}), ids


@pytest.fixture
def split() -> tuple[LexicalIndex, LexicalIndex, np.ndarray]:
    return split_at(540)


def overlap(a: LexicalIndex, b: LexicalIndex, query: str, k: int = 10) -> float:
    return len(set(top(a, query, k)) & set(top(b, query, k))) / k


@pytest.mark.parametrize("main_size", [540, 597])
def test_a_delta_ranks_like_a_full_rebuild(main_size: int):
    whole, updated, ids = split_at(main_size)
    assert len(updated.delta) == 600 - main_size and len(updated) == 600
    assert sorted(updated.ids.tolist()) == ids.tolist()
    for query in QUERIES:  # the same chunks, up to ties at the cut (the main segment's IDF is a bit stale)
        assert overlap(updated, whole, query) >= 0.9, query
        scores = dict(zip(*updated.search(query, 10)[::-1], strict=True))
        expected = dict(zip(*whole.search(query, 10)[::-1], strict=True))
        common = sorted(set(scores) & set(expected))
        assert np.allclose([scores[i] for i in common], [expected[i] for i in common], rtol=0.1)


def rare_words_query(text: str, corpus: list[str]) -> str:
    """The three words of `text` that the fewest chunks of `corpus` hold."""
    document_freq = {w: sum(w in c.split() for c in corpus) for w in set(text.split())}
    return " ".join(sorted(document_freq, key=document_freq.get)[:3])


def test_new_chunks_rank_as_after_a_rebuild_only_thanks_to_the_idf_rescaling(monkeypatch: pytest.MonkeyPatch):
    """Queries aimed at the 3 delta chunks: they rank as in a full rebuild; without rescaling they sink."""
    corpus = texts(600, seed=1)
    whole, scaled, _ = split_at(597)
    monkeypatch.setattr(lexical.Segment, "rescale_idf", lambda *_: None)
    _, unscaled, _ = split_at(597)
    ranks = {"whole": [], "scaled": [], "unscaled": []}
    for chunk_id in (598, 599, 600):
        query = rare_words_query(corpus[chunk_id - 1], corpus)
        for name, index in (("whole", whole), ("scaled", scaled), ("unscaled", unscaled)):
            found = top(index, query, 50)
            ranks[name].append(found.index(chunk_id) if chunk_id in found else 50)
    assert ranks["scaled"] == ranks["whole"]
    assert sum(ranks["unscaled"]) > sum(ranks["whole"])


def test_removed_chunks_are_masked_in_both_segments(split):
    _, updated, _ = split
    query = QUERIES[0]
    gone = np.array([*top(updated, query, 3), 560], dtype=np.int64)
    smaller = updated.updated(np.zeros(0, dtype=np.int64), [], gone, updated.delta_tokens)
    assert len(smaller) == 596
    assert not set(gone.tolist()) & set(smaller.ids.tolist())
    assert not set(gone.tolist()) & set(top(smaller, query, 50))
    allowed = np.array([5, 7, 570], dtype=np.int64)
    assert set(smaller.search("harbor council wheat bridge", 10, allowed)[1].tolist()) <= set(allowed.tolist())


def test_save_and_load_keep_both_segments(split, tmp_path: Path):
    _, updated, _ = split
    updated.save(tmp_path, "bm25-3")
    assert (tmp_path / updated.main_name).is_dir()
    loaded = LexicalIndex.load(tmp_path / "bm25-3")
    assert loaded.delta_tokens is None and len(loaded) == len(updated)
    for query in QUERIES:
        assert top(loaded, query) == top(updated, query)  # the same segments: the same order
    assert tokenize(["The harbors closed"]) == [["harbor", "close"]]


def test_the_merge_threshold_grows_with_the_main_segment():
    assert merge_at(0) == 1_000 and merge_at(100_000) == 5_000 and merge_at(10_000_000) == 20_000


def articles(first: int, count: int) -> list:
    return [
        make_document(title=f"Report {n}", source=f"r{n}.txt",
                      text=f"The zephyr{n} committee met on Monday. " + " ".join(texts(1, seed=n)))
        for n in range(first, first + count)
    ]  # fmt: skip


def bm25_folders(library: Library) -> list[str]:
    return sorted(p.name for p in library.index_dir.iterdir() if p.name.startswith(("bm25", ".bm25")))


def test_the_library_updates_the_delta_and_merges_past_the_threshold(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(lexical, "MERGE_MIN", 13)
    settings = Settings(index_dir=tmp_path / "index", retrieval_mode="lexical")
    library = Library(settings, embedder=HashingEmbedder())
    library.add(articles(0, 20))  # the first write builds the main segment
    assert bm25_folders(library) == ["bm25-1", "bm25main-1"]
    for n in range(20, 25):  # one article per write: each goes into the delta
        library.add(articles(n, 1))
        assert library.search(f"zephyr{n} committee", k=1)[0].title == f"Report {n}"
    assert bm25_folders(library) == ["bm25-6", "bm25main-1"]
    reopened = Library(settings, embedder=HashingEmbedder())  # loads main + delta; tokenizes the delta to update
    reopened.remove(reopened.search("zephyr3 committee", k=1)[0].doc_id)
    reopened.add(articles(25, 6))
    assert bm25_folders(reopened) == ["bm25-8", "bm25main-1"]  # 5 + 6 added, 1 removed: 12 pending, 13 merge
    reopened.add(articles(31, 1))
    assert bm25_folders(reopened) == ["bm25-9", "bm25main-9"]  # merged
    assert reopened.search("zephyr3 committee", k=1)[0].title != "Report 3"
    assert reopened.search("zephyr31 committee", k=1)[0].title == "Report 31"


def test_the_top_k_are_the_k_best_scores_of_all_rows(split):
    whole, _, _ = split
    for query in QUERIES:
        every = whole.main.bm25.get_scores(lexical.terms(query))
        best = np.sort(every[every > 0])[::-1][:10]
        scores, found = whole.search(query, 10)
        assert np.allclose(scores, best) and len(set(found.tolist())) == len(found)
        assert np.allclose(every[found - 1], scores)  # ids are rows + 1


def test_the_bm25s_internals_lexical_relies_on_hold() -> None:
    """lexical.py reads bm25s's Lucene IDF and its column-per-term score layout (pinned in pyproject.toml)."""
    import bm25s
    from bm25s.scoring import _score_idf_lucene

    tokens = [["harbor", "bridge"], ["bridge", "ferri"], ["wheat"]]
    bm25 = bm25s.BM25()
    bm25.index(tokens, show_progress=False)
    counts = np.diff(bm25.scores["indptr"])  # one column per term: how many rows hold it
    assert {t: int(counts[c]) for t, c in bm25.vocab_dict.items() if c < len(counts)} == {
        "harbor": 1, "bridge": 2, "ferri": 1, "wheat": 1}  # fmt: skip
    assert _score_idf_lucene(2, 3) < _score_idf_lucene(1, 3)
