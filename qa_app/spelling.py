"""Typo tolerance: question words the index has never seen are matched to close terms of its vocabulary.

The vocabulary is BM25's (stemmed, lower-cased terms with their chunk counts); closeness is the optimal string
alignment distance from rapidfuzz (a swap of two letters counts one), after accents are folded on both sides.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from rapidfuzz import process
from rapidfuzz.distance import OSA

from qa_app.config import DEFAULT_MODEL
from qa_app.embedder import resolve_model_path
from qa_app.lexical import terms, tokenize
from qa_app.records import Correction
from qa_app.scorer import fold

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")  # words with their digits: "zephyr20" is one token, left alone
MIN_LENGTH = 4  # shorter words are too often right words the index lacks ("wat" is left alone)


@lru_cache(maxsize=1)
def english_words() -> frozenset[str]:
    """Whole words of the packaged MiniLM's WordPiece vocabulary: ~20k common English words and names.

    A question word found here is a real word the index happens to lack ("went", "abstain"), not a typo.
    """
    path = Path(resolve_model_path(DEFAULT_MODEL)) / "vocab.txt"
    try:
        tokens = path.read_text(encoding="utf-8").split()
    except OSError:
        return frozenset()
    return frozenset(t for t in tokens if t.isalpha() and not t.startswith("##"))


def max_distance(term: str) -> int:
    """Edits allowed for a term: one up to 5 letters, two from 6."""
    return 1 if len(term) <= 5 else 2


class Speller:
    """Corrects question words against an index vocabulary."""

    def __init__(self, vocabulary: dict[str, int], known_words: frozenset[str] | None = None) -> None:
        self.vocabulary = vocabulary
        self.known_words = english_words() if known_words is None else known_words
        folded: dict[str, str] = {}
        for term in sorted(vocabulary, key=lambda t: -vocabulary[t]):
            folded.setdefault(fold(term), term)  # the most frequent spelling of a folded form wins
        self._folded = folded
        self._choices = list(folded)

    def corrections(self, question: str) -> list[Correction]:
        """The words of `question` that are not in the vocabulary, each with its closest term (when one is close)."""
        found = []
        for word in dict.fromkeys(_WORD.findall(question)):
            stems = terms(word)
            if len(word) < MIN_LENGTH or len(stems) != 1 or any(c.isdigit() for c in word):  # short, stop word, code
                continue
            stem = stems[0]
            if stem in self.vocabulary:
                continue
            if fold(stem) in self._folded:  # an accent variant of an indexed term
                found.append(Correction(word, self._folded[fold(stem)]))
                continue
            term = None if fold(word).lower() in self.known_words else self._closest(fold(stem))
            if term is not None:
                found.append(Correction(word, term))
        return found

    def _closest(self, folded_stem: str) -> str | None:
        limit = max_distance(folded_stem)
        matches = process.extract(folded_stem, self._choices, scorer=OSA.distance, score_cutoff=limit, limit=20)
        if not matches:
            return None
        best = min(matches, key=lambda m: (m[1], -self.vocabulary[self._folded[m[0]]]))
        return self._folded[best[0]]


def _replaced(question: str, replacements: dict[str, str]) -> str:
    """The question with each whole word of `replacements` replaced."""
    for word, replacement in replacements.items():
        question = re.sub(rf"\b{re.escape(word)}\b", replacement, question)
    return question


def corrected_text(question: str, corrections: list[Correction]) -> str:
    """The question with each corrected word replaced by its term."""
    return _replaced(question, {c.word: c.term for c in corrections})


def spelled_out(question: str, corrections: list[Correction], texts: list[str]) -> str | None:
    """The corrected question in words a reader knows: each term as a word of `texts` that stems to it."""
    if not corrections:
        return None
    words = list(dict.fromkeys(w for text in texts for w in _WORD.findall(text)))
    surface: dict[str, str] = {}
    for word, stems in zip(words, tokenize(words), strict=True):
        if len(stems) == 1:
            surface.setdefault(stems[0], word)  # the first word of the texts that stems to the term
    return _replaced(question, {c.word: surface.get(c.term, c.term) for c in corrections})
