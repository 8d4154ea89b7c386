"""The embedding model as ONNX, run by onnxruntime with the model's own tokenizer.json: no torch at run time.

Two exports, each made once per machine and model into the ONNX cache (`embedder.onnx_cache_root()`):
- **float32** (`<model>-<fingerprint>-fp32-eager/model.onnx`): `torch.onnx.export` of the transformer, from a torch
  model already loaded. Its vectors match sentence-transformers' to ~1e-7. Questions use it (query_encoder.py).
- **int8** (`<model>-<fingerprint>-int8-fused/model_qint8.onnx`): the float32 export with BERT's attention, layer norms
  and GELU fused (`onnxruntime.transformers.optimizer`), then dynamic int8 quantisation of its weights
  (`onnxruntime.quantization.quantize_dynamic`, per channel). The `onnx` embedding backend stores vectors from it.

Both are written in a temporary folder beside their place, under a file lock, then renamed into place. Encoding
reproduces the pipeline transformer -> mean pooling -> unit length only (`pipeline`), with the model's token window.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock

ONNX_FILE = "model.onnx"
INT8_FILE = "model_qint8.onnx"
FP32_KIND = "fp32-eager"  # export folder suffixes; "-fp32" folders of earlier versions (sdpa traces) are not read
INT8_KIND = "int8-fused"
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_MEAN_POOLING = {"pooling_mode_mean_tokens": True, "pooling_mode_cls_token": False, "pooling_mode_max_tokens": False,
                 "pooling_mode_mean_sqrt_len_tokens": False}  # fmt: skip
_MODULES = ["sentence_transformers.models.Transformer", "sentence_transformers.models.Pooling",
            "sentence_transformers.models.Normalize"]  # fmt: skip

Runtime = tuple[Any, Any]  # an onnxruntime InferenceSession and its tokenizers.Tokenizer
TokenRows = tuple[np.ndarray, list[tuple[int, int]]]  # token vectors and their character spans


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def pipeline(source: str) -> tuple[int, int] | None:
    """The model's token window and dimension when its pipeline is transformer → mean pooling → unit length.

    Only that pipeline is reproduced here; any other model (or a hub name not in a local folder) needs torch.
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


def attention_shape(source: str) -> tuple[int, int]:
    """The transformer's attention heads and hidden size (config.json), which the int8 build's optimizer needs."""
    config = _read_json(Path(source) / "config.json") or {}
    return int(config.get("num_attention_heads", 0)), int(config.get("hidden_size", 0))  # 0: the optimizer detects


def _build_once(target: Path, build: Callable[[Path], None]) -> None:
    """Make `target` (a file in its folder) with `build(work_folder)` unless it exists: in a temporary folder
    beside the target's, under a file lock, then renamed into place (a killed build leaves only its temp folder)."""
    folder = target.parent
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder) + ".lock"):
        if target.is_file():
            return
        for stale in folder.parent.glob(f".{folder.name}-*"):  # left by a process killed while building
            shutil.rmtree(stale, ignore_errors=True)
        work = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
        try:
            build(work)
            if folder.exists():  # an earlier, damaged version: replaced whole
                shutil.rmtree(folder)
            os.rename(work, folder)
        finally:
            shutil.rmtree(work, ignore_errors=True)


def export_fp32(model: Any, target: Path) -> None:
    """Export a loaded SentenceTransformer's transformer to `target` (in float32), unless another process did.

    Traced with eager attention (put back afterwards), which the int8 build's optimizer can fuse.
    """

    def build(work: Path) -> None:
        import torch  # the caller has the torch model loaded already

        auto_model = model[0].auto_model
        if auto_model.dtype != torch.float32:  # rounded weights would be exported as if they were the model's
            raise ValueError(f"the float32 export needs a float32 model, not {auto_model.dtype}")
        attention = auto_model.config._attn_implementation
        transformer = _traceable(auto_model).eval()
        example = tuple(torch.ones((1, 4), dtype=torch.int64) for _ in _INPUTS)
        axes = {name: {0: "batch", 1: "tokens"} for name in (*_INPUTS, "last_hidden_state")}
        try:
            auto_model.set_attn_implementation("eager")
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracing notes
                torch.onnx.export(transformer, example, str(work / target.name), input_names=list(_INPUTS),
                                  output_names=["last_hidden_state"], dynamic_axes=axes, opset_version=17,
                                  dynamo=False)  # fmt: skip
        finally:
            auto_model.set_attn_implementation(attention)

    _build_once(target, build)


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


