"""Hybrid retrieval on its own (fake embedder): reciprocal-rank fusion, the per-article cap, filters, follow-ups."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from qa_app.config import Settings
from qa_app.documents import make_document
from qa_app.library import Library
from qa_app.retrieval import SearchFilters, is_follow_up
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


def test_at_most_two_passages_per_article_unless_the_question_names_it(retrieval: Library) -> None:
    passages = retrieval.search("bridge cables deck repairs", k=6)
    assert sum(p.title == "Bridge works" for p in passages) == 2
    named = retrieval.search("Bridge works: bridge cables deck repairs", k=6)
    assert sum(p.title == "Bridge works" for p in named) > 2


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
