"""The answer reader: a cross-encoder that reads a question and one candidate sentence together.

The scorer (scorer.py) ranks every sentence of the passages from cheap features; the reader then reads only
its top READ sentences and says how likely each one answers the question. Fine-tuned from the packaged MiniLM
by training/train_reader.py, exported to ONNX with int8 weights; the model, its tokenizer and the manifest live in
qa_app/models/answer_reader/.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from qa_app.abbreviations import spelled_titles
from qa_app.config import Settings
from qa_app.errors import ConfigError
from qa_app.onnx_model import inputs
from qa_app.scorer import MODEL_DIR, AnswerScorer, SentenceView, features, logit, packaged_scorer, platt

DEFAULT_READER = MODEL_DIR / "answer_reader"
# per way of making sentence vectors (QA_APP_SENTENCE_VECTORS_FROM): the scorer trained on such vectors, and the
# reader's manifest whose blend weight, calibration and threshold were chosen on dev with that scorer
JUDGE_FILES = {
    "sentences": (MODEL_DIR / "answer_scorer.npz", DEFAULT_READER / "manifest.json"),
    "chunks": (MODEL_DIR / "answer_scorer_pooled.npz", DEFAULT_READER / "manifest_pooled.json"),
}
READ = 4  # sentences the reader reads per question
TITLE_WORDS = 12  # a title longer than this is cut: the sentence is what the reader must judge


def reader_text(view: SentenceView) -> str:
    """What the reader reads of a candidate: the sentence (titles written out), then its article's title."""
    title = " ".join(view.title.split()[:TITLE_WORDS])
    text = spelled_titles(view.text)
    return f"{text} ({title})" if title else text


class AnswerReader:
    """The fine-tuned cross-encoder, int8 ONNX, run by onnxruntime (no torch at question time); loads once."""

    MAX_LENGTH = 96
    ONNX_FILE = "model.onnx"

    def __init__(self, path: Path = DEFAULT_READER) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._session: Any = None
        self._tokenizer: Any = None
        self._pool: ThreadPoolExecutor | None = None
        self.manifest: dict = _manifest(self.path / "manifest.json")

    @classmethod
    def load(cls, path: Path = DEFAULT_READER) -> AnswerReader:
        reader = cls(path)
        reader.load_now()
        return reader

    def load_now(self) -> None:
        """Load the weights now rather than at the first question."""
        self._loaded()

    def load_in_background(self) -> None:
        """Start loading the weights in a thread, so it overlaps the question's embedding and search."""
        if self._session is None:
            threading.Thread(target=self._load_quietly, name="answer-reader-load", daemon=True).start()

    def _load_quietly(self) -> None:
        with contextlib.suppress(Exception):  # best effort: the first question loads again and reports the error
            self._loaded()

    def _loaded(self) -> tuple[Any, Any, ThreadPoolExecutor]:
        with self._lock:
            if self._session is None:
                import onnxruntime
                from tokenizers import Tokenizer

                options = onnxruntime.SessionOptions()
                options.intra_op_num_threads = 1  # a few short pairs: see embedder.one_torch_thread
                options.inter_op_num_threads = 1
                try:
                    tokenizer = Tokenizer.from_file(str(self.path / "tokenizer.json"))
                    self._session = onnxruntime.InferenceSession(
                        str(self.path / self.ONNX_FILE), options, providers=["CPUExecutionProvider"]
                    )
                except Exception as exc:  # onnxruntime's load errors share no base class but Exception
                    raise ConfigError(f"cannot load the answer reader from {self.path} ({exc}); reinstall") from exc
                tokenizer.enable_truncation(self.MAX_LENGTH)
                tokenizer.no_padding()  # tokenizer.json pads batches; each pair runs alone (see probabilities)
                self._tokenizer = tokenizer
                self._pool = ThreadPoolExecutor(len(os.sched_getaffinity(0)), thread_name_prefix="answer-reader")
            return self._session, self._tokenizer, self._pool

    def probabilities(self, question: str, sentences: Sequence[SentenceView]) -> np.ndarray:
        """P(the sentence answers the question), one per sentence (the raw reader output, before blending)."""
        if not sentences:
            return np.zeros(0, dtype=np.float32)
        session, tokenizer, pool = self._loaded()
        encoded = tokenizer.encode_batch([(question, reader_text(s)) for s in sentences])
        # one pair per run, unpadded: a few pairs of different lengths (median 54 tokens, up to 96) run 27% faster
        # one by one than padded to the longest in one batch, and each pair's score no longer depends on its
        # batch-mates (dynamic quantisation scales activations per run). The runs share the CPUs, one thread each
        # (onnxruntime releases the GIL): 5 pairs take half the time of one after another on 2 cores.
        runs = pool.map(lambda e: session.run(None, inputs([e]))[0][0, 0], encoded)
        logits = np.array(list(runs), dtype=np.float64)
        return (1 / (1 + np.exp(-logits))).astype(np.float32)


