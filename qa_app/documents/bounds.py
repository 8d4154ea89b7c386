"""Reading one file within its limits: sizes checked before reading, text decoded, parsers guarded."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa_app.config import (
    DEFAULT_MAX_METADATA_CHARS,
    DEFAULT_MAX_PDF_CONTENT_MB,
    DEFAULT_MAX_PDF_PAGES,
    DEFAULT_MAX_PDF_SECONDS,
    DEFAULT_MAX_RECORDS,
    DEFAULT_MAX_TEXT_CHARS,
)  # fmt: skip
from qa_app.errors import LoadError

MB = 1024 * 1024
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


@dataclass(frozen=True)
class Limits:
    """What one file may hold before it is refused (see Settings)."""

    max_bytes: int
    max_pdf_pages: int = DEFAULT_MAX_PDF_PAGES
    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS
    max_records: int = DEFAULT_MAX_RECORDS
    max_metadata_chars: int = DEFAULT_MAX_METADATA_CHARS
    max_pdf_content_mb: float = DEFAULT_MAX_PDF_CONTENT_MB
    max_pdf_seconds: float = DEFAULT_MAX_PDF_SECONDS


def check_length(source: str, text: str, max_chars: int) -> None:
    """Refuse an article's text longer than `max_chars`."""
    if len(text) > max_chars:
        raise LoadError(source, too_long(f"text is {len(text):,} characters", max_chars))


def too_long(what: str, max_chars: int) -> str:
    """The reason given for a text over the per-article limit."""
    return f"{what}, over the {max_chars:,}-character limit per article (QA_APP_MAX_TEXT_CHARS)"


def read_limited(path: Path, *, max_bytes: int) -> bytes:
    """The file's bytes, refusing empty and oversized files before reading them."""
    try:
        size = path.stat().st_size
        if size == 0:
            raise LoadError(str(path), "empty file")
        if size <= max_bytes:
            with path.open("rb") as handle:
                data = handle.read(max_bytes + 1)  # the file may grow after the stat
            size = len(data)
        if size > max_bytes:
            raise LoadError(
                str(path),
                f"file is {size / MB:.1f} MB, over the {max_bytes / MB:.1f} MB limit (QA_APP_MAX_FILE_MB)",
            )
        if size == 0:
            raise LoadError(str(path), "empty file")
        return data
    except OSError as exc:
        raise LoadError(str(path), f"cannot read the file ({exc.strerror or exc})") from exc


def decode(path: Path, data: bytes) -> str:
    """UTF-8 text (BOM allowed), or UTF-16 when the data starts with its BOM."""
    encoding = "utf-16" if data.startswith(UTF16_BOMS) else "utf-8-sig"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        name = "UTF-16" if encoding == "utf-16" else "UTF-8"
        raise LoadError(str(path), f"not valid {name} text (binary file?)") from exc
    if "\x00" in text:
        raise LoadError(str(path), "contains NUL bytes (binary file?)")
    return text


def guarded(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """`function(...)`, or None when a parser chokes on input we do not control (a page, PDF metadata)."""
    try:
        return function(*args, **kwargs)
    except Exception:
        return None


class _Overran(BaseException):
    """Raised by the alarm inside a parser: a BaseException, so the parser's own `except Exception` lets it by."""


_REPEAT_S = 0.05  # seconds between repeated alarms once the limit has passed


@contextmanager
def time_limit(seconds: float) -> Iterator[bool]:
    """Interrupt the block with TimeoutError once `seconds` have passed, where a process can (SIGALRM).

    That is the main thread with no other alarm pending (the CLI, Ray workers); elsewhere (the web app's
    and the API's threads) it yields False and the caller's own checks between steps are the only bound.
    """
    if not (hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
            and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)):  # fmt: skip
        yield False
        return
    armed = [True]

    def alarm(signum: int, frame: object) -> None:
        if armed[0]:
            raise _Overran

    previous = signal.signal(signal.SIGALRM, alarm)
    # then again every 50 ms: a raise that lands where Python ignores exceptions (a gc callback, a __del__)
    # is lost, so the next one stops the block
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 1e-3), _REPEAT_S)
    try:
        yield True
    except _Overran:
        raise TimeoutError(f"over {seconds:g} s") from None
    finally:
        armed[0] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def short(exc: Exception) -> str:
    """The first line of a parser's error, cut to 120 characters."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]
