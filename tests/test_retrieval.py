"""Hybrid retrieval on its own (fake embedder): each stage (candidates, fusion, rerank hook, per-article cap),
filters and follow-ups."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from qa_app.config import Settings
from qa_app.documents import make_document
from qa_app.errors import ConfigError
from qa_app.library import Library
from qa_app.records import Passage, Query, SearchFilters
from qa_app.retrieval import Candidates, RetrievalParams, cap_per_article, fuse, is_follow_up, retrieve
from tests.fakes import HashingEmbedder

PARAGRAPH = "The Ashford bridge on Main Street was closed for repairs to its cables and its deck. "


@pytest.fixture
def retrieval(tmp_path: Path) -> Library:
    library = Library(Settings(index_dir=tmp_path / "index", chunk_words=20, max_chunk_words=40),
                      embedder=HashingEmbedder())  # fmt: skip
    docs = [
        make_document(title="Bridge works", text=(PARAGRAPH * 6).strip(), source="a.txt", published_at="2025-03-01",
                      metadata={"outlet": "Ashford Times"}),
        make_document(title="Harvest", text="Farmers report a record wheat harvest this summer.", source="b.txt",
                      published_at="2025-06-01", metadata={"outlet": "Farm Weekly"}),
        make_document(title="Cables", text="New cables arrived for the bridge deck on Monday.", source="c.txt"),
    ]  # fmt: skip
    library.add(docs)
    yield library
    library.close()


def test_the_cap_per_article_holds_unless_the_question_names_it(retrieval: Library) -> None:
    capped = Library(replace(retrieval.settings, max_per_doc=2), embedder=retrieval.embedder)
    assert sum(p.title == "Bridge works" for p in capped.search("bridge cables deck repairs", k=6)) == 2
    named = capped.search("Bridge works: bridge cables deck repairs", k=6)
    assert sum(p.title == "Bridge works" for p in named) > 2
    capped.close()


def test_fusion_ranks_what_both_retrievers_find_first(retrieval: Library) -> None:
    hybrid = retrieval.search("new cables for the bridge deck", k=3)
    assert hybrid[0].title == "Cables"
    assert hybrid[0].score == pytest.approx(2 / (retrieval.settings.rrf_k + 1))  # rank 1 in both lists
    dense = Library(replace(retrieval.settings, retrieval_mode="dense"), embedder=retrieval.embedder)
    assert dense.search("new cables for the bridge deck", k=1)[0].dense_score == pytest.approx(
        dense.search("new cables for the bridge deck", k=1)[0].score)  # fmt: skip
    dense.close()


def test_filters_by_date_outlet_and_document(retrieval: Library) -> None:
    after = retrieval.search("bridge harvest cables", k=5, filters=SearchFilters(published_after="2025-04-01"))
    assert {p.title for p in after} == {"Harvest"}  # undated articles are out of a date filter
    outlet = retrieval.search("bridge harvest cables", k=5, filters=SearchFilters(sources=("farm",)))
    assert {p.title for p in outlet} == {"Harvest"}
    cables = next(d.doc_id for d in retrieval.documents() if d.title == "Cables")
    only = retrieval.search("bridge", k=5, filters=SearchFilters(doc_ids=(cables,)))
    assert {p.doc_id for p in only} == {cables}
    assert retrieval.search("bridge", k=5, filters=SearchFilters(published_before="1990-01-01")) == []


def test_follow_up_detection() -> None:
    assert is_follow_up("What did she say?") and is_follow_up("and the cost?")
    assert not is_follow_up("How much will the Ashford bridge repairs cost?")


def test_source_filters_match_literally(retrieval: Library) -> None:
    for wildcard in ("%", "_", "a%t"):
        assert retrieval.search("bridge harvest cables", k=5, filters=SearchFilters(sources=(wildcard,))) == []
    assert retrieval.search("bridge", k=5, filters=SearchFilters(sources=("a.txt",)))  # "." is not special either


def test_a_question_that_is_not_text_is_a_clear_error(retrieval: Library) -> None:
    from qa_app.errors import QAError

    with pytest.raises(QAError, match="surrogate"):
        retrieval.ask("\ud800 bridge?")
    with pytest.raises(QAError, match="empty"):
        retrieval.search("   ")


# ---- the stages on their own ---------------------------------------------------------------------------------


def _hand_passage(chunk_id: int, doc_id: str, title: str = "Untitled") -> Passage:
    return Passage(chunk_id, doc_id, title, f"{doc_id}.txt", None, 0, 1, "x", 1.0)


def test_fusion_weights_ranks_and_single_retriever_scores() -> None:
    found = Candidates(dense={1: 0.9, 2: 0.8}, lexical={2: 7.0, 3: 5.0})
    fused = dict(fuse(found, RetrievalParams(rrf_k=10, lexical_weight=2.0)))
    assert fused == pytest.approx({1: 1 / 11, 2: 1 / 12 + 2 / 11, 3: 2 / 12})
    assert [chunk_id for chunk_id, _ in fuse(found, RetrievalParams(rrf_k=10, lexical_weight=2.0))] == [2, 3, 1]
    assert fuse(found, RetrievalParams(mode="dense")) == [(1, 0.9), (2, 0.8)]
    assert fuse(Candidates(lexical=found.lexical), RetrievalParams(mode="lexical")) == [(2, 7.0), (3, 5.0)]


def test_cap_per_article_keeps_order_and_lets_a_named_article_through() -> None:
    ranked = [_hand_passage(i, "a" if i < 4 else "b", "Bridge works" if i < 4 else "Harvest") for i in range(6)]
    assert [p.chunk_id for p in cap_per_article(ranked, "cables", k=3, max_per_doc=2)] == [0, 1, 4]
    assert [p.chunk_id for p in cap_per_article(ranked, "bridge works cables", k=5, max_per_doc=1)] == [0, 1, 2, 3, 4]


def test_by_default_a_long_article_leaves_two_of_the_eight_passages_to_other_articles() -> None:
    ranked = [_hand_passage(i, "a" if i < 10 else "b", "Bridge works" if i < 10 else "Harvest") for i in range(14)]
    kept = cap_per_article(ranked, "cables", k=8, max_per_doc=RetrievalParams().max_per_doc)
    assert [p.chunk_id for p in kept] == [0, 1, 2, 3, 4, 5, 10, 11]
    assert RetrievalParams().max_per_doc == Settings().max_per_doc


def test_params_come_from_the_settings_and_refuse_an_unknown_mode() -> None:
    settings = Settings(retrieval_mode="dense", candidates=7, rrf_k=3, dense_weight=0.5, lexical_weight=2.0,
                        max_per_doc=4)  # fmt: skip
    assert RetrievalParams.from_settings(settings) == RetrievalParams("dense", 7, 3, 0.5, 2.0, 4)
    with pytest.raises(ConfigError, match="retrieval mode 'semantic' is not one of hybrid, dense, lexical"):
        RetrievalParams(mode="semantic")


def test_a_reranker_reorders_the_fused_passages_before_the_cap(retrieval: Library) -> None:
    query = retrieval.query("bridge cables deck repairs")
    vectors, lexical = retrieval.indexes.current()
    seen: list[list[Passage]] = []

    def cables_first(_: Query, passages: list[Passage]) -> list[Passage]:
        seen.append(passages)
        return sorted(passages, key=lambda p: p.title != "Cables")

    params = RetrievalParams(max_per_doc=1)
    plain = retrieve(retrieval.store, vectors, lexical, query, 3, params)
    reranked = retrieve(retrieval.store, vectors, lexical, query, 3, params, rerank=cables_first)
    assert plain[0].title == "Bridge works" and reranked[0].title == "Cables"
    assert len(seen[0]) > 3  # the hook sees every fused candidate, not only the k kept
    assert [p.title for p in reranked] == ["Cables", "Bridge works", "Harvest"]  # one per article, after the rerank


def test_empty_filters_keep_every_chunk(retrieval: Library) -> None:
    assert not SearchFilters().restricts and SearchFilters(sources=("x",)).restricts
    assert len(retrieval.store.chunk_ids_matching(SearchFilters())) == retrieval.counts()[1]
    assert retrieval.search("bridge", k=2, filters=SearchFilters()) == retrieval.search("bridge", k=2)


def test_the_facade_passes_its_reranker_to_every_search(retrieval: Library) -> None:
    def cables_first(_: Query, passages: list[Passage]) -> list[Passage]:
        return sorted(passages, key=lambda p: p.title != "Cables")

    assert retrieval.rerank is None and retrieval.search("bridge cables deck repairs", k=3)[0].title == "Bridge works"
    reranked = Library(retrieval.settings, embedder=retrieval.embedder, rerank=cables_first)
    try:
        assert reranked.search("bridge cables deck repairs", k=3)[0].title == "Cables"
        assert reranked.ask("bridge cables deck repairs", k=3).passages[0].title == "Cables"
    finally:
        reranked.close()
