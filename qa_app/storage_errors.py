"""What a user is told when the index's storage fails: a read-only directory, a full disk, a damaged database."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from qa_app.errors import DatabaseDamagedError, DiskFullError, ReadOnlyIndexError, StorageError

_FULL_BELOW_BYTES = 64 * 1024  # less free space than this is a full disk (SQLite's WAL index alone needs 32 KB)


def read_only_message(index_dir: Path) -> str:
    """What a write into the read-only `index_dir` is refused with."""
    return f"the index directory {index_dir} is read-only: searching works, indexing and removing need write access"


def disk_full_message(path: Path) -> str:
    """What a write that found no space on the disk of `path` stops with (what was committed is kept)."""
    return (f"no space left on the disk of {path}: free some space and run the command again "
            "(everything committed before is kept; `qa-app check` verifies the index)")  # fmt: skip


def disk_is_full(folder: Path) -> bool:
    """Whether the file system of `folder` has no block left for an ordinary user."""
    stats = os.statvfs(folder)
    return stats.f_bavail * stats.f_frsize < _FULL_BELOW_BYTES


def storage_error(exc: sqlite3.DatabaseError, path: Path) -> StorageError | None:
    """The user-facing error for a SQLite failure of the database at `path`, or None for other errors."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc)
    if name == "SQLITE_FULL" or "disk is full" in text:
        return DiskFullError(disk_full_message(path))
    if name.startswith("SQLITE_READONLY") or "readonly database" in text:
        return ReadOnlyIndexError(read_only_message(path.parent))
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or type(exc) is sqlite3.DatabaseError:
        return DatabaseDamagedError(
            f"database damaged: {path} ({text}); restore it from a backup, or move {path.parent} aside and "
            "index the articles again with `qa-app index`"
        )
    return None
