"""Full, read-only and locked index directories (#16): readers keep reading, writers fail with one clear line.

A full disk is a real size-limited tmpfs when this process may mount one (root); elsewhere ENOSPC is injected at
the write calls (FAISS, BM25, SQLite), the only place a test can make a disk full. A read-only directory is a
read-only bind mount for root (chmod does not stop root) and a chmod for other users.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import faiss
import numpy as np
import pytest

from qa_app.config import DB_NAME, Settings
from qa_app.errors import DiskFullError, IndexMismatchError, LockTimeoutError, ReadOnlyIndexError
from qa_app.integrity import check_index
from qa_app.library import Library
from qa_app.schema import SCHEMA_VERSION
from qa_app.store import Store
from tests.articles import write_articles
from tests.fakes import HashingEmbedder
from tests.inprocess_cli import run_cli
from tests.reliability_helpers import ROOT, child_env


def _mount(*args: str) -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def _library(index_dir: Path) -> Library:
    return Library(Settings(index_dir=index_dir, lock_timeout=3), embedder=HashingEmbedder())


def _fill(folder: Path) -> Path:
    """Write a filler file until the disk is full; returns it (delete it to free the space)."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


class _SQLiteFull:
    """A connection whose writes fail as on a full disk (injected only where no tmpfs can be mounted)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
        if sql.lstrip().upper().startswith(("INSERT", "DELETE", "UPDATE")):
            error = sqlite3.OperationalError("database or disk is full")
            error.sqlite_errorname = "SQLITE_FULL"
            raise error
        return self._db.execute(sql, *args)

    def __getattr__(self, name: str) -> object:
        return getattr(self._db, name)


def _inject_full_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    write_index = faiss.write_index

    def full_write_index(index: faiss.Index, path: str) -> None:
        write_index(index, path)  # the temporary file exists, as after a write that ran out of space
        raise RuntimeError(f"Error in faiss::FileIOWriter: write error: {os.strerror(errno.ENOSPC)}")

    def full_save(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(faiss, "write_index", full_write_index)
    monkeypatch.setattr(np, "save", full_save)
    open_db = Store._open
    monkeypatch.setattr(Store, "_open", lambda self: _SQLiteFull(open_db(self)))


class Disk:
    """A small disk: `fill()` uses up its space (really, or by injection), `free()` gives it back."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root, self._patch = root, monkeypatch
        self.real = _mount("-t", "tmpfs", "-o", "size=4m", "tmpfs", str(root))
        self._filler: Path | None = None

    def fill(self) -> None:
        if self.real:
            self._filler = _fill(self.root)
        else:
            _inject_full_disk(self._patch)

    def free(self) -> None:
        if self._filler is not None:
            self._filler.unlink()
        self._patch.undo()


@pytest.fixture
def disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Disk]:
    root = tmp_path / "disk"
    root.mkdir()
    disk = Disk(root, monkeypatch)
    yield disk
    if disk.real:
        _umount(root)


def _temporary_files(index_dir: Path) -> list[str]:
    return sorted(p.name for p in index_dir.iterdir() if p.name.endswith(".tmp"))


def test_a_full_disk_fails_the_writer_clearly_and_keeps_what_was_committed(disk: Disk, tmp_path: Path):
    paths = write_articles(tmp_path / "articles")
    library = _library(disk.root / "index")
    library.add(paths[:1])
    disk.fill()
    with pytest.raises(DiskFullError, match="no space left on the disk"):
        library.add(paths[1:])
    assert _temporary_files(library.index_dir) == []
    assert [d.source for d in library.documents()] == [paths[0].name]
    library.close()
    disk.free()
    reopened = _library(disk.root / "index")
    assert check_index(reopened).problems == []
    assert [r.status for r in reopened.add(paths[1:])] == ["indexed", "indexed"]


def test_readers_on_a_full_disk_search_without_writing(disk: Disk, tmp_path: Path):
    library = _library(disk.root / "index")
    library.add(write_articles(tmp_path / "articles"))
    expected = [p.chunk_id for p in library.search("chess champion", k=3)]
    library.close()
    for stale in [*disk.root.joinpath("index").glob("vectors-*"), *disk.root.joinpath("index").glob("bm25*")]:
        shutil.rmtree(stale) if stale.is_dir() else stale.unlink()  # readers must rebuild both
    disk.fill()
    for _ in range(3):
        reader = _library(disk.root / "index")
        assert [p.chunk_id for p in reader.search("chess champion", k=3)] == expected
        reader.close()
    assert _temporary_files(disk.root / "index") == []


def test_a_save_that_runs_out_of_space_after_the_commit_keeps_the_commit(tmp_path: Path, monkeypatch):
    """The database committed, then the FAISS file could not be written: one clear error, the article kept."""
    paths = write_articles(tmp_path / "articles")
    library = _library(tmp_path / "index")
    library.add(paths[:1])
    write_index = faiss.write_index

    def full_write_index(index: faiss.Index, path: str) -> None:
        write_index(index, path)
        raise RuntimeError(f"Error in faiss::FileIOWriter: write error: {os.strerror(errno.ENOSPC)}")

    monkeypatch.setattr(faiss, "write_index", full_write_index)
    with pytest.raises(DiskFullError):
        library.add(paths[1:2])
    monkeypatch.undo()
    assert _temporary_files(library.index_dir) == []
    library.close()
    reopened = _library(tmp_path / "index")
    assert len(reopened.documents()) == 2
    assert reopened.search("wheat harvest", k=1)[0].source == paths[1].name
    assert check_index(reopened).problems == []


