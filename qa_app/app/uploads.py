"""Uploaded files to library documents: safe names, a throw-away folder, progress text."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol

from qa_app.config import SUPPORTED_SUFFIXES
from qa_app.errors import LoadError, QAError
from qa_app.library import Library, Progress, safe_upload_name
from qa_app.records import AddResult

UPLOAD_TYPES = [suffix.lstrip(".") for suffix in SUPPORTED_SUFFIXES]
SHOWN_NAMES = 3  # file names of the latest saved group in the progress text


class Upload(Protocol):
    """What the pages hand over: Streamlit's UploadedFile has both."""

    name: str

    def getvalue(self) -> bytes: ...


def progress_text(progress: Progress, seconds: float) -> str:
    """`Embedded 40/120 chunks · 3/5 files embedded, 2/5 saved · 9.5 chunks/s · saved a.md, b.html` for the bar.

    Files count as embedded once all their vectors are made, and as saved a write group at a time; the
    names are the latest group's (at most `SHOWN_NAMES`, then "+N more").
    """
    rate = f" · {progress.chunks_done / seconds:.1f} chunks/s" if seconds > 0 and progress.chunks_done else ""
    names = ", ".join(progress.saved[:SHOWN_NAMES])
    more = len(progress.saved) - SHOWN_NAMES
    latest = f" · saved {names}" + (f" +{more} more" if more > 0 else "") if names else ""
    return f"Embedded {progress.chunks_done}/{progress.chunks_total} chunks · {progress.files_text()}{rate}{latest}"


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
    uploads = list(uploads)
    if len(uploads) > library.settings.max_upload_files:
        raise QAError(
            f"{len(uploads)} files in one upload, over the limit of {library.settings.max_upload_files} "
            "(QA_APP_MAX_UPLOAD_FILES); upload them in smaller batches"
        )
    refused: list[AddResult] = []
    with tempfile.TemporaryDirectory(prefix="qa-app-upload-") as tmp:
        folder = Path(tmp)
        paths: list[Path] = []
        for upload in uploads:
            try:
                name = safe_upload_name(upload.name)
            except LoadError as exc:
                refused.append(AddResult(upload.name, "failed", reason=exc.reason, file=upload.name))
                continue
            path = folder / name
            if path.exists():
                refused.append(
                    AddResult(name, "failed", reason="another file in this upload has the same name", file=name)
                )
                continue
            path.write_bytes(upload.getvalue())
            paths.append(path)
        results = library.add(paths, progress=progress, uploads=True) if paths else []
    return refused + [_without_folder(result, str(folder)) for result in results]


def _without_folder(result: AddResult, folder: str) -> AddResult:
    """Failure messages name the temporary path; the user knows the file by its name."""
    if result.status != "failed":
        return result
    prefix = folder.rstrip("/") + "/"
    source = result.source.replace(prefix, "")
    reason = (result.reason or "").replace(prefix, "")
    file = result.file.replace(prefix, "") if result.file else None
    return AddResult(source, result.status, result.doc_id, result.title, result.chunks, reason, file)
