"""The FAISS index by size: exact while small, IVF when large, migrated automatically by the library."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pytest

from qa_app.config import Settings
from qa_app.documents import make_document
from qa_app.index import VectorIndex, ivf_lists
from qa_app.library import Library
from qa_app.records import Document
from tests.fakes import HashingEmbedder

DIM = 32
N = 12_000


@pytest.fixture(scope="module")
def clustered() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit vectors in 300 clusters (ids 1000..), and 40 queries near cluster centres."""
    rng = np.random.default_rng(7)
    centres = rng.standard_normal((300, DIM), dtype=np.float32)
    vectors = centres[rng.integers(300, size=N)] + 0.35 * rng.standard_normal((N, DIM), dtype=np.float32)
    queries = centres[rng.integers(300, size=40)] + 0.35 * rng.standard_normal((40, DIM), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    vectors = vectors.astype(np.float16).astype(np.float32)  # the float16 values SQLite stores and FAISS holds
    return np.arange(1000, 1000 + N, dtype=np.int64), vectors, queries


def exact_top(ids: np.ndarray, vectors: np.ndarray, query: np.ndarray, k: int) -> set[int]:
    return set(ids[np.argsort(-(vectors @ query))[:k]].tolist())


def test_the_index_type_follows_the_size(clustered):
    ids, vectors, _ = clustered
    assert VectorIndex.build(DIM, ids, vectors, ivf_threshold=N + 1).kind == "flat"
    ivf = VectorIndex.build(DIM, ids, vectors, ivf_threshold=N)
    assert (ivf.kind, ivf.lists, len(ivf)) == ("ivf", ivf_lists(N), N)
    assert sorted(ivf.ids().tolist()) == ids.tolist()


def test_ivf_recall_at_10_against_exact_search(clustered):
    ids, vectors, queries = clustered
    ivf = VectorIndex.build(DIM, ids, vectors, ivf_threshold=1, nprobe=16)
    flat = VectorIndex.build(DIM, ids, vectors, ivf_threshold=N + 1)
    recalls = []
    for query in queries:
        truth = exact_top(ids, vectors, query, 10)
        assert set(flat.search(query, 10)[1].tolist()) == truth
        recalls.append(len(set(ivf.search(query, 10)[1].tolist()) & truth) / 10)
    assert np.mean(recalls) >= 0.95


def test_ivf_removes_filters_and_survives_a_save(clustered, tmp_path: Path):
    ids, vectors, queries = clustered
    ivf = VectorIndex.build(DIM, ids, vectors, ivf_threshold=1, nprobe=8)
    query = queries[0]
    gone = ivf.search(query, 5)[1]
    ivf.remove(gone)
    assert len(ivf) == N - 5
    assert not set(ivf.search(query, 50)[1].tolist()) & set(gone.tolist())
    # a narrow filter probes every list: exact among the allowed ids, however few
    allowed = ids[::97]
    kept = np.isin(ids, allowed) & ~np.isin(ids, gone)
    _, found = ivf.search(query, 10, allowed)
    assert set(found.tolist()) == exact_top(ids[kept], vectors[kept], query, 10)
    ivf.save(tmp_path / "v.faiss")
    loaded = VectorIndex.load(tmp_path / "v.faiss", nprobe=8)
    assert loaded.kind == "ivf"
    assert loaded.search(query, 10)[1].tolist() == ivf.search(query, 10)[1].tolist()


def test_when_an_index_must_be_rebuilt(clustered):
    ids, vectors, _ = clustered
    flat = VectorIndex.build(DIM, ids[:100], vectors[:100], ivf_threshold=1000)
    assert flat.suits(1000) and not flat.suits(100)
    ivf = VectorIndex.build(DIM, ids[:6400], vectors[:6400], ivf_threshold=6400)
    assert (ivf.lists, ivf.suits(6400)) == (160, True)
    ivf.add(ids[6400:], vectors[6400:])  # 1.9x the size: 219 lists would suit, 160 still do
    assert ivf.suits(6400)
    ivf.remove(ids[3000:])  # below half the threshold: back to exact search
    assert not ivf.suits(6400)
    small = VectorIndex.build(DIM, ids[:3000], vectors[:3000], ivf_threshold=3000)
    small.add(ids[3000:], vectors[3000:])  # 4x the size: 219 lists would suit, twice its 75
    assert (small.lists, small.suits(3000)) == (75, False)


def articles(count: int, first: int = 0) -> list[Document]:
    """Short distinct articles, one chunk each; article n talks about topic n."""
    return [
        make_document(
            text=f"Report number {n} on topic{n}. The council of town{n} approved plan{n} on Monday. "
            f"Officials said plan{n} will cost {n} million dollars.",
            title=f"Town{n} approves plan{n}",
            source=f"article-{n}.txt",
        )
        for n in range(first, first + count)
    ]


def saved_kind(library: Library) -> str:
    path = next(library.index_dir.glob("vectors-*.faiss"))
    return VectorIndex.load(path).kind


def test_the_library_migrates_to_ivf_and_back_as_it_grows_and_shrinks(tmp_path: Path):
    settings = Settings(index_dir=tmp_path / "index", ivf_threshold=60, ivf_nprobe=4)
    library = Library(settings, embedder=HashingEmbedder())
    library.add(articles(40))
    assert saved_kind(library) == "flat"
    library.add(articles(30, first=40))
    assert saved_kind(library) == "ivf" and library.indexes.current()[0].kind == "ivf"  # searched as saved
    assert library.search("What did town55 approve?", k=1)[0].title == "Town55 approves plan55"
    reopened = Library(settings, embedder=HashingEmbedder())  # loads the saved IVF file as it is
    assert reopened.search("plan12 cost", k=1)[0].title == "Town12 approves plan12"
    for doc in [d for d in library.documents() if d.title != "Town55 approves plan55"][:45]:
        library.remove(doc.doc_id)
    assert saved_kind(library) == "flat"
    assert library.search("What did town55 approve?", k=1)[0].title == "Town55 approves plan55"


def test_a_lower_threshold_setting_rebuilds_the_saved_index_on_open(tmp_path: Path):
    Library(Settings(index_dir=tmp_path / "index"), embedder=HashingEmbedder()).add(articles(30))
    library = Library(Settings(index_dir=tmp_path / "index", ivf_threshold=20), embedder=HashingEmbedder())
    assert library.search("plan7", k=1)[0].title == "Town7 approves plan7"
    assert saved_kind(library) == "ivf"


def test_files_with_float32_codes_are_read_and_rebuilt_as_float16(clustered):
    """Vector files written before held float32 codes (IndexFlatIP, IndexIVFFlat): read exactly, then rebuilt."""
    ids, vectors, queries = clustered
    ids, vectors = ids[:4000], vectors[:4000]
    flat = faiss.IndexIDMap2(faiss.IndexFlatIP(DIM))
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(DIM), DIM, 20, faiss.METRIC_INNER_PRODUCT)
    ivf.train(vectors)
    for old, threshold in ((flat, 10_000), (ivf, 1)):
        old.add_with_ids(vectors, ids)
        index = VectorIndex(DIM, old, nprobe=20)
        held_ids, held = index.stored()
        assert np.array_equal(held[np.argsort(held_ids)], vectors)
        assert set(index.search(queries[0], 10)[1].tolist()) == exact_top(ids, vectors, queries[0], 10)
        assert not index.suits(threshold)
        rebuilt = VectorIndex.build(DIM, *index.stored(), ivf_threshold=threshold, nprobe=20)
        assert rebuilt.kind == index.kind and rebuilt.suits(threshold)
        held_ids, held = rebuilt.stored()
        assert np.array_equal(held[np.argsort(held_ids)], vectors)
