"""Extractive answers: the sentences the learned scorer finds most likely to answer, cited verbatim, or an honest
abstention when no sentence is likely enough (see README, "Extractive composer")."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from qa_app.claims import asked_values, cite, differ_comparably, name_key, question_names
from qa_app.config import Settings
from qa_app.embedder import Embedder
from qa_app.reader import READ, AnswerJudge, packaged_judge
from qa_app.records import CONFLICT, Answer, Citation, Note, Passage, Query, Span
from qa_app.scorer import DATE, NAME, NUMBER, SentenceView, expected_shape, is_caption
from qa_app.spelling import spelled_out

NOT_ANSWERED = "The indexed articles do not answer this question. The closest passages are listed below."
FOLLOW_SHARE = 0.5  # a further quote needs at least this share of the best sentence's probability
REDUNDANT = 0.9  # cosine above which a sentence repeats one already chosen
SAME_FACT = 0.6  # cosine above which a sentence from another article speaks of the same event
SAME_STORY = 0.3  # cosine above which another article's likely answer may contradict the best one (chosen on dev)
OTHER_READ = 4  # sentences the reader reads of each other article when looking for a contradicting answer
OTHER_LIKELY = 0.5  # share of the abstention threshold another article's contradicting answer must reach
_WORD = re.compile(r"[\w'’-]+")
_TIMELINE = re.compile(r"\b(when|latest|first|last|recent(ly)?|timeline|before|after|since|earlier|later)\b", re.I)

Conflict = tuple["Candidate", "Candidate"]  # the best sentence and a likely answer that contradicts it
# (doc ids) -> (sentence vectors by (doc_id, start, end), title vectors by doc_id), as stored at index time
StoredVectors = Callable[[Sequence[str]], tuple[dict[tuple[str, int, int], np.ndarray], dict[str, np.ndarray]]]


@dataclass(frozen=True, eq=False)
class Candidate:
    """One sentence of a retrieved passage and the probability that it answers the question."""

    passage: Passage
    start: int
    end: int
    text: str
    vector: np.ndarray
    probability: float


def _sentences(passages: Sequence[Passage]) -> list[tuple[Passage, int, Span, str]]:
    """Each distinct sentence of the passages, with the passage (and its rank) it came from."""
    seen: set[tuple[str, int, int]] = set()
    found = []
    for rank, passage in enumerate(passages):
        for start, end in passage.sentences:
            key = (passage.doc_id, start, end)
            if key not in seen:
                seen.add(key)
                found.append((passage, rank, (start, end), passage.text[start - passage.start : end - passage.start]))
    return found


class Composer:
    """Scores the retrieved sentences with the answer scorer and composes a cited answer from the best ones."""

    def __init__(
        self,
        embedder: Embedder,
        stored: StoredVectors | None = None,
        min_score: float = Settings.min_answer_score,
        max_sentences: int = Settings.max_answer_sentences,
        judge: AnswerJudge | None = None,
        reader: bool = Settings.answer_reader,
        sentence_vectors_from: str = Settings.sentence_vectors_from,
    ) -> None:
        self.embedder = embedder
        self.stored = stored
        self._min_score = min_score
        self.max_sentences = max_sentences
        self._judge = judge
        self._reader = reader
        self._sentence_vectors_from = sentence_vectors_from  # the judge is the one trained on such vectors

    @property
    def judge(self) -> AnswerJudge:
        """The answer judge: the packaged scorer for the index's sentence vectors, and the packaged reader unless
        turned off (unless given)."""
        if self._judge is None:
            self._judge = packaged_judge(self._reader, self._sentence_vectors_from)
        return self._judge

    @property
    def min_score(self) -> float:
        """The abstention threshold: the setting, or the judge's calibrated operating point when it is negative."""
        return self._min_score if self._min_score >= 0 else self.judge.threshold

    def warm_up(self) -> None:
        """Load the scorer and the reader now rather than at the first question."""
        if self.judge.reader is not None:
            self.judge.reader.load_now()

    def stored_vectors(self, passages: Sequence[Passage]) -> dict:
        """Sentence vectors by (doc_id, start, end) and title vectors by doc_id of the passages' articles, as stored
        at index time ({} without a store)."""
        if self.stored is None or not passages:
            return {}
        sentence_vectors, title_vectors = self.stored(sorted({p.doc_id for p in passages}))
        return {**sentence_vectors, **title_vectors}

    def _vectors(
        self, sentences: list[tuple[Passage, int, Span, str]], titles: list[tuple[str, str]], known: dict
    ) -> np.ndarray:
        """Sentence vectors then title vectors: from `known` (see `stored_vectors`) when there, else embedded now."""
        keys = [(p.doc_id, start, end) for p, _, (start, end), _ in sentences] + [doc_id for doc_id, _ in titles]
        texts = [text for _, _, _, text in sentences] + [title for _, title in titles]
        missing = [i for i, key in enumerate(keys) if key not in known]
        fresh = dict(zip(missing, self.embedder.embed([texts[i] for i in missing]), strict=True)) if missing else {}
        return np.vstack([fresh[i] if i in fresh else known[key] for i, key in enumerate(keys)])

    def views(
        self, query: Query, passages: Sequence[Passage], known: dict | None = None
    ) -> tuple[list[tuple[Passage, Span, str]], list]:
        """The distinct sentences of the passages, and what the scorer reads of each (`SentenceView`).

        `known` holds vectors already read by `stored_vectors` for these passages; without it they are read now.
        """
        sentences = _sentences(passages)
        if not sentences:
            return [], []
        titles = sorted({(p.doc_id, p.title) for p in passages})
        embedded = self._vectors(sentences, titles, self.stored_vectors(passages) if known is None else known)
        title_vectors = {doc_id: v for (doc_id, _), v in zip(titles, embedded[len(sentences) :], strict=True)}
        index = {(p.doc_id, start, end): i for i, (p, _, (start, end), _) in enumerate(sentences)}
        positions = {id(p): {span: k for k, span in enumerate(p.sentences)} for p in passages}
        views = []
        for i, (passage, rank, (start, end), text) in enumerate(sentences):
            spans, at = passage.sentences, positions[id(passage)][(start, end)]
            near = [spans[j] for j in (at - 1, at + 1) if 0 <= j < len(spans)]
            neighbours = tuple(index[(passage.doc_id, s, e)] for s, e in near if (passage.doc_id, s, e) in index)
            views.append(SentenceView(text, embedded[i], title_vectors.get(passage.doc_id), passage.title, start,
                                      rank, neighbours))  # fmt: skip
        return [(p, span, text) for p, _, span, text in sentences], views

    def candidates(self, query: Query, passages: Sequence[Passage], known: dict | None = None) -> list[Candidate]:
        """Every sentence of the passages, most likely answer first (`known`: see `views`)."""
        sentences, views = self.views(query, passages, known)
        if not sentences:
            return []
        probabilities = self.judge.probabilities(query.terms_text, query.vector, views, _captions(views))
        return _ranked(sentences, views, probabilities)

    def _other_answers(
        self, query: Query, passages: Sequence[Passage], best: Candidate, names: set[str], known: dict
    ) -> list[Candidate]:
        """The likely answers of each other article that could contradict `best`, scored among that article's own
        sentences: of the OTHER_READ the reader read, those that give a value of the asked kind and whose answer
        probability reaches OTHER_LIKELY of the threshold (all of it for a name), most likely first. Articles of
        another story (missing one of `names`), or whose top sentences give no such value, are not read.

        The scorer learned from questions with one answering sentence, so beside the best one a second article's
        answer scores low; asked of its own article alone, it scores as an answer if it is one.
        """
        question = query.terms_text
        groups = []
        for doc_id in dict.fromkeys(p.doc_id for p in passages if p.doc_id != best.passage.doc_id):
            own = [p for p in passages if p.doc_id == doc_id]
            if not any(names <= _words(p) for p in own):
                continue  # another story (see `_conflict`): not worth reading
            sentences, views = self.views(query, own, known)
            if sentences:
                groups.append((sentences, views))

        def gives_a_value(views: Sequence[SentenceView], top: list[int]) -> bool:
            return any(asked_values(question, views[i].text) for i in top)  # else no sentence read could contradict

        scored = self.judge.probabilities_of_groups(
            question, query.vector, [(views, _captions(views)) for _, views in groups], OTHER_READ, gives_a_value
        )  # one reader call for every other article worth reading
        # a sentence of the story names many people and bodies: a contradicting name must be as likely as an answer
        bar = self.min_score if expected_shape(question) is NAME else OTHER_LIKELY * self.min_score
        found = []
        for (sentences, views), probabilities in zip(groups, scored, strict=True):
            if probabilities is not None:
                ranked = _ranked(sentences, views, probabilities)[:OTHER_READ]
                found += [c for c in ranked if self.judge.answer_probability(c.probability) >= bar
                          and asked_values(question, c.text)]  # fmt: skip
        return found

    def _value_first(self, question: str, ranked: list[Candidate]) -> list[Candidate]:
        """`ranked` with a likely answer that gives the number or date asked for first, when the best sentence gives
        none: "How much did the hospital spend on its stroke unit?" is answered by "The 24-bed unit cost $16.5
        million…", not by the report's lead that the reader found likelier. Only a likely sentence the reader read
        (the top READ) is moved."""
        if expected_shape(question) not in (NUMBER, DATE) or asked_values(question, ranked[0].text):
            return ranked
        for i, candidate in enumerate(ranked[1:READ], 1):
            if self.judge.answer_probability(candidate.probability) < self.min_score:
                break
            if asked_values(question, candidate.text):
                return [candidate, *ranked[:i], *ranked[i + 1 :]]
        return ranked

    def _reference(self, question: str, ranked: list[Candidate]) -> Candidate | None:
        """The sentence whose value a contradiction is checked against: the best one, or when it gives no value of
        the asked kind the most likely answer of its article that does (a "how many" question's best sentence may
        be a sum of money)."""
        best = ranked[0]
        for candidate in ranked:
            if self.judge.answer_probability(candidate.probability) < self.min_score:
                return None
            if candidate.passage.doc_id == best.passage.doc_id and asked_values(question, candidate.text):
                return candidate
        return None

    def _select(
        self, query: Query, passages: Sequence[Passage], ranked: list[Candidate], known: dict
    ) -> tuple[list[Candidate], Conflict | None]:
        """The best sentence, then likely answers that add a distinct fact about the same event; and a conflict."""
        question = query.terms_text
        best = ranked[0]
        chosen = [best]
        likely = [c for c in ranked[1:] if self.judge.answer_probability(c.probability) >= self.min_score]
        for candidate in likely:
            if len(chosen) == self.max_sentences or candidate.probability < FOLLOW_SHARE * best.probability:
                break
            if any(_overlaps(candidate, c) or float(candidate.vector @ c.vector) >= REDUNDANT for c in chosen):
                continue
            if candidate.passage.doc_id != best.passage.doc_id and float(candidate.vector @ best.vector) < SAME_FACT:
                continue  # another story
            chosen.append(candidate)
        reference = self._reference(question, ranked)
        if reference is None:
            return chosen, None
        names = question_names(question) & _words(reference.passage)  # what makes another article the same story
        others = self._other_answers(query, passages, reference, names, known)
        conflict = _conflict(question, reference, names, others, passages)
        if conflict is None:
            return chosen, None
        cited = [c for c in (reference, conflict) if not any(_overlaps(c, other) for other in chosen)]
        chosen = [*chosen[: self.max_sentences - len(cited)], *cited]
        return chosen, (reference, conflict)

    def compose(self, query: Query, passages: Sequence[Passage], check: Callable[[Citation], bool]) -> Answer:
        """An answer whose every sentence is a quote with a `[n]` marker, or an abstention."""
        known = self.stored_vectors(passages)  # read once: the per-article conflict check scores them again
        ranked = self.candidates(query, passages, known)
        best = self.judge.answer_probability(ranked[0].probability) if ranked else 0.0
        if best < self.min_score:
            return Answer(query.question, NOT_ANSWERED, False, (), tuple(passages), score=best,
                          searched_for=_searched_for(query, passages))  # fmt: skip
        chosen, conflict = self._select(query, passages, self._value_first(query.terms_text, ranked), known)
        if _TIMELINE.search(query.question) and all(c.passage.published_at for c in chosen):
            chosen[1:] = sorted(chosen[1:], key=lambda c: c.passage.published_at)  # the best answer stays first
        citations = []
        for n, (passage, start, end, text, score) in enumerate(_merge_adjacent(chosen), 1):
            citations.append(cite(n, passage, start, end, text, check, round(score, 4)))
        notes = (Note(CONFLICT, _conflict_note(query.terms_text, *conflict, citations)),) if conflict else ()
        text = " ".join([f"{c.quote} [{c.n}]" for c in citations] + [note.text for note in notes])
        return Answer(query.question, text, True, tuple(citations), tuple(passages), notes, best,
                      searched_for=_searched_for(query, passages))  # fmt: skip