def quantise_int8(fp32: Path, target: Path, heads: int, hidden: int) -> None:
    """Fuse and quantise the float32 export `fp32` into `target` (int8 weights), unless another process did."""

    def build(work: Path) -> None:
        import onnx

        with _quiet_quantiser():
            from onnxruntime.quantization import QuantType, quantize_dynamic
            from onnxruntime.transformers.optimizer import optimize_model

            fused = work / "fused.onnx"
            optimize_model(str(fp32), model_type="bert", num_heads=heads, hidden_size=hidden,
                           opt_level=0).save_model_to_file(str(fused))  # fmt: skip
            quantize_dynamic(str(fused), str(work / target.name), weight_type=QuantType.QInt8, per_channel=True,
                             extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})  # fmt: skip
            fused.unlink()

    _build_once(target, build)


@contextmanager
def _quiet_quantiser() -> Iterator[None]:
    """Hide the quantiser's advice and warnings; put back the root logger, which it configures when imported
    (`logging.basicConfig`: every library's debug messages, bm25s sets DEBUG, would reach stderr)."""
    root = logging.getLogger()
    saved = root.level, root.handlers[:]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            root.setLevel(logging.ERROR)
            yield
    finally:
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]


@lru_cache(maxsize=8)
def runtime(onnx_path: str, tokenizer_path: str, window: int, threads: int = 0) -> Runtime:
    """One onnxruntime session and tokenizer per export and thread count, shared by the whole process.

    `threads` 0 is onnxruntime's default (one per physical core); questions use 1 (see embedder.one_torch_thread).
    """
    import onnxruntime
    from tokenizers import Tokenizer

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])
    tokenizer = Tokenizer.from_file(tokenizer_path)
    tokenizer.no_padding()
    tokenizer.enable_truncation(window)  # the model's window, special tokens included, as sentence-transformers
    return session, tokenizer


def encode(runtime_: Runtime, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
    """Unit-length float32 vectors, one row per text, in batches of texts of similar length (as
    sentence-transformers sorts them), each padded to its longest text."""
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    vectors: list[np.ndarray] = []
    order: list[int] = []
    for batch, (hidden, mask) in _batches(runtime_, texts, batch_size):
        order += [index for index, _ in batch]
        pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        norms = np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)  # torch's F.normalize eps
        vectors.append(pooled / norms)
    out = np.empty((len(texts), vectors[0].shape[1]), dtype=np.float32)
    out[order] = np.vstack(vectors)
    return out


def token_vectors(runtime_: Runtime, texts: Sequence[str], batch_size: int = 32) -> list[TokenRows]:
    """Each text's contextual token vectors (special tokens included, padding not) and each token's character
    span in the text ((0, 0) for special tokens), from the same batches as `encode`."""
    out: list[TokenRows] = [(np.zeros((0, 0), np.float32), [])] * len(texts)
    for batch, (hidden, mask) in _batches(runtime_, texts, batch_size):
        for row, (index, encoding) in enumerate(batch):
            out[index] = (np.ascontiguousarray(hidden[row, : int(mask[row].sum())]), list(encoding.offsets))
    return out


def _batches(
    runtime_: Runtime, texts: Sequence[str], batch_size: int
) -> Iterator[tuple[list[tuple[int, Any]], tuple[np.ndarray, np.ndarray]]]:
    """Texts sorted by token count, longest first, in padded batches: ([(index, encoding)], (hidden, mask))."""
    session, tokenizer = runtime_
    encodings = tokenizer.encode_batch(list(texts))
    order = np.argsort([-len(e.ids) for e in encodings], kind="stable")
    for start in range(0, len(order), batch_size):
        batch = [(int(i), encodings[i]) for i in order[start : start + batch_size]]
        yield batch, _forward(session, [e for _, e in batch])


def inputs(encodings: Sequence[Any]) -> dict[str, np.ndarray]:
    """A BERT model's three int64 inputs for tokenizers encodings, each padded with zeros to the longest."""
    width = max(len(e.ids) for e in encodings)
    feeds = {name: np.zeros((len(encodings), width), dtype=np.int64) for name in _INPUTS}
    for row, e in enumerate(encodings):
        feeds["input_ids"][row, : len(e.ids)] = e.ids
        feeds["attention_mask"][row, : len(e.ids)] = e.attention_mask
        feeds["token_type_ids"][row, : len(e.ids)] = e.type_ids
    return feeds


def _forward(session: Any, encodings: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """One padded batch: the last hidden state (float32) and the attention mask (float32, batch × tokens × 1)."""
    feeds = inputs(encodings)
    hidden = np.asarray(session.run(None, feeds)[0], dtype=np.float32)
    return hidden, feeds["attention_mask"][..., None].astype(np.float32)
