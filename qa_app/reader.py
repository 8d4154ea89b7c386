"""The answer reader: a cross-encoder that reads a question and one candidate sentence together.

The scorer (scorer.py) ranks every sentence of the passages from cheap features; the reader then reads only
its top READ sentences and says how likely each one answers the question. Fine-tuned from the packaged MiniLM
by training/train_reader.py; the weights (float16) and their manifest live in qa_app/models/answer_reader/.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from qa_app.embedder import one_torch_thread
from qa_app.errors import ConfigError
from qa_app.scorer import MODEL_DIR, AnswerScorer, SentenceView, features, logit, packaged_scorer, platt

DEFAULT_READER = MODEL_DIR / "answer_reader"
READ = 4  # sentences the reader reads per question
TITLE_WORDS = 12  # a title longer than this is cut: the sentence is what the reader must judge


def reader_text(view: SentenceView) -> str:
    """What the reader reads of a candidate: the sentence, then its article's title for context."""
    title = " ".join(view.title.split()[:TITLE_WORDS])
    return f"{view.text} ({title})" if title else view.text


class AnswerReader:
    """Loads the fine-tuned cross-encoder once (lazily, thread-safe) and scores (question, sentence) pairs."""

    MAX_LENGTH = 96

    def __init__(self, path: Path = DEFAULT_READER) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._model: Any = None
        self._tokenizer: Any = None
        manifest = self.path / "manifest.json"
        self.manifest: dict = json.loads(manifest.read_text(encoding="utf-8")) if manifest.exists() else {}

    @classmethod
    def load(cls, path: Path = DEFAULT_READER) -> AnswerReader:
        reader = cls(path)
        reader.load_now()
        return reader

    def load_now(self) -> None:
        """Load the weights now rather than at the first question."""
        self._loaded()

    def _loaded(self) -> tuple[Any, Any]:
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                import torch
                from transformers import AutoModelForSequenceClassification, AutoTokenizer

                try:
                    self._tokenizer = AutoTokenizer.from_pretrained(str(self.path))
                    model = AutoModelForSequenceClassification.from_pretrained(str(self.path), dtype=torch.float32)
                except OSError as exc:
                    raise ConfigError(f"cannot load the answer reader from {self.path} ({exc})") from exc
                self._model = model.eval()
            return self._model, self._tokenizer

    def probabilities(self, question: str, sentences: Sequence[SentenceView]) -> np.ndarray:
        """P(the sentence answers the question), one per sentence."""
        if not sentences:
            return np.zeros(0, dtype=np.float32)
        import torch

        model, tokenizer = self._loaded()
        batch = tokenizer([question] * len(sentences), [reader_text(s) for s in sentences], padding=True,
                          truncation=True, max_length=self.MAX_LENGTH, return_tensors="pt")  # fmt: skip
        with one_torch_thread(), torch.inference_mode():
            logits = model(**batch).logits[:, 0].float().numpy()
        return (1 / (1 + np.exp(-logits))).astype(np.float32)


class AnswerJudge:
    """How likely each sentence answers: the scorer ranks them all, the reader (when given) reads the top READ.

    With a reader, a read sentence's probability is sigmoid(w · logit(reader) + (1 − w) · logit(scorer)), w chosen
    on dev (the reader's manifest); sentences it did not read stay below every read one. `answer_probability` is
    the calibrated P(the first quote holds the answer) and `threshold` its operating point (README, "Abstention").
    """

    def __init__(self, scorer: AnswerScorer, reader: AnswerReader | None = None) -> None:
        self.scorer = scorer
        self.reader = reader
        model = reader.manifest if reader is not None else scorer.manifest
        self.weight = float(model.get("weight", 0.0))
        self.calibration = tuple(model["calibration"]) if reader is not None else scorer.calibration
        self.threshold = float(model.get("threshold", 0.5))

    def probabilities(
        self, question: str, question_vector: np.ndarray, views: Sequence[SentenceView], excluded: np.ndarray,
        read: int = READ,
    ) -> np.ndarray:  # fmt: skip
        """P(answers) per sentence; `excluded` sentences (captions) get 0 and are never read."""
        p = self.scorer.probabilities(features(question, question_vector, views)).astype(np.float64)
        p[excluded] = 0.0
        if self.reader is None or not len(p):
            return p
        top = [i for i in np.argsort(-p, kind="stable")[:read] if not excluded[i]]
        if not top:
            return p
        r = self.reader.probabilities(question, [views[i] for i in top])
        blended = 1 / (1 + np.exp(-(self.weight * logit(r) + (1 - self.weight) * logit(p[top]))))
        lowest = float(blended.min())
        out = np.minimum(p, lowest * 0.999)
        out[top] = blended
        out[excluded] = 0.0
        return out

    def answer_probability(self, best: float) -> float:
        """P(the answer's first quote holds the answer), from its sentence probability (calibrated on dev)."""
        return float(platt(np.array([best]), self.calibration)[0])


@lru_cache(maxsize=4)
def packaged_judge(with_reader: bool = True) -> AnswerJudge:
    """The committed scorer, with the committed reader unless `with_reader` is False; loaded once per process."""
    with_reader = with_reader and (DEFAULT_READER / "config.json").exists()  # TODO(#11): required once trained
    return AnswerJudge(packaged_scorer(), AnswerReader(DEFAULT_READER) if with_reader else None)
