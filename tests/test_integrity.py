"""`qa-app check`: problems in the derived files are found and repaired from SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa_app.integrity import check_index
from qa_app.library import Library
from tests.articles import write_articles


@pytest.fixture
def indexed(fake_library: Library, tmp_path: Path) -> Library:
    fake_library.add(write_articles(tmp_path / "articles"))
    return fake_library


def _break_missing(library: Library) -> None:
    next(library.index_dir.glob("vectors-*.faiss")).unlink()


def _break_garbage(library: Library) -> None:
    next(library.index_dir.glob("vectors-*.faiss")).write_bytes(b"not a faiss index")


def _break_leftover(library: Library) -> None:
    (library.index_dir / "vectors-0.faiss").write_bytes(b"old")


def _break_bm25(library: Library) -> None:
    (next(library.index_dir.glob("bm25-*")) / "state.json").unlink()


def test_a_healthy_index_has_no_problems(indexed: Library):
    report = check_index(indexed)
    assert report.problems == [] and report.to_json()["ok"]
    assert report.facts["documents"] == 3 and report.facts["chunks"] == 3


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (_break_missing, "is missing"),
        (_break_garbage, "unreadable"),
        (_break_leftover, "left over"),
        (_break_bm25, "bm25-"),
    ],
)
def test_damage_is_reported_then_repaired(indexed: Library, damage, expected: str):
    before = [p.chunk_id for p in indexed.search("chess champion", k=3)]
    damage(indexed)
    report = check_index(indexed)
    assert any(expected in problem for problem in report.problems), report.problems
    repaired = check_index(indexed, repair=True)
    assert repaired.repaired and repaired.problems == []
    reopened = Library(indexed.settings, embedder=indexed.embedder)
    assert [p.chunk_id for p in reopened.search("chess champion", k=3)] == before
