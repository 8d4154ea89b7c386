"""Text normalisation: one string for the same article, whatever its file's line breaks and spaces."""

from __future__ import annotations

import re
import unicodedata

_LINE_BREAKS = re.compile(r"\r\n|[\r\x0b\x0c\x85\u2028]")
_SPACES = re.compile(r"[\t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")
# controls, soft hyphens, zero-width characters, and bidi embeddings/overrides/isolates (U+202A-E, U+2066-9): an
# override makes a quote read differently from the stored text ("5.3" shown as "3.5"), so none is kept
_INVISIBLE = re.compile(r"[\x00-\x09\x0e-\x1f\x7f-\x9f\u00ad\u200b-\u200d\u202a-\u202e\u2060\u2066-\u2069\ufeff]")
SURROGATES = re.compile("[\ud800-\udfff]")  # lone halves of UTF-16 pairs, from JSON escapes or PDF fonts
_RUNS_OF_SPACES = re.compile(r" {2,}")
# the lookbehind keeps this linear: without it, a long run of spaces inside a line is rescanned from each space
_TRAILING_SPACES = re.compile(r"(?<! ) +$", re.MULTILINE)
_BLANK_LINES = re.compile(r"\n{3,}")
_LINE_END_HYPHEN = re.compile(r"(?<=[^\W\d_])-\n(?=[^\W\d_])")
_SINGLE_NEWLINE = re.compile(r"(?<!\n)\n(?!\n)")


def normalize_text(text: str, *, dehyphenate: bool = False) -> str:
    """Clean text so the same article always gives the same string (and the same doc_id)."""
    text = _LINE_BREAKS.sub("\n", text).replace("\u2029", "\n\n")
    text = SURROGATES.sub("\ufffd", text)  # they cannot be encoded, stored or hashed
    text = _INVISIBLE.sub("", _SPACES.sub(" ", text))
    if dehyphenate:
        text = _TRAILING_SPACES.sub("", text)
        text = _LINE_END_HYPHEN.sub(_join_hyphenated, text)
        text = _SINGLE_NEWLINE.sub(" ", _BLANK_LINES.sub("\n\n", text))
    text = _TRAILING_SPACES.sub("", _RUNS_OF_SPACES.sub(" ", text))
    # NFC last: removing an invisible char can bring a base letter and a combining mark together.
    return unicodedata.normalize("NFC", _BLANK_LINES.sub("\n\n", text).strip())


def _join_hyphenated(match: re.Match[str]) -> str:
    """Drop a line-end hyphen only before a lowercase letter ("inter-\\nnational")."""
    return "" if match.string[match.end()].islower() else match.group()


def collapse(value: object) -> str:
    """`value` as one line of normalised text."""
    return " ".join(normalize_text(str(value)).split()) if value is not None else ""
