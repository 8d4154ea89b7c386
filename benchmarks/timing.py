"""Timing helpers shared by the benchmarks (kept free of test-only imports, so every benchmark venv has them)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from qa_app.embedder import SentenceTransformerEmbedder


def timed(function: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds `function` took, and what it returned."""
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


class TimedEmbedder:
    """A loaded embedder that times its calls and keeps the texts it is given."""

    def __init__(self, inner: SentenceTransformerEmbedder) -> None:
        self.inner, self.name = inner, inner.name
        self.seconds, self.texts = 0.0, []

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        started = time.perf_counter()
        vectors = self.inner.embed(texts, batch_size=batch_size)
        self.seconds += time.perf_counter() - started
        self.texts.extend(texts)
        return vectors
