"""Text bound for a terminal with its control characters made visible, so stored text cannot drive the terminal.

Article text, titles and file names are untrusted: an escape sequence in a file name can retitle the window or
rewrite lines, a bidi override can make "5.3" read "3.5". Every such character becomes a `\\uXXXX` escape, which
is also what it means inside a JSON string, so the CLI's JSON output still decodes to the stored text.
"""

from __future__ import annotations

import re
from typing import Any, TextIO

# C0 controls but tab and newline, DEL, C1 controls, bidi embeddings/overrides/isolates, lone surrogates
# (undecodable bytes of a file name, as os.fsdecode gives them)
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def printable(text: str) -> str:
    """`text` with every control, bidi control and lone surrogate written as `\\uXXXX`."""
    return _UNSAFE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


class EscapingStream:
    """A text stream that passes everything written through `printable` (the CLI's stdout and stderr)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(printable(text))
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:  # flush, isatty, fileno, encoding, buffer...
        return getattr(self._stream, name)


def unescaped(stream: TextIO) -> TextIO:
    """The stream under an `EscapingStream` (for rich's progress bar, whose own escape codes must pass)."""
    return stream._stream if isinstance(stream, EscapingStream) else stream
