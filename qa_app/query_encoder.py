"""The question's vector without torch: the embedding model exported once to ONNX (float32), run by onnxruntime
with the model's own tokenizer.json.

A question needs one short forward pass, yet `import torch` and `import sentence_transformers` cost ~3 s and
~14 s of a cold `qa-app ask` on a busy 2-core machine (onnxruntime and tokenizers: ~0.4 s). The export keeps the
float32 weights and the model's pooling (mean over the tokens, then unit length), so its vectors match
sentence-transformers' to ~1e-6 (tests/test_query_encoder.py) and retrieval, the scorer and the reader see the
same numbers, whichever backend (torch, or the int8 `onnx` one) embedded what is stored.

The export (`onnx_model.export_fp32`) is made once per machine and model (`onnx_cache_root()`, beside the int8
export), from the torch model: after an `add` that embedded something, or by the first question that finds no
export (that question is answered by the embedder), or when the `onnx` backend builds its int8 model from it.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from qa_app.embedder import SentenceTransformerEmbedder, onnx_cache_root, onnx_export_dir, resolve_model_path
from qa_app.errors import ConfigError
from qa_app.onnx_model import FP32_KIND, ONNX_FILE, Runtime, encode, export_fp32, pipeline, runtime

log = logging.getLogger(__name__)

__all__ = ["QueryEncoder", "installed", "pipeline"]


def installed(*packages: str) -> bool:
    """Whether every one of `packages` can be imported (without importing them)."""
    return all(importlib.util.find_spec(name) is not None for name in packages)


class QueryEncoder:
    """Embeds questions with the ONNX export of `model`, or with `model` itself until the export exists.

    Args:
        model: the embedder whose vectors these match (it also embeds everything stored; any backend).
        cache_dir: where exports are kept (default: the model's, else `onnx_cache_root()`).
    """

    def __init__(self, model: SentenceTransformerEmbedder, cache_dir: Path | None = None) -> None:
        # questions are float32 vectors whichever way `model` stores texts: until the export exists they are
        # embedded by float32 torch (the model itself, or a float32 twin of a bfloat16 or int8 one)
        float32 = model.backend == "torch" and model.precision == "float32"
        self.model = model if float32 else SentenceTransformerEmbedder(model.name, cache_dir=model.cache_dir,
                                                                       precision="float32")  # fmt: skip
        self.name = model.name
        try:
            self._source = resolve_model_path(model.name)
        except ConfigError:  # the torch model says so, with the fix, when it is first needed
            self._source = model.name
        self._pipeline = pipeline(self._source)
        root = cache_dir or model.cache_dir or onnx_cache_root()
        self._folder = onnx_export_dir(model.name, self._source, root, FP32_KIND)
        self._lock = threading.Lock()
        self._loaded: Runtime | None = None
        self._export_failed = False

    @property
    def exportable(self) -> bool:
        """Whether questions to this model can be embedded without torch (its pipeline and the packages allow it)."""
        return self._pipeline is not None and installed("onnxruntime", "tokenizers", "onnx")

    @property
    def export_path(self) -> Path:
        """The export's ONNX file (it may not exist yet)."""
        return self._folder / ONNX_FILE

    @property
    def dimension(self) -> int:
        return self._pipeline[1] if self._pipeline else self.model.dimension

    def _runtime(self) -> Runtime | None:
        with self._lock:
            if self._loaded is None and self.exportable and self.export_path.is_file():
                tokenizer = str(Path(self._source) / "tokenizer.json")
                self._loaded = runtime(str(self.export_path), tokenizer, self._pipeline[0], threads=1)
            return self._loaded

    def export(self) -> None:
        """Make the export from the torch model (loading it if needed), unless it exists or cannot be made.

        A failure (a read-only cache folder, an exporter error) is logged: questions then keep using torch.
        """
        if self._export_failed or not self.exportable or self.export_path.is_file():
            return
        try:
            export_fp32(self.model.torch_model(), self.export_path)
        except Exception as exc:  # torch's exporter errors share no base class but Exception
            self._export_failed = True  # not tried again by this process
            log.warning("questions keep using torch: cannot export %s to %s (%s)", self.name, self._folder, exc)

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Unit-length float32 vectors, one row per text, as `SentenceTransformerEmbedder.embed` makes them."""
        loaded = self._runtime()
        if loaded is None:
            vectors = self.model.embed(texts, batch_size)
            self.export()  # torch is loaded now: the next process answers without it
            return vectors
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return encode(loaded, texts, batch_size)
