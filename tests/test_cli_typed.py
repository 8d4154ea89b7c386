"""What the CLI prints of typed values: the notes `qa-app ask` says on stderr (those beside the answer, never the
conflict note of its text), and `qa-app feedback` from stored ratings."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qa_app.cli import app
from qa_app.config import Settings
from qa_app.documents import make_document
from qa_app.embedder import SentenceTransformerEmbedder
from qa_app.library import Library
from tests.test_answer import STRIKE, STRIKE_OTHER

QUESTION = "How many dockworkers went on strike at the Port of Carrow?"


@pytest.fixture(scope="module")
def strike_index(tmp_path_factory: pytest.TempPathFactory, model: SentenceTransformerEmbedder) -> Path:
    index_dir = tmp_path_factory.mktemp("notes") / "index"
    library = Library(Settings(index_dir=index_dir), embedder=model)
    library.add([make_document(title=title, text=body, source=f"{outlet.split()[-1].lower()}.example/strike",
                               published_at=date, metadata={"outlet": outlet})
                 for title, body, date, outlet in (STRIKE, STRIKE_OTHER)])  # fmt: skip
    library.close()
    return index_dir


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_conflict_note_is_part_of_the_answer_and_not_repeated_on_stderr(strike_index: Path) -> None:
    result = CliRunner().invoke(app, ["ask", QUESTION, "--index-dir", str(strike_index)])
    assert result.exit_code == 0, result.stderr
    assert "the sources differ" in result.stdout and "4,000" in result.stdout and "5,200" in result.stdout
    assert "note:" not in result.stderr


def test_a_fallback_note_goes_to_stderr(strike_index: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_APP_LLM_RETRIES", "0")
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    result = CliRunner().invoke(app, ["ask", QUESTION, "--index-dir", str(strike_index), "--llm-base-url", url])
    assert result.exit_code == 0, result.stderr
    notes = [line for line in result.stderr.splitlines() if line.startswith("note: ")]
    assert len(notes) == 1 and notes[0].startswith("note: The generative model was unavailable (")
    assert notes[0].endswith("this answer is extractive.") and "the sources differ" in result.stdout


def test_feedback_prints_each_stored_rating(strike_index: Path, model: SentenceTransformerEmbedder) -> None:
    library = Library(Settings(index_dir=strike_index), embedder=model)
    answer = library.ask(QUESTION)
    library.record_feedback(answer, -1)
    library.close()
    out = json.loads(CliRunner().invoke(app, ["feedback", "--json", "--index-dir", str(strike_index)]).stdout)
    (row,) = out["feedback"]
    assert set(row) == {"created_at", "question", "answer", "citations", "rating"}
    assert (row["question"], row["answer"], row["rating"]) == (QUESTION, answer.text, -1)
    assert row["citations"] == [c.to_json() for c in answer.citations]
    human = CliRunner().invoke(app, ["feedback", "--index-dir", str(strike_index)]).stdout
    assert human == f"{row['created_at']}  -1  {QUESTION}\n"
