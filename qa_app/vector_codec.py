"""How sentence and title vectors are stored: float16 (the default) or int8 with a per-vector scale.

The stored bytes say which: a float16 vector of dimension d takes 2·d bytes, an int8 one d bytes of codes then
its float16 scale (d + 2 bytes: 386 instead of 768 for MiniLM). So an index written under either setting, or
both, reads back without a record of which (benchmarks/index_bytes.py measures both on the news set).
"""

from __future__ import annotations

import numpy as np

from qa_app.errors import ConfigError

SENTENCE_FORMATS = ("float16", "int8")


def check_format(name: str) -> str:
    """The format `name` names, or ConfigError saying which ones exist."""
    if name not in SENTENCE_FORMATS:
        raise ConfigError(f"QA_APP_SENTENCE_VECTORS={name!r} is unknown; use one of {', '.join(SENTENCE_FORMATS)}")
    return name


def encode(vector: np.ndarray, fmt: str = "float16") -> bytes:
    """The stored bytes of one vector in format `fmt`."""
    if fmt == "float16":
        return vector.astype(np.float16).tobytes()
    scale = np.float16(max(float(np.abs(vector).max()) / 127.0, 1e-4))  # a floor float16 holds: zero stays zero
    codes = np.clip(np.rint(vector / np.float32(scale)), -127, 127).astype(np.int8)
    return codes.tobytes() + scale.tobytes()


def decode(blob: bytes, dimension: int) -> np.ndarray:
    """A stored vector as float32, whichever format wrote it (told apart by length, see the module docstring)."""
    if len(blob) == dimension + 2 and dimension != 2:
        codes = np.frombuffer(blob[:dimension], dtype=np.int8).astype(np.float32)
        return codes * np.float32(np.frombuffer(blob[dimension:], dtype=np.float16)[0])
    return np.frombuffer(blob, dtype=np.float16).astype(np.float32)
