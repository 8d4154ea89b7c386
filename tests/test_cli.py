"""Every CLI command end to end, in a subprocess, with the real model and --index-dir."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.articles import write_articles
from tests.conftest import CORPUS, SEED_TITLE


def qa_app(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "qa_app", *map(str, args)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env={**os.environ})
    if check and result.returncode != 0:
        raise AssertionError(f"{command} exited {result.returncode}:\n{result.stderr}")
    return result


@pytest.fixture(scope="module")
def cli_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One index built through `qa-app index`, shared by the read-only tests of this module."""
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


def test_index_reports_progress_on_stderr_and_json_on_stdout(cli_index: Path, tmp_path: Path):
    again = qa_app("index", CORPUS, "--index-dir", cli_index)
    assert "already indexed" in again.stderr and again.stdout == ""
    fresh = qa_app("index", write_articles(tmp_path / "a")[0], "--index-dir", tmp_path / "index", "--json")
    results = json.loads(fresh.stdout)["results"]  # stdout is the JSON alone
    assert [r["status"] for r in results] == ["indexed"] and results[0]["chunks"] >= 1
    assert "embedding chunks" in fresh.stderr and "chunks/s" in fresh.stderr and "1 indexed" in fresh.stderr


def test_search_json_contract(cli_index: Path):
    out = json.loads(qa_app("search", "Did Mexico accept American troops?", "-k", "3", "--json",
                            "--index-dir", cli_index).stdout)  # fmt: skip
    assert out["question"] == "Did Mexico accept American troops?"
    assert len(out["passages"]) == 3
    first = out["passages"][0]
    assert set(first) == {"doc_id", "chunk_id", "title", "source", "published_at", "start", "end", "text", "score"}
    assert first["title"] == SEED_TITLE and first["published_at"] == "2025-05-03"


def test_list_show_remove(cli_index: Path, tmp_path: Path):
    listed = json.loads(qa_app("list", "--json", "--index-dir", cli_index).stdout)["documents"]
    assert len(listed) == 4
    assert set(listed[0]) == {"doc_id", "title", "source", "published_at", "added_at", "chunks"}
    seed = next(d for d in listed if d["title"] == SEED_TITLE)
    shown = json.loads(qa_app("show", seed["doc_id"], "--json", "--index-dir", cli_index).stdout)
    assert "Sheinbaum" in shown["text"] and isinstance(shown["metadata"], dict)
    passages = json.loads(qa_app("search", "troops", "--json", "--index-dir", cli_index).stdout)["passages"]
    for p in passages:
        text = shown["text"] if p["doc_id"] == seed["doc_id"] else None
        if text:
            assert text[p["start"] : p["end"]] == p["text"]

    chess = next(d for d in listed if "chess" in d["title"].lower())
    own = tmp_path / "index"  # the module's index stays read-only: remove from a copy
    shutil.copytree(cli_index, own, ignore=shutil.ignore_patterns("*.lock"))
    qa_app("remove", chess["doc_id"], "--index-dir", own)
    after = json.loads(qa_app("list", "--json", "--index-dir", own).stdout)["documents"]
    assert chess["doc_id"] not in {d["doc_id"] for d in after} and len(after) == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["show", "0000000000000000"], "no document with id"),
        (["remove", "0000000000000000"], "no document with id"),
        (["index", "does/not/exist.txt"], "no such file or folder"),
    ],
)
def test_errors_are_one_line_without_traceback(args: list[str], message: str, tmp_path: Path):
    result = qa_app(*args, "--index-dir", tmp_path / "index", check=False)
    assert result.returncode != 0
    assert message in result.stderr and "Traceback" not in result.stderr


def test_ask_json_and_human_output(cli_index: Path):
    out = json.loads(qa_app("ask", "Who rejected the proposal to send US troops into Mexico?", "--json",
                            "--index-dir", cli_index).stdout)  # fmt: skip
    assert out["answered"] and "Sheinbaum" in out["answer"]
    assert out["citations"][0]["title"] == SEED_TITLE
    human = qa_app("ask", "What is the boiling point of tungsten?", "--index-dir", cli_index).stdout
    assert "do not answer this question" in human


def test_ask_batch_keeps_order_and_reports_bad_lines(cli_index: Path, tmp_path: Path):
    batch = tmp_path / "questions.jsonl"
    batch.write_text(
        '{"question": "Did Mexico accept American troops?"}\nnot json\n{"q": 1}\n'
        '{"question": "How much will the bridge repairs cost?"}\n{"question": "\\ud800 troops?"}\n',
        encoding="utf-8",
    )
    lines = [json.loads(line) for line in qa_app("ask", "--batch", batch, "--json", "--index-dir", cli_index)
             .stdout.splitlines()]  # fmt: skip
    assert len(lines) == 5
    assert lines[4]["line"] == 5 and "surrogate" in lines[4]["error"]  # the rest of the batch still ran
    assert lines[0]["question"] == "Did Mexico accept American troops?" and lines[0]["citations"]
    assert lines[1]["line"] == 2 and "questions.jsonl line 2" in lines[1]["error"]
    assert lines[2]["line"] == 3 and "question" in lines[2]["error"]
    assert "4.2 million" in lines[3]["answer"]


def test_check_reports_a_healthy_index(cli_index: Path):
    report = json.loads(qa_app("check", "--json", "--index-dir", cli_index).stdout)
    assert report["ok"] and report["problems"] == [] and report["documents"] == 4
