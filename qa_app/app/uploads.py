"""Uploaded files to library documents: safe names, a throw-away folder, progress text."""

from __future__ import annotations

import re
import tempfile
import unicodedata
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol

from qa_app.config import SUPPORTED_SUFFIXES
from qa_app.library import Library, Progress
from qa_app.records import AddResult

UPLOAD_TYPES = [suffix.lstrip(".") for suffix in SUPPORTED_SUFFIXES]
_MAX_NAME = 180
_UNSAFE_CHARS = re.compile(r"[^\w .()\-+,@&'’]")


class Upload(Protocol):
    """What the pages hand over: Streamlit's UploadedFile has both."""

    name: str

    def getvalue(self) -> bytes: ...


def safe_name(name: str) -> str | None:
    """A client-supplied file name reduced to a plain base name, or None when it cannot be used.

    The client decides the name, so it is never used as a path: any directory part (POSIX or
    Windows) is dropped, names with a `..` component are refused, odd characters are replaced.
    """
    name = unicodedata.normalize("NFC", name or "")
    parts = re.split(r"[\\/]+", name)
    if any(part.strip() == ".." for part in parts):
        return None
    base = "".join(ch for ch in parts[-1] if ch.isprintable()).strip()
    base = _UNSAFE_CHARS.sub("_", base).lstrip(".").strip()
    if not base or base in {".", ".."}:
        return None
    if len(base) > _MAX_NAME:
        stem, dot, suffix = base.rpartition(".")
        base = stem[: _MAX_NAME - len(suffix) - 1] + dot + suffix if dot and len(suffix) < 10 else base[:_MAX_NAME]
    return base


def progress_text(progress: Progress, seconds: float) -> str:
    """`2/5 files · 40/120 chunks · 9.5 chunks/s` for the progress bar."""
    rate = f" · {progress.chunks_done / seconds:.1f} chunks/s" if seconds > 0 and progress.chunks_done else ""
    return (
        f"Indexed {progress.docs_done}/{progress.docs_total} files · "
        f"{progress.chunks_done}/{progress.chunks_total} chunks{rate}"
    )


def progress_fraction(progress: Progress) -> float:
    """Share of the work done, by chunks (the embedding is what takes time)."""
    if progress.chunks_total:
        return min(1.0, progress.chunks_done / progress.chunks_total)
    return min(1.0, progress.docs_done / progress.docs_total) if progress.docs_total else 1.0


def index_uploads(
    library: Library,
    uploads: Iterable[Upload],
    progress: Callable[[Progress], None] | None = None,
) -> list[AddResult]:
    """Save the uploads under safe names in a fresh temporary folder, index them, delete the folder.

    Returns one result per upload (a JSONL file may give several); refused names come first.
    """
    refused: list[AddResult] = []
    with tempfile.TemporaryDirectory(prefix="qa-app-upload-") as tmp:
        folder = Path(tmp)
        paths: list[Path] = []
        for upload in uploads:
            name = safe_name(upload.name)
            if name is None:
                refused.append(AddResult(upload.name, "failed", reason="unsafe file name; rename the file"))
                continue
            path = folder / name
            if path.exists():
                refused.append(AddResult(name, "failed", reason="another file in this upload has the same name"))
                continue
            path.write_bytes(upload.getvalue())
            paths.append(path)
        results = library.add(paths, progress=progress) if paths else []
    return refused + [_without_folder(result, str(folder)) for result in results]


def _without_folder(result: AddResult, folder: str) -> AddResult:
    """Failure messages name the temporary path; the user knows the file by its name."""
    if result.status != "failed":
        return result
    prefix = folder.rstrip("/") + "/"
    source = result.source.replace(prefix, "")
    reason = (result.reason or "").replace(prefix, "")
    return AddResult(source, result.status, result.doc_id, result.title, result.chunks, reason)
