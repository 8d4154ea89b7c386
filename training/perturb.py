"""Questions that their answering sentence no longer answers: one detail of a SQuAD question changed.

SQuAD 2.0's adversarial questions look answerable from their paragraph but are not; a fifth of them swap an
entity and a few a number (Rajpurkar et al. 2018, "Know What You Don't Know", table 3). The reader never saw
such a question in training: only answer-removed ones, where the answering sentence is not there at all. Here a
name or a year of the question that its answering sentence states is replaced by another of the same article that
the sentence does not state ("When did Beyoncé leave Destiny's Child?" becomes "When did Kelly Rowland leave
Destiny's Child?"), so the pair (changed question, answering sentence) is a negative that looks like a positive.
Negations and antonyms are left out: "not" would become a shortcut that answerable questions also use.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

_NAME = re.compile(r"(?<=[\w,;:] )[A-Z][\w'’-]+(?: (?:of |de |the )?[A-Z][\w'’-]+)*")  # not the question's first word
_YEAR = re.compile(r"\b(1[0-9]{3}|20[0-9]{2})\b")
_TITLE = re.compile(r" \(([^()]*)\)$")  # reader_text puts the article's title after the sentence
_SHIFTS = (-10, -7, -5, -3, -2, -1, 1, 2, 3, 5, 7, 10)


def article_of(reader_text: str) -> str:
    """The article title `reader_text` (training.train_reader's pairs) ends with."""
    found = _TITLE.search(reader_text)
    return found.group(1) if found else ""


def names_by_article(pairs: Sequence[tuple[str, str, float]]) -> dict[str, list[str]]:
    """The names that the pairs' sentences state, per article (what a swapped name is drawn from)."""
    found: dict[str, set[str]] = {}
    for _, text, _ in pairs:
        sentence = _TITLE.sub("", text)
        found.setdefault(article_of(text), set()).update(m.group() for m in _NAME.finditer(sentence))
    return {article: sorted(names) for article, names in found.items()}


def perturbed(question: str, text: str, names: Sequence[str], rng: random.Random) -> str | None:
    """`question` with a name or year that `text` (its answering sentence) states replaced by one that `text`
    does not state (a name drawn from `names`, a year shifted), or None when it has no such detail."""
    sentence = _TITLE.sub("", text)
    options = []
    for m in _NAME.finditer(question):
        if m.group() in sentence:
            others = [n for n in names if n not in sentence and n not in question and len(n) > 2]
            alike = [n for n in others if n.count(" ") == m.group().count(" ")]  # a name of as many words
            others = alike or others
            if others:
                options.append((m, rng.choice(others)))
    for m in _YEAR.finditer(question):
        if m.group() in sentence:
            year = int(m.group()) + rng.choice(_SHIFTS)
            if str(year) not in sentence:
                options.append((m, str(year)))
    if not options:
        return None
    m, replacement = rng.choice(options)
    return question[: m.start()] + replacement + question[m.end() :]


def perturbed_negatives(pairs: Sequence[tuple[str, str, float]], count: int, seed: int) -> list[tuple[str, str, float]]:
    """Up to `count` (changed question, answering sentence, 0.0) pairs made from the positive pairs, seeded."""
    rng = random.Random(seed)
    names = names_by_article(pairs)
    positives = [p for p in pairs if p[2] == 1.0]
    rng.shuffle(positives)
    found = []
    for question, text, _ in positives:
        changed = perturbed(question, text, names.get(article_of(text), []), rng)
        if changed is not None and changed != question:
            found.append((changed, text, 0.0))
            if len(found) == count:
                break
    return found
