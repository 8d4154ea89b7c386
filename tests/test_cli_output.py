"""What `qa-app search` and `qa-app ask` print for people (#12): readable passages, no model-loading bar."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from qa_app.cli_text import EXCERPT_CHARS, excerpt, passage_lines, print_answer, score_line
from qa_app.config import Settings
from qa_app.library import Library
from qa_app.records import Answer, Passage

LONG_BODY = (
    "The ferry line between Split and Hvar stopped on Friday after a strike by the crews.\n\n"
    "The union said the crews had not been paid since March, and that the strike would last until the company "
    "paid the wages it owed.\n\nThe port authority added six buses to the island's timetable while the ferries "
    "stay in port, and said it would review the company's licence next month."
)


def qa_app(*args: str | Path) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "HF_HUB_DISABLE_PROGRESS_BARS"}
    command = [sys.executable, "-m", "qa_app", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory, model) -> Path:
    folder = tmp_path_factory.mktemp("cli-output")
    article = folder / "ferry.md"
    article.write_text(
        "---\ntitle: Ferry strike stops Hvar line\nsource: Adriatic Wire\npublished_at: 2025-05-09\n---\n"
        f"{LONG_BODY}\n",
        encoding="utf-8",
    )
    library = Library(Settings(index_dir=folder / "index"), embedder=model)
    assert [r.status for r in library.add([article])] == ["indexed"]
    library.close()
    return folder / "index"


def test_search_shows_title_date_outlet_and_an_excerpt_without_the_loading_bar(index: Path) -> None:
    result = qa_app("search", "Why did the ferries stop?", "-k", "2", "--index-dir", index)
    assert result.returncode == 0, result.stderr
    assert "Loading weights" not in result.stderr and "it/s" not in result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "1. Ferry strike stops Hvar line"
    assert lines[1] == "   2025-05-09 · Adriatic Wire · ferry.md"
    assert "[0." not in result.stdout and "scores" not in result.stdout  # no opaque numbers by default
    excerpt_lines = lines[2 : lines.index("")]
    assert all(line.startswith("   ") for line in excerpt_lines)  # follow-on lines are indented
    assert len(" ".join(line.strip() for line in excerpt_lines)) <= EXCERPT_CHARS


def test_search_scores_are_named_on_request(index: Path) -> None:
    result = qa_app("search", "Why did the ferries stop?", "-k", "1", "--scores", "--index-dir", index)
    assert result.returncode == 0, result.stderr
    assert "   scores: fused " in result.stdout and " · dense " in result.stdout and " · BM25 " in result.stdout


def test_an_abstention_exits_0_and_json_says_answered_false(index: Path) -> None:
    result = qa_app("ask", "Who won the 1998 football world cup?", "--json", "--index-dir", index)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["answered"] is False


def passage(text: str = LONG_BODY, **changes) -> Passage:
    values = {"chunk_id": 1, "doc_id": "d1", "title": "Ferry strike", "source": "ferry.md",
              "published_at": "2025-05-09", "start": 0, "end": len(text), "text": text, "score": 0.0331,
              "dense_score": 0.61234, "lexical_score": None, "page": 2}  # fmt: skip
    return Passage(**(values | changes))


def test_passage_lines_and_scores() -> None:
    lines = passage_lines(3, passage(), "Adriatic Wire", scores=True)
    assert lines[:2] == ["3. Ferry strike", "   2025-05-09 · Adriatic Wire · ferry.md · p. 2"]
    assert lines[-1] == "   scores: fused 0.0331 · dense 0.612 · BM25 -"  # BM25 did not find this one
    assert passage_lines(1, passage(published_at=None, page=None), "")[1] == "   undated · ferry.md"
    assert score_line(passage(lexical_score=4.2)).endswith("BM25 4.20")
    assert excerpt("a\n\nb   c") == "a b c" and excerpt("word " * 100, 30).endswith(" …")


def test_abstention_lists_the_closest_passages_briefly() -> None:
    printed: list[str] = []
    answer = Answer("q", "The articles do not answer this.", False, passages=(passage(), passage(chunk_id=2)))
    print_answer(answer, {"d1": "Adriatic Wire"}, printed.append)
    text = "\n".join(printed)
    assert "Closest passages:" in text and "2. Ferry strike" in text
    assert LONG_BODY not in text and len(text) < 800  # excerpts, not whole chunks
