from __future__ import annotations

import itertools
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from qa_app.chunking import chunk_text, sentence_spans
from tests.conftest import CORPUS

SEED = (CORPUS / "sheinbaum-rejects-us-troops.md").read_text(encoding="utf-8")


def _words(text: str) -> int:
    return len(text.split())


def test_sentence_spans_point_at_the_sentences():
    text = "Dr. Smith arrived at 9 a.m. on Monday. She left.\nA new line starts here! Does it?"
    spans = sentence_spans(text)
    assert [text[s:e] for s, e in spans] == [
        "Dr. Smith arrived at 9 a.m. on Monday.",
        "She left.",
        "A new line starts here!",
        "Does it?",
    ]


def test_chunks_round_trip_and_end_on_sentence_boundaries():
    chunks = chunk_text(SEED, target_words=80, max_words=150)
    assert len(chunks) > 3
    ends = {e for s, e in sentence_spans(SEED)}
    starts = {s for s, e in sentence_spans(SEED)}
    for chunk in chunks:
        assert chunk.end in ends and chunk.start in starts
        assert (chunk.start, chunk.end) == (chunk.sentences[0][0], chunk.sentences[-1][1])
        assert all(chunk.start <= s < e <= chunk.end for s, e in chunk.sentences)
        assert _words(SEED[chunk.start : chunk.end]) <= 150


def test_neighbouring_chunks_share_one_sentence():
    chunks = chunk_text(SEED, target_words=80, max_words=150)
    shared = [a.sentences[-1] == b.sentences[0] for a, b in itertools.pairwise(chunks)]
    assert sum(shared) >= len(shared) // 2
    covered = {span for chunk in chunks for span in chunk.sentences}
    assert covered == set(sentence_spans(SEED))  # nothing lost


def test_a_sentence_longer_than_the_limit_is_cut_at_word_boundaries():
    text = " ".join(f"word{i}" for i in range(700)) + "."
    chunks = chunk_text(text, target_words=200, max_words=300)
    assert [_words(text[c.start : c.end]) for c in chunks] == [300, 300, 100]
    assert all(re.fullmatch(r"\S.*\S", text[c.start : c.end]) for c in chunks)


def test_empty_text_has_no_chunks():
    assert chunk_text("   \n\n ") == []


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(min_size=0, max_size=80), min_size=0, max_size=40), st.integers(10, 60))
def test_property_offsets_round_trip_on_random_text(pieces: list[str], target: int):
    text = "\n".join(pieces)
    chunks = chunk_text(text, target_words=target, max_words=target * 2)
    for chunk in chunks:
        piece = text[chunk.start : chunk.end]
        assert piece == piece.strip() and piece
        assert _words(piece) <= target * 2 or len(chunk.sentences) == 1
        for s, e in chunk.sentences:
            assert text[s:e].strip() == text[s:e]
    covered = {span for chunk in chunks for span in chunk.sentences}
    assert covered == set(sentence_spans(text))