# ---- read-only ----------------------------------------------------------------------------------


@pytest.fixture
def read_only(tmp_path: Path, model) -> Iterator[Path]:
    """A folder whose index (built with the real model, for the CLI) this process can read but not write."""
    source, view = tmp_path / "rw", tmp_path / "ro"
    source.mkdir()
    view.mkdir()
    library = Library(Settings(index_dir=source / "index"), embedder=model)
    library.add(write_articles(tmp_path / "articles"))
    library.close()
    if os.geteuid() == 0:
        if not (_mount("--bind", str(source), str(view)) and _mount("-o", "remount,ro,bind", str(view))):
            _umount(view)
            pytest.skip("root without permission to mount: no way to make a folder read-only for this process")
        yield view / "index"
        _umount(view)
        return
    modes = {path: path.stat().st_mode for path in [source / "index", *(source / "index").rglob("*")]}
    for path in modes:
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    yield source / "index"
    for path, mode in modes.items():
        path.chmod(mode)


def test_a_read_only_index_can_be_listed_searched_and_checked(read_only: Path, model):
    library = Library(Settings(index_dir=read_only), embedder=model)
    assert len(library.documents()) == 3
    assert library.search("chess champion", k=1)[0].source == "chess-final.txt"
    assert check_index(library).problems == []
    with pytest.raises(ReadOnlyIndexError, match="read-only"):
        library.remove(library.documents()[0].doc_id)
    with pytest.raises(ReadOnlyIndexError, match="read-only"):
        new = read_only.parent.parent / "new.txt"
        new.write_text("Council opens a library\nThe town council opened a new public library on Monday.")
        library.add([new])


def test_cli_reads_a_read_only_index(read_only: Path):
    for command in (["list"], ["search", "chess champion"], ["check"]):
        code, out, err = run_cli(*command, "--index-dir", read_only)
        assert code == 0 and "unable to open" not in out + err, (command, out + err)
    assert "Okafor" in run_cli("search", "chess champion", "--index-dir", read_only)[1]
    code, out, err = run_cli("remove", "0123456789abcdef", "--index-dir", read_only)
    assert code == 1 and "read-only" in err and "Traceback" not in err


# ---- the write lock -----------------------------------------------------------------------------


def _hold_lock(index_dir: Path) -> subprocess.Popen:
    """Another process that takes the write lock and never lets go."""
    code = (
        "import sys, time; from pathlib import Path; from qa_app.writelock import WriteLock; "
        "lock = WriteLock(Path(sys.argv[1]), 1); lock.acquire(); print('held', flush=True); time.sleep(120)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code, str(index_dir)], stdout=subprocess.PIPE, text=True,
                              cwd=ROOT, env=child_env())  # fmt: skip
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def test_a_held_lock_makes_writers_wait_with_a_message_then_fail_clearly(tmp_path: Path, caplog):
    paths = write_articles(tmp_path / "articles")
    library = _library(tmp_path / "index")
    library.add(paths[:1])
    holder = _hold_lock(library.index_dir)
    try:
        started = time.monotonic()
        with caplog.at_level(logging.WARNING), pytest.raises(LockTimeoutError) as raised:
            library.add(paths[1:])
        assert 2.5 < time.monotonic() - started < 30
        assert f"pid {holder.pid}" in str(raised.value) and "QA_APP_LOCK_TIMEOUT" in str(raised.value)
        assert any(f"waiting for another writer: pid {holder.pid}" in r.getMessage() for r in caplog.records)
        with pytest.raises(LockTimeoutError):
            library.remove(library.documents()[0].doc_id)
        assert len(library.search("harbor bridge", k=3)) == 1  # readers never wait
    finally:
        holder.kill()
        holder.wait()
    assert [r.status for r in library.add(paths[1:])] == ["indexed", "indexed"]
    assert not (library.index_dir / ".write.lock.pid").exists()


def test_a_read_only_index_of_a_newer_schema_says_so(read_only: Path, tmp_path: Path, model):
    """Not the read-only refusal of an upgrade, nor a failed transaction: the version, and what to do."""
    database = tmp_path / "rw" / "index" / DB_NAME  # the writable side (a bind mount), or the chmod-ed files
    modes = {path: path.stat().st_mode for path in (database.parent, database)}
    for path in modes:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)
    with closing(sqlite3.connect(database)) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    for path, mode in modes.items():
        path.chmod(mode)
    with pytest.raises(IndexMismatchError, match=f"schema version {SCHEMA_VERSION + 1}, newer than this qa_app"):
        Library(Settings(index_dir=read_only), embedder=model)
