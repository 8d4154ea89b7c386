"""File names sent by a client, made safe to save."""

from __future__ import annotations

import re
import unicodedata

from qa_app.errors import LoadError

_CONTROL_OR_BIDI = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_DRIVE = re.compile(r"\A[A-Za-z]:")
_MAX_NAME_BYTES = 200  # file systems allow 255 bytes of UTF-8


def safe_upload_name(name: str) -> str:
    """A client-supplied file name as a plain base name that cannot leave the folder it is saved in.

    Directory parts (POSIX `/`, Windows `\\`, a drive such as `C:`) are dropped and the extension is
    kept; names that are empty, `.` or `..`, hidden (leading dot) or hold control or bidirectional
    formatting characters raise LoadError.
    """
    shown = repr(name)
    if _CONTROL_OR_BIDI.search(name):
        raise LoadError(shown, "the file name contains control or invisible formatting characters; rename the file")
    base = _DRIVE.sub("", re.split(r"[\\/]", name)[-1])
    base = unicodedata.normalize("NFC", base).strip()
    if not base or base in {".", ".."}:
        raise LoadError(shown, "no file name left once folders are removed; name the file")
    if base.startswith("."):
        raise LoadError(shown, "hidden file names (starting with '.') are not accepted; rename the file")
    if len(base.encode("utf-8")) > _MAX_NAME_BYTES:  # shorten the stem, keep the extension
        stem, dot, suffix = base.rpartition(".")
        tail = f".{suffix}" if dot and len(suffix) <= 10 else ""
        stem = stem if tail else base
        cut = stem.encode("utf-8")[: _MAX_NAME_BYTES - len(tail.encode("utf-8"))]
        base = cut.decode("utf-8", "ignore").rstrip() + tail
    return base
