"""What a claim states and what backs it: the numbers, dates and names in a sentence, and checked citations.

The extractive composer (answer.py) reads the values of the asked kind to tell when two articles disagree; the
support check of generated answers (grounding.py) reads every number and name of a sentence and looks for them
in the cited passage. Both cite through `cite`, which holds every quote to `document.text[start:end] == quote`.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from qa_app.errors import QAError
from qa_app.records import Citation, Passage, page_at
from qa_app.scorer import DATE, NAME, NOT_SENTENCE_START, NUMBER, expected_shape, fold

_MONTH_DAY = re.compile(r"\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.? \d{1,2}\b|\b\d{4}\b")
_FULL_NAME = re.compile(NOT_SENTENCE_START + NAME.pattern)
_WORD = re.compile(r"[\w'’.-]+")
_CAPITALISED = re.compile(r"(?<![\w'’-])[A-Z][\w'’.-]*")
_SENTENCE_START = re.compile(r"^\W*[\w'’.-]+")  # the first word is capitalised anyway
_AMOUNT = re.compile(
    r"[$€£]\s?\d[\d,.]*(?:\s(?:million|billion|thousand|bn|m)\b)?|\d[\d,.]*\s?(?:percent\b|per cent\b|%)"
)
_LEADING_NAME = re.compile(r"^\W*([A-Z][\w'’-]+(?: [A-Z][\w'’-]+)+)")
_NAME_WORD = re.compile(NOT_SENTENCE_START + r"\b[A-Z][\w'’-]+")
_LOWER_WORD = re.compile(r"[a-z]+")
_POSSESSIVE = re.compile(r"['’]s?$")
_UNIT = re.compile(r" ([a-z]+)(?: ([a-z]+))?")  # the words right after a number: what it counts
_CALENDAR = {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "January", "February",
             "March", "April", "May", "June", "July", "August", "September", "October", "November",
             "December"}  # fmt: skip
_NOT_NAMES = {"i", "the", "a", "an", "and", "but", "or", "in", "on", "at", "of", "to", "for", "it", "he", "she",
              "they", "we", "this", "that", "these", "those", "his", "her", "their", "its", "as", "according",
              "however", "also", "after", "before", "when", "while", "if", "so", "there", "then"}  # fmt: skip


# ---- the asked value (extractive answers: do two articles disagree?) ----------------------------------


def asked_values(question: str, text: str) -> set[str]:
    """The values of the kind the question asks for that `text` gives beyond the question: numbers (those counting
    what the question counts when any does), dates, people's and places' names; for other questions, sums of
    money and shares ("$2.4 million", "7.5 percent"), which state a value whatever the wording asked."""
    shape = expected_shape(question)
    if shape is NUMBER:
        found = _counts(question, text)
    elif shape is DATE:
        found = {m.group() for m in _MONTH_DAY.finditer(text)}
    elif shape is not None:
        found = _full_names(text)
    else:
        found = {m.group().rstrip(".,") for m in _AMOUNT.finditer(text)}
    return {value for value in found if value.lower() not in question.lower()}


def question_names(question: str) -> set[str]:
    """The names a question mentions (capitalised words after its first), as `name_key` gives them."""
    return {name_key(m.group()) for m in _NAME_WORD.finditer(question) if m.group() not in _CALENDAR}


def name_key(word: str) -> str:
    """A word as names are compared across texts: folded, lower-cased, without a possessive (Glaskirk's: glaskirk)."""
    return _POSSESSIVE.sub("", fold(word).lower())


def _counts(question: str, text: str) -> set[str]:
    """The numbers of `text` outside dates; only those whose next two words share one with the question (what it
    counts) when there are such."""
    dates = [m.span() for m in _MONTH_DAY.finditer(text)]
    asked_words = {word[:5] for word in _LOWER_WORD.findall(question.lower()) if len(word) > 3}
    numbers, counting = set(), set()
    for m in NUMBER.finditer(text):
        if any(start <= m.start() < end for start, end in dates):
            continue
        value = m.group().rstrip(".,")
        numbers.add(value)
        unit = _UNIT.match(text, m.end())
        if unit and {word[:5] for word in unit.groups() if word} & asked_words:
            counting.add(value)
    return counting or numbers


def _full_names(text: str) -> set[str]:
    """Names in `text`: capitalised runs after the sentence's first word, and a run of two or more words at its
    start ("Samuel Okafor won…"); days and months are not names."""
    found = {m.group() for m in _FULL_NAME.finditer(text)}
    first = _LEADING_NAME.match(text)
    words = first.group(1).split() if first else []
    while words and words[0].lower() in _NOT_NAMES:
        words.pop(0)
    if len(words) > 1:
        found.add(" ".join(words))
    names = {" ".join(w for w in name.split() if w not in _CALENDAR) for name in found} - {""}
    return {name for name in names if not any(name != other and name in other for other in names)}


# ---- every fact of a sentence (generated answers: is each one in the cited passage?) ------------------


def _normal(token: str) -> str:
    """A word or name as compared: lower case, no possessive, no dots (U.S. = US)."""
    token = re.sub(r"['’]s?$", "", token.lower().strip(".,;:!?-"))
    return token.replace(".", "")


def _numbers(text: str) -> set[str]:
    """The numbers of `text` without thousands separators or leading zeros (4,200,000 = 4200000)."""
    return {m.group().rstrip(".,").replace(",", "").lstrip("0") or "0" for m in NUMBER.finditer(text)}


def _names(sentence: str) -> set[str]:
    """Capitalised words other than the first (names, places, outlets), normalised, split at hyphens."""
    first = _SENTENCE_START.match(sentence)
    body = sentence[first.end() :] if first else sentence
    found = set()
    for word in _CAPITALISED.findall(body):
        for part in word.split("-"):
            if part[:1].isupper() and _normal(part) and _normal(part) not in _NOT_NAMES:
                found.add(_normal(part))
    return found


def facts(sentence: str) -> set[str]:
    """The numbers (as `#n`) and names a sentence states: each must be in a passage that supports it."""
    return {f"#{n}" for n in _numbers(sentence)} | _names(sentence)


def known(text: str) -> set[str]:
    """The numbers and words of a passage, in the form `facts` uses."""
    words = {_normal(w) for w in _WORD.findall(text)}
    return {f"#{n}" for n in _numbers(text)} | words | {part for w in words for part in w.split("-")}


# ---- citations -----------------------------------------------------------------------------------------


def cite(
    n: int, passage: Passage, start: int, end: int, quote: str, check: Callable[[Citation], bool],
    score: float | None = None,
) -> Citation:  # fmt: skip
    """Citation `n` of `quote` (`passage`'s document text from `start` to `end`), checked against the stored text.

    Raises:
        QAError: the quote is not the document's text at those offsets (the index needs `qa-app check`).
    """
    citation = Citation(n, passage.doc_id, passage.title, passage.source, passage.published_at, start, end, quote,
                        page_at(passage.page_starts, start), score)  # fmt: skip
    if not check(citation):
        raise QAError(f"internal error: citation [{n}] does not match its article text; run `qa-app check`")
    return citation
