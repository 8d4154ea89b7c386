"""Damaged index files (#16): `check` names the damage, `--repair` rebuilds what SQLite can, no traceback ever."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import faiss
import numpy as np
import pytest

from qa_app.errors import DatabaseDamagedError
from qa_app.integrity import check_index
from qa_app.library import Library
from tests.articles import write_articles
from tests.inprocess_cli import run_cli


@pytest.fixture
def indexed(fake_library: Library, tmp_path: Path) -> Library:
    fake_library.add(write_articles(tmp_path / "articles"))
    return fake_library


@pytest.fixture
def real_index(library: Library, tmp_path: Path) -> Path:
    """An index built with the real model, so the CLI (which loads that model) can open it."""
    library.add(write_articles(tmp_path / "articles"))
    library.close()
    return library.index_dir


def _empty_npy_files(index_dir: Path) -> None:
    for path in index_dir.rglob("*.npy"):
        path.write_bytes(b"")


def _truncate_npy_files(index_dir: Path) -> None:
    for path in index_dir.rglob("*.npy"):
        path.write_bytes(path.read_bytes()[:100])


@pytest.mark.parametrize("damage", [_empty_npy_files, _truncate_npy_files])
def test_damaged_bm25_files_are_reported_and_repaired(indexed: Library, damage):
    before = [p.chunk_id for p in indexed.search("chess champion", k=3)]
    damage(indexed.index_dir)
    report = check_index(indexed)
    assert any("bm25" in p and "unreadable" in p for p in report.problems), report.problems
    assert not any("left over" in p for p in report.problems), report.problems  # the main segment is current
    repaired = check_index(indexed, repair=True)
    assert repaired.repaired and repaired.problems == []
    reopened = Library(indexed.settings, embedder=indexed.embedder)
    assert [p.chunk_id for p in reopened.search("chess champion", k=3)] == before


def test_a_reader_searches_despite_damaged_bm25_files(indexed: Library):
    expected = [p.chunk_id for p in indexed.search("wheat harvest", k=3)]
    _empty_npy_files(indexed.index_dir)
    reopened = Library(indexed.settings, embedder=indexed.embedder)
    assert [p.chunk_id for p in reopened.search("wheat harvest", k=3)] == expected


def test_cli_reports_damaged_bm25_instead_of_aborted(real_index: Path):
    _empty_npy_files(real_index)
    code, out, err = run_cli("check", "--index-dir", real_index)
    assert code == 1 and "unreadable" in out and "Aborted" not in out + err, out + err
    code, out, err = run_cli("search", "chess champion", "--index-dir", real_index)
    assert code == 0 and "Okafor" in out and "Aborted" not in out + err
    code, out, err = run_cli("check", "--repair", "--index-dir", real_index)
    assert code == 0 and out.rstrip().endswith("ok"), out + err


def _corrupt_one_vector(index_dir: Path, value: float = 38.0) -> int:
    """Overwrite one number of one vector inside the FAISS file (float16 codes); returns that vector's chunk id."""
    path = next(index_dir.glob("vectors-*.faiss"))
    index = faiss.read_index(str(path))
    first = faiss.downcast_index(index).index.reconstruct(0).astype(np.float16)
    data = bytearray(path.read_bytes())
    offset = data.find(first.tobytes())
    assert offset > 0
    data[offset : offset + 2] = np.float16(value).tobytes()
    path.write_bytes(bytes(data))
    return int(faiss.vector_to_array(faiss.downcast_index(index).id_map)[0])


def test_a_corrupted_vector_is_found_by_check_and_never_scores_above_one(indexed: Library):
    bad_id = _corrupt_one_vector(indexed.index_dir)
    reopened = Library(indexed.settings, embedder=indexed.embedder)
    report = check_index(reopened)
    assert any("differ from the database" in p and str(bad_id) in p for p in report.problems), report.problems
    for question in ("chess champion", "harbor bridge repairs", "wheat harvest"):
        vectors, _ = reopened._indexes()
        query = reopened.query(question)
        scores, _ = vectors.search(query.vector, 10)
        assert scores.max() <= 1.0 + 1e-3
        assert all(p.dense_score is None or p.dense_score <= 1.0 + 1e-3 for p in reopened.search(question, k=3))
    assert check_index(reopened, repair=True).problems == []
    scores, ids = reopened._indexes()[0].search(reopened.query("chess champion").vector, 10)
    assert bad_id in ids.tolist() and scores.max() <= 1.0 + 1e-3


def _truncate_database(index_dir: Path) -> None:
    path = index_dir / "library.sqlite"
    path.write_bytes(path.read_bytes()[: 4096 * 3])


def _overwrite_database(index_dir: Path) -> None:
    path = index_dir / "library.sqlite"
    data = bytearray(path.read_bytes())
    data[4096 : 4096 * 4] = b"\xa5" * (4096 * 3)
    path.write_bytes(bytes(data))


def _garbage_database(index_dir: Path) -> None:
    (index_dir / "library.sqlite").write_bytes(b"this is not a database at all " * 200)


@pytest.mark.parametrize("damage", [_truncate_database, _overwrite_database, _garbage_database])
def test_a_damaged_database_says_so_with_what_to_do(real_index: Path, damage):
    with sqlite3.connect(real_index / "library.sqlite") as db:  # fold the WAL in, so the damage hits the data
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    damage(real_index)
    for command in (["check"], ["check", "--repair"], ["list"], ["search", "chess"], ["check", "--json"]):
        code, out, err = run_cli(*command, "--index-dir", real_index)
        text = out + err
        assert code == 1, (command, text)
        assert "database damaged" in text and "Traceback" not in text, (command, text)
        assert "restore" in text and "qa-app index" in text, (command, text)


def test_damaged_database_error_is_a_qa_error(indexed: Library):
    indexed.close()
    _garbage_database(indexed.index_dir)
    with pytest.raises(DatabaseDamagedError, match="database damaged"):
        Library(indexed.settings, embedder=indexed.embedder)


@pytest.mark.parametrize("damage", [_truncate_database, _overwrite_database, _garbage_database])
def test_check_json_on_a_damaged_database_prints_the_json_report(real_index: Path, damage):
    """`check --json` keeps its contract when the database cannot even be opened: one object, ok false, exit 1."""
    with sqlite3.connect(real_index / "library.sqlite") as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    damage(real_index)
    for command in (["check", "--json"], ["check", "--repair", "--json"]):
        code, out, err = run_cli(*command, "--index-dir", real_index)
        assert code == 1, (command, out, err)
        report = json.loads(out)  # stdout is the JSON object and nothing else
        assert set(report) == {"ok", "problems", "repaired", "documents", "chunks", "generation", "model"}, report
        assert report["ok"] is False and report["repaired"] == [], report
        assert any("database damaged" in p for p in report["problems"]), report
        assert any("restore" in p and "qa-app index" in p for p in report["problems"]), report
        assert "Traceback" not in err, err
