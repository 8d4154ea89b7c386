"""Smoke test of search quality over the shipped corpus plus a few unrelated articles (real model)."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa_app.library import Library
from tests.articles import write_articles
from tests.conftest import CORPUS, SEED_TITLE


@pytest.fixture
def indexed(library: Library, tmp_path: Path) -> Library:
    library.add([CORPUS, *write_articles(tmp_path / "articles")])
    return library


@pytest.mark.parametrize(
    ("question", "title"),
    [
        ("Did Mexico accept American troops?", SEED_TITLE),
        ("What did Sheinbaum say about sovereignty?", SEED_TITLE),
        ("How much will the bridge repairs cost?", "Harbor bridge closes for repairs"),
        ("Who is the youngest chess champion?", "Teenager wins national chess title"),
    ],
)
def test_the_right_article_comes_first(indexed: Library, question: str, title: str):
    assert indexed.search(question, k=3)[0].title == title
