"""Search filters applied by the store (filter_sql.py): dates, sources and outlets, document ids, on real SQLite."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qa_app.chunking import chunk_text
from qa_app.documents import make_document
from qa_app.records import SearchFilters
from qa_app.store import NewDocument, Store

ARTICLES = [  # title, source, published_at, outlet
    ("Harbor bridge closes", "harbor.txt", "2025-03-01", "Coast Courier"),
    ("Wheat harvest record", "https://farm.example/wheat", "2025-03-15", None),
    ("Port strike ends", "100%_port.txt", "2025-04-02", "The Ledger"),
    ("Council budget passes", "council.txt", None, None),
]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "db.sqlite")
    items = []
    for title, source, published, outlet in ARTICLES:
        doc = make_document(title=title, text=f"{title}. More on this story today.", source=source,
                            published_at=published, metadata={"outlet": outlet} if outlet else {})  # fmt: skip
        chunks = chunk_text(doc.text)
        items.append(NewDocument(doc, chunks, np.ones((len(chunks), 4), dtype=np.float32)))
    store.write(add=items)
    yield store
    store.close()


def _titles(store: Store, filters: SearchFilters) -> set[str]:
    ids = store.chunk_ids_matching(filters)
    return {row.title for row in store.chunks(ids.tolist()).values()}


def test_no_filter_keeps_every_chunk(store: Store) -> None:
    assert len(store.chunk_ids_matching(SearchFilters())) == store.counts()[1]


def test_dates_are_inclusive_and_undated_articles_drop_out(store: Store) -> None:
    assert _titles(store, SearchFilters(published_after="2025-03-15")) == {"Wheat harvest record", "Port strike ends"}
    assert _titles(store, SearchFilters(published_before="2025-03-15")) == {"Harbor bridge closes",
                                                                           "Wheat harvest record"}  # fmt: skip
    assert _titles(store, SearchFilters("2025-03-02", "2025-04-01")) == {"Wheat harvest record"}


def test_sources_match_source_or_outlet_case_insensitively_as_substrings(store: Store) -> None:
    assert _titles(store, SearchFilters(sources=("coast",))) == {"Harbor bridge closes"}  # the outlet
    assert _titles(store, SearchFilters(sources=("FARM.example",))) == {"Wheat harvest record"}  # the source
    assert _titles(store, SearchFilters(sources=("ledger", "council"))) == {"Port strike ends", "Council budget passes"}


def test_like_wildcards_in_a_source_filter_match_literally(store: Store) -> None:
    assert _titles(store, SearchFilters(sources=("100%_",))) == {"Port strike ends"}
    assert _titles(store, SearchFilters(sources=("%",))) == {"Port strike ends"}  # not "every source"
    assert _titles(store, SearchFilters(sources=("harbor_txt",))) == set()  # _ is not "any character"


def test_document_ids_and_filters_combine(store: Store) -> None:
    by_title = {d.title: d.doc_id for d in store.documents()}
    chosen = (by_title["Harbor bridge closes"], by_title["Port strike ends"])
    assert _titles(store, SearchFilters(doc_ids=chosen)) == {"Harbor bridge closes", "Port strike ends"}
    assert _titles(store, SearchFilters(published_after="2025-04-01", doc_ids=chosen)) == {"Port strike ends"}
    assert _titles(store, SearchFilters(published_after="2025-04-01", sources=("coast",))) == set()
