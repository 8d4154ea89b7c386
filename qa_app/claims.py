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
from qa_app.scorer import ASKS_NAME, ASKS_SAY, DATE, NAME, NOT_SENTENCE_START, NUMBER, expected_shape, fold

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
_SPEAKER = re.compile(rf"\b(?:said|says|told) (?P<a>{NAME.pattern})|(?P<b>{NAME.pattern}),? (?:said|says|told)\b")
_UNIT = re.compile(r" ([a-z]+)(?: ([a-z]+))?")  # the words right after a number: what it counts
_SCALES = {"thousand": 1e3, "million": 1e6, "m": 1e6, "billion": 1e9, "bn": 1e9}
# the name a question asks for, from what ASKS_NAME matched
_ASKED_NAME_KIND = (
    {"who": "person", "whom": "person", "whose": "person"}
    | {f"which {kind}": "organisation" for kind in ("company", "party", "agency", "team")}
    | {"which country": "place", "which city": "place", "which newspaper": "outlet"}
)
_PLACE_WORDS = {"City", "Street", "Road", "Lane", "Avenue", "Square", "Park", "River", "Weir", "Bridge", "County",
                "Island", "Lake", "Bay", "Valley", "Hill", "Estate", "Station", "Airport", "Harbour",
                "Port"}  # fmt: skip
_OUTLET_WORDS = {"Times", "Journal", "Post", "News", "Herald", "Gazette", "Tribune", "Telegraph", "Guardian"}
_ORGANISATION_WORDS = {"Department", "Ministry", "Council", "Office", "Agency", "Party", "Company", "Corporation",
                       "Inc", "Ltd", "Group", "Union", "Bank", "University", "College", "School", "Hospital", "Trust",
                       "Museum", "Foundation", "Association", "Board", "Committee", "Commission", "Court", "Police",
                       "Service", "Authority", "Club", "Works", "Insurance", "Government",
                       "Administration"}  # fmt: skip
SAME_SCALE = 2.0  # two reports of one quantity differ by less than this factor (differ_comparably)
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
        found = _full_names(text) - (set() if ASKS_SAY.search(question) else _speakers(text))
    else:
        found = {m.group().rstrip(".,") for m in _AMOUNT.finditer(text)}
    return {value for value in found if value.lower() not in question.lower()}


def differ_comparably(question: str, a: set[str], b: set[str]) -> bool:
    """Whether a value of `a` and a different one of `b` could be two reports of what `question` asks: dates of
    one form (a day and a day, a year and a year), numbers of one unit (money, shares, plain counts) within a
    factor of `SAME_SCALE`, names of the kind asked (`name_kind`: "who" wants people). 9,120 votes against 8,946
    differ; 9,120 against a margin of 312, or an angler against a weir, are two things."""
    wanted = _ASKED_NAME_KIND.get(m.group(1).lower()) if (m := ASKS_NAME.search(question)) else None
    return any(x != y and _same_kind(x, y, wanted) for x in a for y in b)


def name_kind(name: str) -> str:
    """The kind of a name: "place" (its last word names a kind of place: Mexico City, Mill Lane), "outlet" (Wall
    Street Journal), "organisation" (a word names a kind of body: US State Department), "person" (any other name
    of two or more words), or "word" (one word: Mexican, Kiprono)."""
    words = name.split()
    if words[-1] in _PLACE_WORDS:
        return "place"
    if words[-1] in _OUTLET_WORDS:
        return "outlet"
    if any(word in _ORGANISATION_WORDS for word in words):
        return "organisation"
    return "person" if len(words) > 1 else "word"


def _same_kind(x: str, y: str, wanted_name: str | None) -> bool:
    if _MONTH_DAY.fullmatch(x) or _MONTH_DAY.fullmatch(y):
        return bool(_MONTH_DAY.fullmatch(x) and _MONTH_DAY.fullmatch(y)) and x[0].isdigit() == y[0].isdigit()
    sizes = _size(x), _size(y)
    if sizes[0] is None or sizes[1] is None:
        return sizes == (None, None) and name_kind(x) == name_kind(y) == (wanted_name or name_kind(x))
    (unit_x, size_x), (unit_y, size_y) = sizes
    return unit_x == unit_y and min(size_x, size_y) > 0 and max(size_x, size_y) <= SAME_SCALE * min(size_x, size_y)


def _size(value: str) -> tuple[str, float] | None:
    """A number's unit (currency sign, "%" or "") and size; None for a name."""
    number = NUMBER.search(value)
    if number is None:
        return None
    unit = value[:1] if value[:1] in "$€£" else "%" if re.search(r"%|percent|per cent", value) else ""
    scale = next((m for word, m in _SCALES.items() if word in value.split()), 1.0)
    try:
        return unit, float(number.group().replace(",", "")) * scale
    except ValueError:  # "1.2.3": not a number after all
        return None


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


def _speakers(text: str) -> set[str]:
    """Names that attribute a quote ("said Hannah Okafor", "Peregrine Astley said"): the speaker is not what a
    sentence says was done, unless the question asks who said it."""
    return {m.group("a") or m.group("b") for m in _SPEAKER.finditer(text)}


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