def _ranked(sentences: list[tuple[Passage, Span, str]], views: list, probabilities: np.ndarray) -> list[Candidate]:
    found = [
        Candidate(p, start, end, text, view.vector, float(prob))
        for (p, (start, end), text), view, prob in zip(sentences, views, probabilities, strict=True)
    ]
    return sorted(found, key=lambda c: -c.probability)


def _captions(views: Sequence[SentenceView]) -> np.ndarray:
    """Which sentences are photo captions (never quoted, never read)."""
    return np.array([_caption(i, views) for i in range(len(views))], dtype=bool)


def _caption(i: int, views: Sequence[SentenceView]) -> bool:
    after = [views[j].text for j in views[i].neighbours if views[j].start > views[i].start]
    return is_caption(views[i].text, after[0] if after else "")


def _searched_for(query: Query, passages: Sequence[Passage]) -> str | None:
    return spelled_out(query.question, list(query.corrections), [p.text for p in passages])


def _overlaps(a: Candidate, b: Candidate) -> bool:
    return a.passage.doc_id == b.passage.doc_id and a.start < b.end and b.start < a.end


def _conflict(
    question: str, best: Candidate, names: set[str], others: Sequence[Candidate], passages: Sequence[Passage]
) -> Candidate | None:
    """A likely answer from another article about the same story that gives a different value for what was asked
    than `best` (the reference sentence, see `_reference`).

    Same story: the other's passage holds `names`, what the question names that the best one's article does (two
    fires in two towns are two stories), and the two sentences are alike (`SAME_STORY`). Different value: the two
    give no value in common but two of one kind and scale (`differ_comparably`: 9,120 votes and a 312-vote margin
    are two things), and each gives one that the other's article (its retrieved passages) does not mention at all;
    a value both articles mention is not what they disagree on (the 18,000 jobs of one report beside the other's
    11 days).
    """
    mine = asked_values(question, best.text)
    for other in others:  # each from another article than best's, most likely first within its article
        if not names <= _words(other.passage) or float(other.vector @ best.vector) < SAME_STORY:
            continue
        theirs = asked_values(question, other.text)
        if (
            not (mine & theirs)
            and differ_comparably(question, mine, theirs)
            and _unsaid(theirs, best, passages)
            and _unsaid(mine, other, passages)
        ):
            return other
    return None


