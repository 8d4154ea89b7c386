"""Walking the files and folders named on the command line or uploaded."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from qa_app.config import (
    DB_NAME,
)  # fmt: skip
from qa_app.documents.normalise import SURROGATES
from qa_app.errors import LoadError
from qa_app.records import Failure


def iter_files(
    paths: Iterable[Path], skipped: list[Failure] | None = None, *, follow_links: bool = False
) -> Iterator[Path]:
    """Files named in `paths`, and the files under named folders, in sorted order.

    Hidden files and folders are skipped, and so is any index directory inside (a folder holding `DB_NAME`).
    Inside a folder, a symbolic link that leads out of it is not followed unless `follow_links`, and a file
    whose name is not valid UTF-8 is not read; each is added to `skipped` with the reason.
    """
    for path in paths:
        if path.is_file():
            yield path
        elif path.is_dir():
            walk = _Walk(path.resolve(), follow_links, [] if skipped is None else skipped)
            yield from _walk(path, seen=set(), walk=walk)
        elif path.exists():
            raise LoadError(str(path), "not a regular file or folder")
        else:
            raise LoadError(str(path), "no such file or folder")


@dataclass(frozen=True)
class _Walk:
    """One folder being walked: where it really is, whether links may lead out of it, what was skipped."""

    root: Path
    follow_links: bool
    skipped: list[Failure]


def shown_path(path: Path) -> str:
    """A path as text that can always be printed and stored: undecodable bytes of its name as \\xNN."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _walk(folder: Path, *, seen: set[Path], walk: _Walk) -> Iterator[Path]:
    resolved = folder.resolve()
    if resolved in seen:  # a symlink loop
        return
    seen.add(resolved)
    try:
        entries = sorted(folder.iterdir())
    except OSError as exc:
        raise LoadError(str(folder), f"cannot read the folder ({exc.strerror or exc})") from exc
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if SURROGATES.search(entry.name):  # os.fsdecode keeps undecodable bytes as lone surrogates
            walk.skipped.append(Failure(shown_path(entry), "the file name is not valid UTF-8; rename the file"))
            continue
        if entry.is_symlink() and not walk.follow_links and not entry.resolve().is_relative_to(walk.root):
            reason = f"a symbolic link to {shown_path(entry.resolve())}, outside {walk.root}: not followed"
            walk.skipped.append(Failure(shown_path(entry), f"{reason} (QA_APP_FOLLOW_LINKS=1 follows links)"))
            continue
        if entry.is_dir():
            if not (entry / DB_NAME).exists():
                yield from _walk(entry, seen=seen, walk=walk)
        elif entry.is_file():
            yield entry
