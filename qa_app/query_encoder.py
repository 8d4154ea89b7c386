"""The question's vector without torch: the embedding model exported once to ONNX (float32), run by onnxruntime
with the model's own tokenizer.json.

A question needs one short forward pass, yet `import torch` and `import sentence_transformers` cost ~3 s and
~14 s of a cold `qa-app ask` on a busy 2-core machine (onnxruntime and tokenizers: ~0.4 s). The export keeps the
float32 weights and the model's pooling (mean over the tokens, then unit length), so its vectors match
sentence-transformers' to ~1e-6 (tests/test_query_encoder.py) and retrieval, the scorer and the reader see the
same numbers. Everything stored (chunks, sentences, titles) is still embedded by `SentenceTransformerEmbedder`.

The export is made once per machine and model (`onnx_cache_root()`, beside the int8 exports), from the torch
model already loaded: after an `add` that embedded something, or by the first question that finds no export
(that question is answered with torch).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import tempfile
import threading
import warnings
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock

from qa_app.embedder import SentenceTransformerEmbedder, onnx_cache_root, onnx_export_dir, resolve_model_path
from qa_app.errors import ConfigError

log = logging.getLogger(__name__)

ONNX_FILE = "model.onnx"
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_MEAN_POOLING = {"pooling_mode_mean_tokens": True, "pooling_mode_cls_token": False, "pooling_mode_max_tokens": False,
                 "pooling_mode_mean_sqrt_len_tokens": False}  # fmt: skip
_MODULES = ["sentence_transformers.models.Transformer", "sentence_transformers.models.Pooling",
            "sentence_transformers.models.Normalize"]  # fmt: skip


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def pipeline(source: str) -> tuple[int, int] | None:
    """The model's token window and dimension when its pipeline is transformer → mean pooling → unit length.

    Only that pipeline is reproduced here; any other model (or a hub name not in a local folder) keeps torch.
    """
    folder = Path(source)
    if not (folder / "tokenizer.json").is_file() or not (folder / "config.json").is_file():
        return None
    modules = _read_json(folder / "modules.json")
    pooling = _read_json(folder / "1_Pooling" / "config.json")
    config = _read_json(folder / "sentence_bert_config.json")
    if not isinstance(modules, list) or [m.get("type") for m in modules if isinstance(m, dict)] != _MODULES:
        return None
    if not isinstance(pooling, dict) or any(pooling.get(k, False) != v for k, v in _MEAN_POOLING.items()):
        return None
    if not isinstance(config, dict) or not isinstance(config.get("max_seq_length"), int):
        return None
    if not isinstance(pooling.get("word_embedding_dimension"), int):
        return None
    return int(config["max_seq_length"]), int(pooling["word_embedding_dimension"])


def export_model(model: Any, folder: Path) -> None:
    """Export a loaded SentenceTransformer's transformer to `folder/model.onnx`, unless another process did.

    The file is written in a temporary folder beside `folder`, then renamed, under a file lock.
    """
    import torch  # the caller has the torch model loaded already

    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder) + ".lock"):
        if (folder / ONNX_FILE).is_file():
            return
        for stale in folder.parent.glob(f".{folder.name}-*"):  # left by a process killed while exporting
            shutil.rmtree(stale, ignore_errors=True)
        work = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
        try:
            transformer = _traceable(model[0].auto_model).eval()
            example = tuple(torch.ones((1, 4), dtype=torch.int64) for _ in _INPUTS)
            axes = {name: {0: "batch", 1: "tokens"} for name in (*_INPUTS, "last_hidden_state")}
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracing notes
                torch.onnx.export(transformer, example, str(work / ONNX_FILE), input_names=list(_INPUTS),
                                  output_names=["last_hidden_state"], dynamic_axes=axes, opset_version=17,
                                  dynamo=False)  # fmt: skip
            if folder.exists():
                shutil.rmtree(folder)
            os.rename(work, folder)
        finally:
            shutil.rmtree(work, ignore_errors=True)


def _traceable(auto_model: Any) -> Any:
    """The transformer as a module of three tensors returning its last hidden state (what the export traces)."""
    import torch

    class Hidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = auto_model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            out = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return out.last_hidden_state

    return Hidden()


@lru_cache(maxsize=4)
def _runtime(onnx_path: str, tokenizer_path: str, window: int) -> tuple[Any, Any]:
    """One onnxruntime session and tokenizer per export, shared by every Library of the process."""
    import onnxruntime
    from tokenizers import Tokenizer

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1  # a question is a few tokens: see embedder.one_torch_thread
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])
    tokenizer = Tokenizer.from_file(tokenizer_path)
    tokenizer.no_padding()
    tokenizer.enable_truncation(window)
    return session, tokenizer


def installed(*packages: str) -> bool:
    """Whether every one of `packages` can be imported (without importing them)."""
    return all(importlib.util.find_spec(name) is not None for name in packages)


class QueryEncoder:
    """Embeds questions with the ONNX export of `model`, or with `model` itself until the export exists.

    Args:
        model: the torch embedder whose vectors these match (it also embeds everything stored).
        cache_dir: where exports are kept (default: `onnx_cache_root()`).
    """

    def __init__(self, model: SentenceTransformerEmbedder, cache_dir: Path | None = None) -> None:
        self.model = model
        self.name = model.name
        try:
            self._source = resolve_model_path(model.name)
        except ConfigError:  # the torch model says so, with the fix, when it is first needed
            self._source = model.name
        self._pipeline = pipeline(self._source)
        self._folder = onnx_export_dir(model.name, self._source, cache_dir or onnx_cache_root(), "fp32")
        self._lock = threading.Lock()
        self._loaded: tuple[Any, Any] | None = None
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

    def _runtime(self) -> tuple[Any, Any] | None:
        with self._lock:
            if self._loaded is None and self.exportable and self.export_path.is_file():
                tokenizer = str(Path(self._source) / "tokenizer.json")
                self._loaded = _runtime(str(self.export_path), tokenizer, self._pipeline[0])
            return self._loaded

    def export(self) -> None:
        """Make the export from the torch model (loading it if needed), unless it exists or cannot be made.

        A failure (a read-only cache folder, an exporter error) is logged: questions then keep using torch.
        """
        if self._export_failed or not self.exportable or self.export_path.is_file():
            return
        try:
            export_model(self.model.loaded(), self._folder)
        except Exception as exc:  # torch's exporter errors share no base class but Exception
            self._export_failed = True  # not tried again by this process
            log.warning("questions keep using torch: cannot export %s to %s (%s)", self.name, self._folder, exc)

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Unit-length float32 vectors, one row per text, as `SentenceTransformerEmbedder.embed` makes them."""
        runtime = self._runtime()
        if runtime is None:
            vectors = self.model.embed(texts, batch_size)
            self.export()  # torch is loaded now: the next process answers without it
            return vectors
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.vstack([_encode(runtime, texts[i : i + batch_size]) for i in range(0, len(texts), batch_size)])


def _encode(runtime: tuple[Any, Any], texts: Sequence[str]) -> np.ndarray:
    """One padded batch through the export: mean of the token vectors under the attention mask, unit length."""
    session, tokenizer = runtime
    encodings = tokenizer.encode_batch(list(texts))
    width = max(len(e.ids) for e in encodings)
    feeds = {name: np.zeros((len(encodings), width), dtype=np.int64) for name in _INPUTS}
    for row, e in enumerate(encodings):
        feeds["input_ids"][row, : len(e.ids)] = e.ids
        feeds["attention_mask"][row, : len(e.ids)] = e.attention_mask
        feeds["token_type_ids"][row, : len(e.ids)] = e.type_ids
    hidden = session.run(None, feeds)[0]
    mask = feeds["attention_mask"][..., None].astype(np.float32)
    pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
    norms = np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)  # torch's F.normalize eps
    return np.ascontiguousarray(pooled / norms, dtype=np.float32)
