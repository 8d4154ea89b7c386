"""SQLite failures as one-line errors that say what to do (storage_errors.py), from real SQLite errors.

A full disk is SQLite's message here; tests/test_reliability_storage.py fills a real one.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from qa_app.errors import DatabaseDamagedError, DiskFullError, ReadOnlyIndexError
from qa_app.storage_errors import disk_is_full, storage_error


def _error_of(connect: str, statement: str) -> sqlite3.DatabaseError:
    try:
        sqlite3.connect(connect, uri=True).execute(statement)
    except sqlite3.DatabaseError as exc:
        return exc
    raise AssertionError(f"{statement!r} did not fail")


def test_a_file_that_is_not_a_database_is_damaged(tmp_path: Path) -> None:
    path = tmp_path / "library.sqlite"
    path.write_bytes(b"this is not an SQLite database, just text" * 40)
    error = storage_error(_error_of(str(path), "SELECT * FROM sqlite_master"), path)
    assert isinstance(error, DatabaseDamagedError)
    assert str(path) in str(error) and "restore it from a backup" in str(error) and "qa-app index" in str(error)


def test_a_write_to_a_read_only_database_names_the_directory(tmp_path: Path) -> None:
    path = tmp_path / "library.sqlite"
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.close()
    error = storage_error(_error_of(f"{path.as_uri()}?mode=ro", "INSERT INTO t VALUES (1)"), path)
    assert isinstance(error, ReadOnlyIndexError) and str(tmp_path) in str(error) and "read-only" in str(error)


def test_a_full_disk_says_what_is_kept() -> None:
    exc = sqlite3.OperationalError("database or disk is full")
    error = storage_error(exc, Path("/data/index/library.sqlite"))
    assert isinstance(error, DiskFullError) and "/data/index/library.sqlite" in str(error)
    assert "everything committed before is kept" in str(error)


def test_other_errors_are_left_to_the_caller(tmp_path: Path) -> None:
    path = tmp_path / "library.sqlite"
    assert storage_error(_error_of(str(path), "SELECT * FROM no_such_table"), path) is None
    assert not disk_is_full(tmp_path)