def _unsaid(values: set[str], candidate: Candidate, passages: Sequence[Passage]) -> bool:
    """Whether one of `values` appears nowhere in the retrieved passages of `candidate`'s article."""
    text = " ".join(p.text for p in passages if p.doc_id == candidate.passage.doc_id)
    return any(value not in text for value in values)


def _words(passage: Passage) -> set[str]:
    """The words of a passage and its title, as `question_names` gives them (`name_key`)."""
    return {name_key(word) for word in _WORD.findall(f"{passage.title}\n{passage.text}")}


def _merge_adjacent(chosen: list[Candidate]) -> list[tuple[Passage, int, int, str, float]]:
    """Join sentences that follow each other in one paragraph of one passage into a single quote."""
    quotes: list[tuple[Passage, int, int, str, float]] = []
    for c in chosen:
        if quotes and _follows(quotes[-1][0], quotes[-1][2], c):
            passage, start, _, _, score = quotes[-1]
            text = passage.text[start - passage.start : c.end - passage.start]
            quotes[-1] = (passage, start, c.end, text, max(score, c.probability))
        else:
            quotes.append((c.passage, c.start, c.end, c.text, c.probability))
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


def _conflict_note(question: str, first: Candidate, second: Candidate, citations: Sequence[Citation]) -> str:
    def marker(c: Candidate) -> str:
        n = next(x.n for x in citations if x.doc_id == c.passage.doc_id and x.start <= c.start and c.end <= x.end)
        values = ", ".join(sorted(asked_values(question, c.text)))
        return f"{c.passage.title} ({c.passage.published_at or 'undated'}) [{n}] gives {values}"

    return f"Note: the sources differ on this: {marker(first)}; {marker(second)}."
