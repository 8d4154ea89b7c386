"""Checks a generated answer sentence by sentence against the passages it cites, and narrows each citation.

A sentence is supported when (1) it carries `[n]` markers, all of them numbers of passages that were given,
(2) at least one cited passage holds a sentence (or two adjacent ones) whose stored vector is close to it
(cosine >= `llm_min_support`), and (3) every number and capitalised name it contains appears in a supporting
passage (text, title, source or date). Each supporting passage is then narrowed to its best verbatim span,
checked like every extractive citation (`document.text[start:end] == quote`). See README, "Generative answers".
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from qa_app.answer import Composer
from qa_app.chunking import sentence_spans
from qa_app.claims import cite, facts, known
from qa_app.generative import NO_ANSWER
from qa_app.records import AnswerSentence, Citation, Passage, Query

_MARKER = re.compile(r"\s*\[(\d+(?:\s*,\s*\d+)*)\]")
_LEADING_MARKERS = re.compile(r"^(?:\s*\[\d+(?:\s*,\s*\d+)*\])+")
# sentences of an article that talk to the model are an injection attempt, never support for a claim
_INSTRUCTION = re.compile(r"\b(ignore|disregard|forget|override)\b[^.]{0,60}\b(instructions?|prompts?|rules)\b"
                          r"|\bsystem prompt\b|</?article\b", re.I)  # fmt: skip
NAME_BONUS = 0.2  # narrowing: share of the sentence's names and numbers a span holds, beside its cosine
MIN_NEXT_WORDS = 2  # a sentence is final once the next one has this many words (its markers are all in)


def split_markers(text: str) -> tuple[str, tuple[int, ...]]:
    """The sentence without its `[n]` markers, and the numbers they hold in order of appearance."""
    numbers: list[int] = []
    for match in _MARKER.finditer(text):
        numbers += [int(n) for n in re.findall(r"\d+", match.group(1)) if int(n) not in numbers]
    clean = re.sub(r"\s+([.,;:!?])", r"\1", _MARKER.sub("", text))
    return " ".join(clean.split()), tuple(numbers)


def _pieces(text: str) -> list[tuple[int, int]]:
    """Sentence spans where markers written after the full stop ("... troops. [2]") join their sentence."""
    pieces: list[list[int]] = []
    for start, end in sentence_spans(text):
        lead = _LEADING_MARKERS.match(text[start:end])
        if lead and pieces:
            pieces[-1][1] = start + lead.end()
            start += lead.end()
        if text[start:end].strip():
            pieces.append([start, end])
    return [(start, end) for start, end in pieces]


class SentenceBuffer:
    """Turns streamed text into complete sentences; a sentence is final once the next one has begun."""

    def __init__(self) -> None:
        self._text = ""
        self._done = 0  # text before this offset has been handed out and is never segmented again

    def feed(self, delta: str) -> list[str]:
        self._text += delta
        return self._take(final=False)

    def close(self) -> list[str]:
        return self._take(final=True)

    def _take(self, final: bool) -> list[str]:
        rest = self._text[self._done :]
        pieces = _pieces(rest)
        if not final:
            pieces = [p for i, p in enumerate(pieces[:-1]) if _words(rest[pieces[i + 1][0] :]) >= MIN_NEXT_WORDS]
        if pieces:
            self._done += pieces[-1][1]
        return [rest[start:end] for start, end in pieces]


def _words(text: str) -> int:
    """Complete words of streamed text, markers aside (the last word may still be growing)."""
    words = len(split_markers(text)[0].split())
    return words if text[-1:].isspace() else words - 1


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    vector: np.ndarray
    facts: frozenset[str]


class SupportChecker:
    """Checks one generated sentence at a time against the numbered passages, numbering citations as they come."""

    def __init__(
        self, composer: Composer, query: Query, passages: Sequence[Passage], check: Callable[[Citation], bool],
        min_support: float,
    ) -> None:  # fmt: skip
        self.composer, self.query, self.passages = composer, query, list(passages)
        self.check, self.min_support = check, min_support
        self.citations: list[Citation] = []
        self._spans: list[list[_Span]] | None = None
        self._vectors: dict[str, np.ndarray] = {}  # generated sentences embedded so far

    def _passage_spans(self) -> list[list[_Span]]:
        """Per passage: each sentence and each pair of adjacent sentences of a paragraph, with its vector."""
        if self._spans is None:
            vectors = {(c.passage.doc_id, c.start, c.end): c.vector
                       for c in self.composer.candidates(self.query, self.passages)}  # fmt: skip
            self._spans = []
            for p in self.passages:
                singles = [_Span(s, e, vectors[(p.doc_id, s, e)], frozenset(known(self._text(p, s, e))))
                           for s, e in p.sentences if (p.doc_id, s, e) in vectors
                           and not _INSTRUCTION.search(self._text(p, s, e))]  # fmt: skip
                pairs = [self._pair(p, a, b) for a, b in pairwise(singles)
                         if not _INSTRUCTION.search(self._text(p, a.end, b.start))
                         and "\n" not in self._text(p, a.end, b.start)]  # fmt: skip
                self._spans.append(singles + pairs)
        return self._spans

    @staticmethod
    def _text(p: Passage, start: int, end: int) -> str:
        return p.text[start - p.start : end - p.start]

    def _pair(self, p: Passage, a: _Span, b: _Span) -> _Span:
        vector = a.vector + b.vector
        return _Span(a.start, b.end, vector / (np.linalg.norm(vector) or 1.0), a.facts | b.facts)

    def check_sentence(self, raw: str) -> AnswerSentence | None:
        """The sentence with its narrowed citations, or marked unsupported with the reason; None when empty."""
        text, numbers = split_markers(html.unescape(raw))
        if not text:
            return None
        if is_refusal(text):
            return AnswerSentence(text, (), True, "says the articles do not answer")
        if not numbers:
            return AnswerSentence(text, (), False, "no [n] marker")
        invented = [n for n in numbers if not 1 <= n <= len(self.passages)]
        if invented:
            given = f"[1]–[{len(self.passages)}]" if len(self.passages) > 1 else "[1]"
            return AnswerSentence(text, (), False, f"cites [{invented[0]}], but only {given} were given")
        vector = self._embed(text)
        best = {n: self._similarity(vector, n) for n in numbers}
        supporting = [n for n in numbers if best[n] >= self.min_support and self._passage_spans()[n - 1]]
        if not supporting:
            top = max(best.values(), default=0.0)
            return AnswerSentence(text, (), False, f"too far from the cited passage (similarity {top:.2f} < "
                                                   f"{self.min_support:.2f})")  # fmt: skip
        stated = facts(text)
        found = set().union(*(known(self._context(self.passages[n - 1])) for n in supporting))
        missing = sorted(stated - found)
        if missing:
            shown = missing[0].lstrip("#")
            return AnswerSentence(text, (), False, f"“{shown}” is not in the cited passage")
        return AnswerSentence(text, tuple(self._cite(n, vector, stated) for n in supporting), True)

    def similarities(self, text: str) -> list[float]:
        """Cosine of `text` to the closest sentence (or pair of adjacent sentences) of each passage, in order."""
        vector = self._embed(text)
        return [self._similarity(vector, n) for n in range(1, len(self.passages) + 1)]

    def _embed(self, text: str) -> np.ndarray:
        if text not in self._vectors:
            self._vectors[text] = self.composer.embedder.embed([text])[0]
        return self._vectors[text]

    def _similarity(self, vector: np.ndarray, n: int) -> float:
        return max((float(span.vector @ vector) for span in self._passage_spans()[n - 1]), default=0.0)

    @staticmethod
    def _context(p: Passage) -> str:
        return f"{p.title}\n{p.source}\n{p.published_at or ''}\n{p.text}"

    def _cite(self, n: int, vector: np.ndarray, stated: set[str]) -> int:
        """The number of the citation holding passage n's best-supporting verbatim span (reused when repeated)."""
        p = self.passages[n - 1]

        def score(span: _Span) -> float:
            coverage = len(stated & span.facts) / len(stated) if stated else 0.0
            return float(span.vector @ vector) + NAME_BONUS * coverage

        span = max(self._passage_spans()[n - 1], key=score)
        for citation in self.citations:
            if (citation.doc_id, citation.start, citation.end) == (p.doc_id, span.start, span.end):
                return citation.n
        citation = cite(len(self.citations) + 1, p, span.start, span.end, self._text(p, span.start, span.end),
                        self.check)  # fmt: skip
        self.citations.append(citation)
        return citation.n


def is_refusal(text: str) -> bool:
    """Whether a sentence is the prompt's fixed answer for questions the articles do not answer."""
    return _normal_sentence(text) == _normal_sentence(NO_ANSWER)


def _normal_sentence(text: str) -> str:
    return " ".join(re.findall(r"[a-z]+", text.lower().replace("passages", "articles")))
