"""The learned answer-sentence scorer: the probability that a retrieved sentence answers the question.

It reads what is already at hand when a question is asked (the question vector, the sentence and title vectors
stored at index time, the sentence text and its passage's rank) through a few cheap features, and a small
network trained on SQuAD by `training/train_scorer.py` turns them into a probability. The weights and their
manifest live in `qa_app/models/`; nothing is downloaded or trained at run time.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from qa_app.abbreviations import spelled_titles
from qa_app.errors import ConfigError
from qa_app.lexical import tokenize

MODEL_DIR = Path(__file__).parent / "models"
DEFAULT_MODEL = MODEL_DIR / "answer_scorer.npz"

FEATURES = (
    "cosine", "cosine_gap", "cosine_rank", "coverage", "idf_coverage", "coverage_gap", "novelty",
    "type_match", "type_miss", "title_cosine", "title_overlap", "lead", "position", "unfinished", "length",
    "passage_rank", "neighbour_cosine", "neighbour_coverage", "says",
    "bigram_overlap", "name_coverage", "has_number", "has_date", "new_name", "causal", "place",
    "q_who", "q_when", "q_where", "q_why", "q_number", "q_how", "q_which", "q_what",
)  # fmt: skip

NUMBER = re.compile(r"\d[\d,.]*\d|\d")
DATE = re.compile(
    r"\b(\d{4}|Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec|Monday|Tuesday|Wednesday|Thursday|Friday"
    r"|Saturday|Sunday|yesterday|today|last (week|month|year))"
)
NAME = re.compile(r"\b[A-Z][\w'’-]+(?: [A-Z][\w'’-]+)*")
ASKS_NUMBER = re.compile(r"\b(how (many|much|long|far|old|big|large)|what (percentage|share|number|amount))\b", re.I)
ASKS_DATE = re.compile(
    r"\b(when|what ((is|was|were|are) the )?(date|day|year|month|time)|which (year|day|month))\b", re.I
)  # "what date…", "what was the date of…"
ASKS_NAME = re.compile(r"\b(who|whom|whose|which (newspaper|company|country|city|party|agency|team))\b", re.I)
ASKS_SAY = re.compile(r"\b(say|said|says|tell|told|respond|responded|react|reacted|call|called)\b", re.I)
_SAYS = re.compile(r"[\"“”]|\b(said|says|told|stated|announced|added)\b")
_QUESTION_TYPES = tuple(re.compile(rf"\b({words})\b", re.I) for words in (
    "who|whom|whose", "when|what year|what date|which year", "where", "why", r"how (many|much)|what percentage",
    r"how(?! (many|much))", "which", "what",
))  # fmt: skip
_CAUSAL = re.compile(r"\b(because|due to|as a result|in order to|so that|since|after|caused|reason)\b", re.I)
_PLACE = re.compile(r"\b(in|at|near|from) (the )?[A-Z]")
NOT_SENTENCE_START = r"(?<!^)(?<![.?!] )"  # a capitalised word here is a name, not the start of a sentence
_NEW_NAME = re.compile(NOT_SENTENCE_START + r"\b[A-Z][\w'’-]+")
_MONTH_OR_YEAR = re.compile(r"\b(1[0-9]{3}|20[0-9]{2}|January|February|March|April|May|June|July|August|September"
                            r"|October|November|December)\b")  # fmt: skip
_CAPTION = re.compile(
    r"\((AP|AFP|Reuters|Getty|EPA)\b[^)]*\)|\bAP Photo\b|\bPhoto(graph)?:|\b(photo|photograph) by\b|\bFile photo\b"
    r"|\bGetty Images\b",
    re.I,
)  # fmt: skip


def is_caption(text: str, following: str = "") -> bool:
    """A photo caption or credit ("… (AP Photo/Marco Ugarte)"): it describes a picture, not the story.

    `following` is the next sentence: a credit split off by the sentence splitter marks the caption before it.
    """
    return bool(_CAPTION.search(text)) or bool(following.lstrip().startswith("(") and _CAPTION.search(following))


def expected_shape(question: str) -> re.Pattern[str] | None:
    """The kind of value the question asks for (a number, a date, a name), as a pattern, or None."""
    for asks, shape in ((ASKS_NUMBER, NUMBER), (ASKS_DATE, DATE), (ASKS_NAME, NAME)):
        if asks.search(question):
            return shape
    return None


def fold(text: str) -> str:
    """Accents removed ("Möngke" -> "Mongke"), so spelling variants share their terms."""
    if text.isascii():  # nothing to remove (most sentences): a question's features took ~20 ms of folding
        return text
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


@dataclass(frozen=True)
class SentenceView:
    """What the scorer reads of one candidate sentence."""

    text: str
    vector: np.ndarray
    title_vector: np.ndarray | None
    title: str
    start: int  # offset in its article
    passage_rank: int  # 0 for the best passage
    neighbours: tuple[int, ...]  # indexes (in the same list) of the sentences just before and after it


def features(question: str, question_vector: np.ndarray, sentences: Sequence[SentenceView]) -> np.ndarray:
    """One row of FEATURES per sentence (see README, "Answer scorer")."""
    n = len(sentences)
    if not n:
        return np.zeros((0, len(FEATURES)), dtype=np.float32)
    cosine = np.vstack([s.vector for s in sentences]).astype(np.float32) @ question_vector.astype(np.float32)
    question_list, *sentence_lists = tokenize([fold(question)] + [fold(spelled_titles(s.text)) for s in sentences])
    question_terms, sentence_terms = set(question_list), [set(t) for t in sentence_lists]
    title_terms = {title: set(t) for title, t in zip(*_titles(sentences), strict=True)}
    idf = {t: math.log(1 + n / (1 + sum(t in terms for terms in sentence_terms))) for t in question_terms}
    idf_total = sum(idf.values()) or 1.0
    coverage = np.array([_share(question_terms, terms) for terms in sentence_terms])
    cosine_rank = np.empty(n)
    cosine_rank[np.argsort(-cosine, kind="stable")] = np.arange(n)
    shape = expected_shape(question)
    asks_say = bool(ASKS_SAY.search(question))
    question_kind = [float(bool(kind.search(question))) for kind in _QUESTION_TYPES]
    question_bigrams = set(itertools.pairwise(question_list))
    question_names = {fold(name).lower() for name in _NEW_NAME.findall(question)}
    rows = np.zeros((n, len(FEATURES)), dtype=np.float32)
    for i, s in enumerate(sentences):
        terms, folded = sentence_terms[i], fold(s.text).lower()
        match = bool(shape and _holds_new_value(shape, s.text, question))
        near = [j for j in s.neighbours if 0 <= j < n]
        rows[i] = (
            cosine[i],
            cosine[i] - cosine.max(),
            1.0 / (1.0 + cosine_rank[i]),
            coverage[i],
            sum(idf[t] for t in question_terms & terms) / idf_total,
            coverage[i] - coverage.max(),
            math.log1p(len(terms - question_terms)),
            float(match),
            float(shape is not None and not match),
            float(s.vector @ s.title_vector) if s.title_vector is not None else 0.0,
            len(terms & title_terms[s.title]) / len(terms) if terms else 0.0,
            float(s.start < 3),
            math.log1p(s.start / 200.0),
            float(not s.text.rstrip().endswith((".", "!", "?", '"', "”", "’"))),
            math.log1p(len(s.text.split())),
            1.0 / (1.0 + s.passage_rank),
            max((float(cosine[j]) for j in near), default=0.0),
            max((float(coverage[j]) for j in near), default=0.0),
            float(asks_say and bool(_SAYS.search(s.text))),
            _share(question_bigrams, set(itertools.pairwise(sentence_lists[i]))),
            sum(name in folded for name in question_names) / len(question_names) if question_names else 0.0,
            float(bool(NUMBER.search(s.text))),
            float(bool(_MONTH_OR_YEAR.search(s.text))),
            float(any(fold(name).lower() not in question_names for name in _NEW_NAME.findall(s.text))),
            float(bool(_CAUSAL.search(s.text))),
            float(bool(_PLACE.search(s.text))),
            *question_kind,
        )
    return rows


def _share(wanted: set, found: set) -> float:
    """The share of `wanted` that is in `found` (0 when nothing is wanted)."""
    return len(wanted & found) / len(wanted) if wanted else 0.0


def _titles(sentences: Sequence[SentenceView]) -> tuple[list[str], list[list[str]]]:
    titles = sorted({s.title for s in sentences})
    return titles, tokenize([fold(t) for t in titles])


def _holds_new_value(shape: re.Pattern[str], text: str, question: str) -> bool:
    """Whether the sentence holds a value of the asked kind that the question itself does not contain."""
    return any(m.group() not in question for m in shape.finditer(text))


class AnswerScorer:
    """A small feed-forward network over FEATURES: standardise, hidden layers (ReLU), logistic output."""

    def __init__(self, mean: np.ndarray, scale: np.ndarray, layers: Sequence[tuple[np.ndarray, np.ndarray]],
                 manifest: dict | None = None, calibration: tuple[float, float] = (1.0, 0.0)) -> None:  # fmt: skip
        self.calibration = (float(calibration[0]), float(calibration[1]))
        self.mean = np.asarray(mean, dtype=np.float32)
        self.scale = np.asarray(scale, dtype=np.float32)
        self.layers = [(np.asarray(w, dtype=np.float32), np.asarray(b, dtype=np.float32)) for w, b in layers]
        self.manifest = manifest or {}

    @classmethod
    def load(cls, path: Path = DEFAULT_MODEL) -> AnswerScorer:
        """Weights from an `.npz` file, with the manifest beside it (`<name>.json`)."""
        try:
            data = np.load(path)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"answer scorer {path}: cannot be read ({exc}); reinstall the package") from exc
        count = int(data["layer_count"])
        layers = [(data[f"w{i}"], data[f"b{i}"]) for i in range(count)]
        manifest_path = path.with_suffix(".json")
        manifest = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.exists() else {}
        return cls(data["mean"], data["scale"], layers, manifest, tuple(data["calibration"]))

    def save(self, path: Path, manifest: dict) -> None:
        """Weights as float16 (small; scores change by < 1e-3), manifest as JSON beside them."""
        arrays = {"mean": self.mean, "scale": self.scale, "layer_count": np.array(len(self.layers)),
                  "calibration": np.array(self.calibration)}  # fmt: skip
        for i, (w, b) in enumerate(self.layers):
            arrays[f"w{i}"], arrays[f"b{i}"] = w.astype(np.float16), b.astype(np.float16)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, **arrays)
        path.with_suffix(".json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")

    def probabilities(self, rows: np.ndarray) -> np.ndarray:
        """P(answers the question) for each feature row."""
        if not len(rows):
            return np.zeros(0, dtype=np.float32)
        x = (rows.astype(np.float32) - self.mean) / self.scale
        for i, (w, b) in enumerate(self.layers):
            x = x @ w + b
            if i < len(self.layers) - 1:
                x = np.maximum(x, 0.0)
        return (1.0 / (1.0 + np.exp(-x[:, 0]))).astype(np.float32)

    def answer_probability(self, best: float) -> float:
        """P(the answer's first quote holds the answer), from its sentence probability (Platt-calibrated on dev)."""
        return float(platt(np.array([best]), self.calibration)[0])


def logit(p: np.ndarray) -> np.ndarray:
    """log(p / (1 - p)), with p kept inside (1e-6, 1 - 1e-6)."""
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def platt(p: np.ndarray, calibration: tuple[float, float]) -> np.ndarray:
    """Probabilities mapped through Platt scaling: sigmoid(a · logit(p) + b)."""
    a, b = calibration
    return 1.0 / (1.0 + np.exp(-(a * logit(p) + b)))


@lru_cache(maxsize=4)
def packaged_scorer(path: Path = DEFAULT_MODEL) -> AnswerScorer:
    """The committed scorer, loaded once per process."""
    return AnswerScorer.load(path)
