"""The CLI with the real model and --index-dir: every command once for real in a subprocess (`python -m qa_app`,
what a user runs), everything else in this process through typer's CliRunner (the model is imported once)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from qa_app.cli import app
from tests.articles import write_articles
from tests.conftest import CORPUS, SEED_TITLE
from tests.inprocess_cli import run_cli

runner = CliRunner()  # click >= 8.2 keeps stderr apart from stdout


def qa_app(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess:
    """`python -m qa_app *args` as its own process."""
    command = [sys.executable, "-m", "qa_app", *map(str, args)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env={**os.environ})
    if check and result.returncode != 0:
        raise AssertionError(f"{command} exited {result.returncode}:\n{result.stderr}")
    return result


def invoke(*args: str | Path) -> Result:
    """`qa-app *args` in this process; a non-zero exit fails the test with what the command printed."""
    result = runner.invoke(app, [str(a) for a in args])
    if result.exit_code != 0:
        raise AssertionError(f"qa-app {args} exited {result.exit_code}:\n{result.stderr}\n{result.exception!r}")
    return result


@pytest.fixture(scope="module")
def cli_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One index built through `qa-app index` (a subprocess), shared by the read-only tests of this module."""
    root = tmp_path_factory.mktemp("cli")
    articles = write_articles(root / "articles")
    (root / "articles" / "broken.pdf").write_bytes(b"%PDF-1.4 truncated")
    result = qa_app("index", CORPUS, root / "articles", "--index-dir", root / "index", "--json")
    report = json.loads(result.stdout)["results"]
    statuses = sorted(r["status"] for r in report)
    assert statuses == ["failed", "indexed", "indexed", "indexed", "indexed"], report
    assert "broken.pdf" in result.stderr and "4 indexed" in result.stderr
    assert len(articles) == 3
    return root / "index"


# ---- each command once in a subprocess --------------------------------------------------------------------


def test_search_json_contract(cli_index: Path):
    out = json.loads(qa_app("search", "Did Mexico accept American troops?", "-k", "3", "--json",
                            "--index-dir", cli_index).stdout)  # fmt: skip
    assert out["question"] == "Did Mexico accept American troops?"
    assert len(out["passages"]) == 3
    first = out["passages"][0]
    assert set(first) == {"doc_id", "chunk_id", "title", "source", "published_at", "start", "end", "text", "score"}
    assert first["title"] == SEED_TITLE and first["published_at"] == "2025-05-03"


def test_ask_json(cli_index: Path):
    out = json.loads(qa_app("ask", "Who rejected the proposal to send US troops into Mexico?", "--json",
                            "--index-dir", cli_index).stdout)  # fmt: skip
    assert out["answered"] and "Sheinbaum" in out["answer"]
    assert out["citations"][0]["title"] == SEED_TITLE


def test_list_show_and_remove(cli_index: Path, tmp_path: Path):
    listed = json.loads(qa_app("list", "--json", "--index-dir", cli_index).stdout)["documents"]
    assert len(listed) == 4
    assert set(listed[0]) == {"doc_id", "title", "source", "published_at", "added_at", "chunks"}
    seed = next(d for d in listed if d["title"] == SEED_TITLE)
    shown = json.loads(qa_app("show", seed["doc_id"], "--json", "--index-dir", cli_index).stdout)
    assert "Sheinbaum" in shown["text"] and isinstance(shown["metadata"], dict)
    passages = json.loads(invoke("search", "troops", "--json", "--index-dir", cli_index).stdout)["passages"]
    cited = [p for p in passages if p["doc_id"] == seed["doc_id"]]
    assert cited and all(shown["text"][p["start"] : p["end"]] == p["text"] for p in cited)

    chess = next(d for d in listed if "chess" in d["title"].lower())
    own = tmp_path / "index"  # the module's index stays read-only: remove from a copy
    shutil.copytree(cli_index, own, ignore=shutil.ignore_patterns("*.lock"))
    removed = qa_app("remove", chess["doc_id"], "--index-dir", own)
    assert f"removed {chess['doc_id']}" in removed.stderr
    after = json.loads(invoke("list", "--json", "--index-dir", own).stdout)["documents"]
    assert chess["doc_id"] not in {d["doc_id"] for d in after} and len(after) == 3


def test_check_reports_a_healthy_index(cli_index: Path):
    report = json.loads(qa_app("check", "--json", "--index-dir", cli_index).stdout)
    assert report["ok"] and report["problems"] == [] and report["documents"] == 4