class AnswerJudge:
    """How likely each sentence answers: the scorer ranks them all, the reader (when given) reads the top READ.

    With a reader, a read sentence's probability is sigmoid(w · logit(reader) + (1 − w) · logit(scorer)), w chosen
    on dev (the reader's manifest); sentences it did not read stay below every read one. `answer_probability` is
    the calibrated P(the first quote holds the answer) and `threshold` its operating point (README, "Abstention").
    """

    def __init__(self, scorer: AnswerScorer, reader: AnswerReader | None = None, blend: dict | None = None) -> None:
        """`blend`: the manifest with the reader's weight, calibration and threshold for `scorer` (by default the
        reader's own manifest)."""
        self.scorer = scorer
        self.reader = reader
        model = (blend or reader.manifest) if reader is not None else scorer.manifest
        self.weight = float(model.get("weight", 0.0))
        self.calibration = tuple(model["calibration"]) if reader is not None else scorer.calibration
        self.threshold = float(model.get("threshold", 0.5))

    def probabilities(
        self, question: str, question_vector: np.ndarray, views: Sequence[SentenceView], excluded: np.ndarray,
        read: int = READ,
    ) -> np.ndarray:  # fmt: skip
        """P(answers) per sentence; `excluded` sentences (captions) get 0 and are never read."""
        (probabilities,) = self.probabilities_of_groups(question, question_vector, [(views, excluded)], read)
        assert probabilities is not None  # every group is read without `worth_reading`
        return probabilities

    def probabilities_of_groups(
        self, question: str, question_vector: np.ndarray, groups: Sequence[tuple[Sequence[SentenceView], np.ndarray]],
        read: int = READ, worth_reading: Callable[[Sequence[SentenceView], list[int]], bool] | None = None,
    ) -> list[np.ndarray | None]:  # fmt: skip
        """`probabilities` for several groups of sentences (each ranked on its own), read in one reader call.

        A group whose top sentences `worth_reading` rejects is not read and gets None.
        """
        scored: list[np.ndarray | None] = []
        tops = []
        for views, excluded in groups:
            p = self.scorer.probabilities(features(question, question_vector, views)).astype(np.float64)
            p[excluded] = 0.0
            top = [i for i in np.argsort(-p, kind="stable")[:read] if not excluded[i]] if len(p) else []
            wanted = worth_reading is None or worth_reading(views, top)
            scored.append(p if wanted else None)
            tops.append(top if wanted else [])
        if self.reader is None or not any(tops):
            return scored
        r = iter(
            self.reader.probabilities(question, [g[0][i] for g, top in zip(groups, tops, strict=True) for i in top])
        )
        out: list[np.ndarray | None] = []
        for p, top, (_, excluded) in zip(scored, tops, groups, strict=True):
            if p is None or not top:
                out.append(p)
                continue
            mine = np.array([next(r) for _ in top])
            blended = 1 / (1 + np.exp(-(self.weight * logit(mine) + (1 - self.weight) * logit(p[top]))))
            group = np.minimum(p, float(blended.min()) * 0.999)
            group[top] = blended
            group[excluded] = 0.0
            out.append(group)
        return out

    def answer_probability(self, best: float) -> float:
        """P(the answer's first quote holds the answer), from its sentence probability (calibrated on dev)."""
        return float(platt(np.array([best]), self.calibration)[0])


def _manifest(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


@lru_cache(maxsize=1)
def packaged_reader() -> AnswerReader:
    """The committed reader, one per process (every judge shares its session)."""
    return AnswerReader(DEFAULT_READER)


@lru_cache(maxsize=8)
def packaged_judge(
    with_reader: bool = True, sentence_vectors_from: str = Settings.sentence_vectors_from
) -> AnswerJudge:
    """The committed scorer for sentence vectors made `sentence_vectors_from` (see `JUDGE_FILES`), with the
    committed reader unless `with_reader` is False; loaded once per process."""
    scorer_file, blend_file = JUDGE_FILES[sentence_vectors_from]
    if not with_reader:
        return AnswerJudge(packaged_scorer(scorer_file))
    return AnswerJudge(packaged_scorer(scorer_file), packaged_reader(), _manifest(blend_file))
