"""How vectors are stored: sentence and title vectors float16 or int8 with a per-vector scale, chunk vectors float16.

The stored bytes say which: a float16 vector of dimension d takes 2·d bytes, an int8 one d bytes of codes then
its float16 scale (d + 2 bytes: 386 instead of 768 for MiniLM). So an index written under either setting, or
both, reads back without a record of which (benchmarks/index_bytes.py measures both on the news set).

An article's sentence vectors are stored in one row, one after another (`encode_many`), beside their spans
packed as int32 (start, end) pairs (`pack_spans`): one row per article instead of one per sentence.

Chunk vectors are written as float16 (2·d bytes) and the FAISS file, derived from them, holds the same values
widened back to float32 (`as_stored`), so a rebuild from SQLite gives the index a write made. Chunk rows of
indexes written before are float32 (4·d bytes) and read as they are.
"""

from __future__ import annotations

from collections.abc import Sequence

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


def encode_many(vectors: np.ndarray, fmt: str = "float16") -> bytes:
    """The stored bytes of several vectors in format `fmt`, one after another (each as `encode` writes it)."""
    return b"".join(encode(vector, fmt) for vector in vectors)


def decode_many(blob: bytes, count: int, dimension: int) -> np.ndarray:
    """`count` vectors written by `encode_many` as a float32 matrix, each row as `decode` reads it."""
    if not count:
        return np.zeros((0, dimension), dtype=np.float32)
    width, rest = divmod(len(blob), count)
    if rest:
        raise ValueError(f"{len(blob)} bytes do not hold {count} vectors of one size")
    if width == dimension + 2 and dimension != 2:
        rows = np.frombuffer(blob, dtype=np.uint8).reshape(count, width)
        scales = rows[:, dimension:].copy().view(np.float16).astype(np.float32)
        return rows[:, :dimension].view(np.int8).astype(np.float32) * scales
    return np.frombuffer(blob, dtype=np.float16).reshape(count, width // 2).astype(np.float32)


def pack_spans(spans: Sequence[tuple[int, int]]) -> bytes:
    """Sentence spans as the int32 (start, end) pairs stored beside their vectors."""
    return np.asarray(spans, dtype="<i4").reshape(-1, 2).tobytes()


def unpack_spans(blob: bytes) -> list[tuple[int, int]]:
    """The spans `pack_spans` stored."""
    return [(start, end) for start, end in np.frombuffer(blob, dtype="<i4").reshape(-1, 2).tolist()]


def encode_chunk(vector: np.ndarray) -> bytes:
    """The stored bytes of one chunk vector (float16)."""
    return vector.astype(np.float16).tobytes()


def as_stored(vectors: np.ndarray) -> np.ndarray:
    """Chunk vectors as they read back from SQLite (float16 values as float32): what FAISS is given."""
    return np.asarray(vectors, dtype=np.float32).astype(np.float16).astype(np.float32)


def chunk_row_lengths(dimension: int) -> tuple[int, int]:
    """The byte lengths a chunk vector row may have: float16 (written now) and float32 (written before)."""
    return 2 * dimension, 4 * dimension


def decode_chunks(blobs: Sequence[bytes], dimension: int) -> np.ndarray:
    """Stored chunk vectors as one float32 matrix, rows float16 or float32 (told apart by length)."""
    lengths = np.fromiter(map(len, blobs), dtype=np.int64, count=len(blobs))
    matrix = np.empty((len(blobs), dimension), dtype=np.float32)
    known = np.zeros(len(blobs), dtype=bool)
    for length, dtype in zip(chunk_row_lengths(dimension), (np.float16, np.float32), strict=True):
        rows = np.flatnonzero(lengths == length)
        known[rows] = True
        if len(rows):
            matrix[rows] = np.frombuffer(b"".join(blobs[i] for i in rows), dtype=dtype).reshape(len(rows), dimension)
    if not known.all():
        raise ValueError(f"{int((~known).sum())} chunk vectors are not {dimension}-dimensional")
    return matrix