def test_an_error_is_one_line_without_traceback(tmp_path: Path):
    result = qa_app("show", "0000000000000000", "--index-dir", tmp_path / "index", check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: no document with id '0000000000000000'; `qa-app list` shows the ids"]  # fmt: skip


# ---- in this process, through the runner ------------------------------------------------------------------


def test_index_reports_progress_on_stderr_and_json_on_stdout(cli_index: Path, tmp_path: Path):
    again = invoke("index", CORPUS, "--index-dir", cli_index)
    assert "already indexed" in again.stderr and again.stdout == ""
    fresh = invoke("index", write_articles(tmp_path / "a")[0], "--index-dir", tmp_path / "index", "--json")
    results = json.loads(fresh.stdout)["results"]  # stdout is the JSON alone
    assert [r["status"] for r in results] == ["indexed"] and results[0]["chunks"] >= 1
    assert "embedding chunks" in fresh.stderr and "chunks/s" in fresh.stderr and "1 indexed" in fresh.stderr


def test_search_filters_and_human_output(cli_index: Path):
    human = invoke("search", "bridge repairs", "-k", "2", "--index-dir", cli_index).stdout
    assert "Harbor bridge closes for repairs" in human.splitlines()[0]
    dated = json.loads(invoke("search", "troops", "--after", "2025-05-01", "--json", "--index-dir", cli_index).stdout)
    assert {p["title"] for p in dated["passages"]} == {SEED_TITLE}  # the test articles have no date
    named = json.loads(invoke("search", "troops", "--source", "chess", "--json", "--index-dir", cli_index).stdout)
    assert {p["source"] for p in named["passages"]} == {"chess-final.txt"}


def test_ask_abstains_in_words(cli_index: Path):
    human = invoke("ask", "What is the boiling point of tungsten?", "--index-dir", cli_index).stdout
    assert "do not answer this question" in human


def test_ask_batch_keeps_order_and_reports_bad_lines(cli_index: Path, tmp_path: Path):
    batch = tmp_path / "questions.jsonl"
    batch.write_text(
        '{"question": "Did Mexico accept American troops?"}\nnot json\n{"q": 1}\n'
        '{"question": "How much will the bridge repairs cost?"}\n{"question": "\\ud800 troops?"}\n',
        encoding="utf-8",
    )
    lines = [json.loads(line) for line in invoke("ask", "--batch", batch, "--json", "--index-dir", cli_index)
             .stdout.splitlines()]  # fmt: skip
    assert len(lines) == 5
    assert lines[4]["line"] == 5 and "surrogate" in lines[4]["error"]  # the rest of the batch still ran
    assert lines[0]["question"] == "Did Mexico accept American troops?" and lines[0]["citations"]
    assert lines[1]["line"] == 2 and "questions.jsonl line 2" in lines[1]["error"]
    assert lines[2]["line"] == 3 and "question" in lines[2]["error"]
    assert "4.2 million" in lines[3]["answer"]


def test_list_and_show_for_people(cli_index: Path):
    listed = invoke("list", "--index-dir", cli_index)
    assert len(listed.stdout.splitlines()) == 4 and "4 documents" in listed.stderr
    seed = next(line.split()[0] for line in listed.stdout.splitlines() if "Sheinbaum" in line or "Mexic" in line)
    shown = invoke("show", seed, "--index-dir", cli_index).stdout
    assert shown.startswith(SEED_TITLE) and "2025-05-03" in shown.splitlines()[1] and "Sheinbaum" in shown


def test_feedback_of_a_new_index_is_empty(tmp_path: Path):
    assert json.loads(invoke("feedback", "--json", "--index-dir", tmp_path / "index").stdout) == {"feedback": []}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["show", "0000000000000000"], "no document with id"),
        (["remove", "0000000000000000"], "no document with id"),
        (["index", "does/not/exist.txt"], "no such file or folder"),
        (["search", "troops", "--after", "yesterday"], "unrecognised date 'yesterday'"),
        (["ask"], "give either a question or --batch"),
    ],
)
def test_errors_are_one_line_without_traceback(args: list[str], message: str, tmp_path: Path):
    code, _, err = run_cli(*args, "--index-dir", tmp_path / "index")  # the real entry point, `qa_app.cli.main`
    assert code == 1 and message in err and "Traceback" not in err
    if args[0] != "index":  # (index reports each failed file in its summary instead)
        assert err.strip().splitlines() == [next(line for line in err.splitlines() if message in line)]
        assert err.startswith("error: ")
