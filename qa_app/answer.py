"""Extractive answers: the best sentences of the retrieved passages, each cited verbatim, or an honest abstention."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from qa_app.embedder import Embedder
from qa_app.errors import QAError
from qa_app.lexical import terms
from qa_app.records import Answer, Citation, Passage, Span, page_at
from qa_app.retrieval import Query

NOT_ANSWERED = "The indexed articles do not answer this question. The closest passages are listed below."
LEXICAL_WEIGHT = 0.2  # weight of question-term coverage beside cosine similarity in a sentence's evidence
HEADLINE_PENALTY = 0.3  # ranking only: prefer sentences that add detail beyond restating the article's title
SELECT_MARGIN = 0.12  # sentences scoring within this of the best one join the answer
REDUNDANT = 0.9  # cosine above which a sentence repeats one already chosen
SAME_FACT = 0.6  # cosine above which two sentences from different articles speak of the same thing
_TIMELINE = re.compile(r"\b(when|latest|first|last|recent(ly)?|timeline|before|after|since|earlier|later)\b", re.I)
_NUMBER = re.compile(r"\d[\d,.]*\d|\d")
_NAMED = re.compile(r"(?<!^)(?<![.?!] )\b([A-Z][\w'’-]+|\d{2,})")  # capitalised words (not first) and numbers
_NAME_SUFFIXES = {"based", "born", "led", "owned", "run"}  # "Monterrey-based" names Monterrey
ANSWER_TYPE_BONUS = 0.1  # a sentence holding the kind of thing asked for (a number for "how many"...)
_EXPECTS = (
    (re.compile(r"\b(how (many|much|long|far|old)|what (percentage|share|number|amount))\b", re.I), _NUMBER),
    (re.compile(r"\b(when|what (date|day|year|time))\b", re.I),
     re.compile(r"\b(\d{4}|Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec|Monday|Tuesday|Wednesday|Thursday"
                r"|Friday|Saturday|Sunday|yesterday|today|last (week|month|year))", re.I)),
    (re.compile(r"\bwho\b", re.I), re.compile(r"\b[A-Z][a-z]+ [A-Z][a-z]+")),
)  # fmt: skip
_DATE = re.compile(r"\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.? \d{1,2}\b")


# (doc ids) -> (sentence vectors by (doc_id, start, end), title vectors by doc_id), as stored at index time
StoredVectors = Callable[[Sequence[str]], tuple[dict[tuple[str, int, int], np.ndarray], dict[str, np.ndarray]]]


@dataclass(frozen=True)
class Candidate:
    """One sentence of a retrieved passage, with its score."""

    passage: Passage
    start: int
    end: int
    text: str
    evidence: float  # how well the sentence matches the question (decides abstention)
    score: float  # evidence minus the headline penalty (decides which sentences are quoted)
    vector: np.ndarray


def _sentences(passages: Sequence[Passage]) -> list[tuple[Passage, Span, str]]:
    """Each distinct sentence of the passages, with the passage it came from."""
    seen: set[tuple[str, int, int]] = set()
    found = []
    for passage in passages:
        for start, end in passage.sentences:
            key = (passage.doc_id, start, end)
            if key not in seen:
                seen.add(key)
                found.append((passage, (start, end), passage.text[start - passage.start : end - passage.start]))
    return found


def _facts(text: str) -> set[str]:
    """Numbers and month-day dates of a sentence, to spot articles that disagree."""
    return {m.group().rstrip(".,") for m in _NUMBER.finditer(text)} | {m.group() for m in _DATE.finditer(text)}


class Composer:
    """Scores sentences against the question and composes a cited answer from the best ones."""

    def __init__(
        self, embedder: Embedder, stored: StoredVectors | None = None, min_score: float = 0.45, max_sentences: int = 4
    ) -> None:
        self.embedder = embedder
        self.stored = stored
        self.min_score = min_score
        self.max_sentences = max_sentences

    def _vectors(self, sentences: list[tuple[Passage, Span, str]], titles: list[tuple[str, str]]) -> np.ndarray:
        """Sentence vectors then title vectors: stored at index time when available, else embedded now."""
        keys = [(p.doc_id, start, end) for p, (start, end), _ in sentences] + [doc_id for doc_id, _ in titles]
        known: dict = {}
        if self.stored is not None:
            sentence_vectors, title_vectors = self.stored(sorted({p.doc_id for p, _, _ in sentences}))
            known = {**sentence_vectors, **title_vectors}
        texts = [text for _, _, text in sentences] + [title for _, title in titles]
        missing = [i for i, key in enumerate(keys) if key not in known]
        fresh = dict(zip(missing, self.embedder.embed([texts[i] for i in missing]), strict=True)) if missing else {}
        return np.vstack([fresh[i] if i in fresh else known[key] for i, key in enumerate(keys)])

    def candidates(self, query: Query, passages: Sequence[Passage]) -> list[Candidate]:
        """Every sentence of the passages, best first (see README, "Extractive composer")."""
        sentences = _sentences(passages)
        if not sentences:
            return []
        titles = sorted({(p.doc_id, p.title) for p in passages})
        embedded = self._vectors(sentences, titles)
        vectors = embedded[: len(sentences)]
        title_vectors = {doc_id: v for (doc_id, _), v in zip(titles, embedded[len(sentences) :], strict=True)}
        cosine = vectors @ query.vector
        question_terms = set(terms(query.question))
        expected = [shape for asks, shape in _EXPECTS if asks.search(query.question)]
        scored = []
        for (passage, (start, end), text), vector, cos in zip(sentences, vectors, cosine, strict=True):
            coverage = len(question_terms & set(terms(text))) / len(question_terms) if question_terms else 0.0
            bonus = ANSWER_TYPE_BONUS if any(shape.search(text) for shape in expected) else 0.0
            evidence = float(cos) + LEXICAL_WEIGHT * coverage + bonus
            headline = HEADLINE_PENALTY * float(vector @ title_vectors[passage.doc_id])
            scored.append(Candidate(passage, start, end, text, evidence, evidence - headline, vector))
        return sorted(scored, key=lambda c: -c.score)

    def _select(self, ranked: list[Candidate]) -> tuple[list[Candidate], list[tuple[Candidate, Candidate]]]:
        """The best non-redundant sentences, plus pairs of close sentences whose figures differ."""
        best = ranked[0].score
        chosen: list[Candidate] = []
        for candidate in ranked:
            if len(chosen) == self.max_sentences or candidate.score < best - SELECT_MARGIN:
                break
            if candidate.evidence < self.min_score:
                continue
            if all(float(candidate.vector @ c.vector) < REDUNDANT for c in chosen):
                chosen.append(candidate)
        conflicts = []
        for candidate in ranked[: 3 * self.max_sentences]:
            if candidate.evidence < self.min_score:
                continue
            for other in chosen:
                pair = {other.passage.doc_id, candidate.passage.doc_id}
                if len(pair) == 1 or any({a.passage.doc_id, b.passage.doc_id} == pair for a, b in conflicts):
                    continue
                if float(other.vector @ candidate.vector) < SAME_FACT:
                    continue
                mine, theirs = _facts(candidate.text), _facts(other.text)
                if mine and theirs and mine != theirs and not (mine & theirs):
                    conflicts.append((other, candidate))
                    break
        for _, candidate in conflicts:
            if candidate not in chosen:
                chosen.append(candidate)
        return chosen, conflicts

    def compose(self, query: Query, passages: Sequence[Passage], check: Callable[[Citation], bool]) -> Answer:
        """An answer whose every sentence is a quote with a `[n]` marker, or an abstention."""
        ranked = self.candidates(query, passages)
        best = max((c.evidence for c in ranked), default=0.0)
        chosen, conflicts = self._select(ranked) if best >= self.min_score else ([], [])
        if not chosen or _missing_name(query.question, passages):
            return Answer(query.question, NOT_ANSWERED, False, (), tuple(passages), score=best)
        if _TIMELINE.search(query.question):
            chosen.sort(key=lambda c: (c.passage.published_at or "9999", c.passage.doc_id, c.start))
        quotes = _merge_adjacent(chosen)
        citations = []
        for n, (passage, start, end, text) in enumerate(quotes, 1):
            citation = Citation(n, passage.doc_id, passage.title, passage.source, passage.published_at, start, end,
                                text, page_at(passage.page_starts, start))  # fmt: skip
            if not check(citation):
                raise QAError(f"internal error: citation [{n}] does not match its article text; run `qa-app check`")
            citations.append(citation)
        lines = [f"{c.quote} [{c.n}]" for c in citations]
        notes = tuple(_conflict_note(a, b, citations) for a, b in conflicts)
        text = " ".join(lines + list(notes))
        return Answer(query.question, text, True, tuple(citations), tuple(passages), notes, best)


def _merge_adjacent(chosen: list[Candidate]) -> list[tuple[Passage, int, int, str]]:
    """Join sentences that follow each other in one paragraph of one passage into a single quote."""
    quotes: list[tuple[Passage, int, int, str]] = []
    for c in chosen:
        if quotes and _follows(quotes[-1][0], quotes[-1][2], c):
            passage, start = quotes[-1][0], quotes[-1][1]
            quotes[-1] = (passage, start, c.end, passage.text[start - passage.start : c.end - passage.start])
        else:
            quotes.append((c.passage, c.start, c.end, c.text))
    return quotes


def _follows(passage: Passage, end: int, candidate: Candidate) -> bool:
    """Whether `candidate` is the next sentence after offset `end` in the same paragraph of `passage`."""
    if candidate.passage.chunk_id != passage.chunk_id or candidate.start < end:
        return False
    gap = passage.text[end - passage.start : candidate.start - passage.start]
    return "\n" not in gap and _next_sentence(passage, end) == candidate.start


def _next_sentence(passage: Passage, end: int) -> int | None:
    starts = [s for s, _ in passage.sentences if s >= end]
    return min(starts) if starts else None


def _conflict_note(first: Candidate, second: Candidate, citations: Sequence[Citation]) -> str:
    def marker(c: Candidate) -> str:
        n = next(x.n for x in citations if x.doc_id == c.passage.doc_id and x.start <= c.start and c.end <= x.end)
        return f"{c.passage.title} ({c.passage.published_at or 'undated'}) [{n}]"

    return f"Note: the sources differ on this — compare {marker(first)} with {marker(second)}."


def _missing_name(question: str, passages: Sequence[Passage]) -> bool:
    """Whether the question names someone or something (or a number) that no retrieved passage mentions."""
    found = " ".join(f"{p.title} {p.text}" for p in passages).lower()
    names = (re.sub(r"['’]s?$", "", name).lower() for name in _NAMED.findall(question.strip()))
    return any(part not in found for name in names for part in name.split("-") if part not in _NAME_SUFFIXES)
