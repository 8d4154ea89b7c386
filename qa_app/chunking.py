"""Sentence-aware chunking: runs of whole sentences (pysbd) with character offsets and overlap."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from typing import TYPE_CHECKING

from qa_app.records import ChunkSpan, Span

if TYPE_CHECKING:
    import pysbd

_LINE = re.compile(r"[^\n]+")
_WORD = re.compile(r"\S+")


_REGEX_CACHE = 4096  # compiled patterns Python's `re` keeps (512 by default)


@lru_cache(maxsize=1)
def _segmenter() -> pysbd.Segmenter:
    import pysbd  # here, not at the top: answering from stored sentences never splits text

    # pysbd passes pattern strings to `re` (one per abbreviation it meets: ~950 distinct ones over 60 news
    # articles), more than `re` caches, so it recompiled them on every call; a larger cache halves chunking time
    # (README, "Performance"). `_MAXCACHE` is CPython's knob for it; left alone where it does not exist.
    if getattr(re, "_MAXCACHE", _REGEX_CACHE) < _REGEX_CACHE:
        re._MAXCACHE = _REGEX_CACHE  # type: ignore[attr-defined]
    return pysbd.Segmenter(language="en", clean=False)


def _trimmed(text: str, start: int, end: int) -> Span | None:
    """The span without surrounding whitespace, or None when it is blank."""
    piece = text[start:end]
    stripped = piece.strip()
    if not stripped:
        return None
    left = start + len(piece) - len(piece.lstrip())
    return left, left + len(stripped)


_MAX_SEGMENT = 10_000  # pysbd is quadratic in its input: feed it pieces of a long line


def _pieces(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """`text[start:end]` in pieces of at most `_MAX_SEGMENT` characters, cut after a sentence end or a space."""
    while end - start > _MAX_SEGMENT:
        window = text[start : start + _MAX_SEGMENT]
        cut = max(window.rfind(". "), window.rfind("? "), window.rfind("! "))
        cut = cut + 2 if cut > _MAX_SEGMENT // 2 else (window.rfind(" ") + 1 or _MAX_SEGMENT)
        yield start, start + cut
        start += cut
    yield start, end


def _line_sentences(text: str, line_start: int, line_end: int) -> Iterator[Span]:
    """Sentence spans of one line, segmented piece by piece."""
    for start, end in _pieces(text, line_start, line_end):
        yield from _piece_sentences(text, start, end)


def _piece_sentences(text: str, line_start: int, line_end: int) -> Iterator[Span]:
    """Sentence spans of one piece of a line; pysbd gives the strings, we locate them in order."""
    line = text[line_start:line_end]
    cursor = 0
    for sentence in _segmenter().segment(line):
        stripped = sentence.strip()
        if not stripped:
            continue
        found = line.find(stripped, cursor)
        if found < 0:  # pysbd altered the text; keep the rest of the line as one sentence
            span = _trimmed(text, line_start + cursor, line_end)
            if span:
                yield span
            return
        yield line_start + found, line_start + found + len(stripped)
        cursor = found + len(stripped)
    tail = _trimmed(text, line_start + cursor, line_end)
    if tail:
        yield tail


def sentence_spans(text: str) -> list[Span]:
    """Sentence spans of `text`; a sentence never crosses a line break."""
    spans: list[Span] = []
    for line in _LINE.finditer(text):
        spans.extend(_line_sentences(text, line.start(), line.end()))
    return spans


def _split_long(text: str, span: Span, max_words: int) -> list[Span]:
    """Cut a sentence longer than `max_words` at word boundaries (the only place we cut inside one)."""
    words = [(m.start() + span[0], m.end() + span[0]) for m in _WORD.finditer(text[span[0] : span[1]])]
    return [(words[i][0], words[min(i + max_words, len(words)) - 1][1]) for i in range(0, len(words), max_words)]


def _word_count(text: str, span: Span) -> int:
    return len(_WORD.findall(text[span[0] : span[1]]))


def chunk_text(text: str, *, target_words: int = 200, max_words: int = 300) -> list[ChunkSpan]:
    """Group sentences into chunks of about `target_words`, repeating one sentence between neighbours."""
    units: list[tuple[Span, int]] = []
    for span in sentence_spans(text):
        count = _word_count(text, span)
        if count > max_words:
            units.extend((piece, _word_count(text, piece)) for piece in _split_long(text, span, max_words))
        else:
            units.append((span, count))
    chunks: list[ChunkSpan] = []
    first = 0
    while first < len(units):
        last, words = first, units[first][1]
        while last + 1 < len(units) and words + units[last + 1][1] <= target_words:
            last += 1
            words += units[last][1]
        sentences = tuple(span for span, _ in units[first : last + 1])
        chunks.append(ChunkSpan(sentences[0][0], sentences[-1][1], sentences))
        if last + 1 >= len(units):
            break
        # one sentence of overlap, when it fits beside the next sentence and the chunk moves forward
        overlap = last > first and units[last][1] + units[last + 1][1] <= target_words
        first = last if overlap else last + 1
    return chunks
