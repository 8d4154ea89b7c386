"""The registry of derived file kinds in an index directory: each file's name starts with its kind.

SQLite's database (`config.DB_NAME`) is the truth; these files can always be rebuilt from it. A file being
written is named "." + its kind and ends in ".tmp" until it is renamed into place.
"""

from __future__ import annotations

from pathlib import Path

VECTORS = "vectors-"  # vectors-<generation>.faiss
BM25 = "bm25-"  # bm25-<generation>: the BM25 state (delta segment, removed ids) naming its main segment
BM25_MAIN = "bm25main-"  # bm25main-<generation>: the main BM25 segment, kept while deltas pile up
FILE_KINDS = (VECTORS, BM25, BM25_MAIN)


def vector_file(index_dir: Path, generation: int) -> Path:
    """The FAISS file of `generation`."""
    return index_dir / f"{VECTORS}{generation}.faiss"


def vector_generations(index_dir: Path) -> list[int]:
    """The generations whose FAISS file is in `index_dir`."""
    numbers = (path.name[len(VECTORS) : -len(".faiss")] for path in index_dir.glob(f"{VECTORS}*.faiss"))
    return [int(number) for number in numbers if number.isdigit()]


def lexical_file(index_dir: Path, generation: int) -> Path:
    """The BM25 state of `generation`."""
    return index_dir / f"{BM25}{generation}"


def main_segment_name(generation: int) -> str:
    """The folder name of a main BM25 segment built at `generation`."""
    return f"{BM25_MAIN}{generation}"


def is_index_file(name: str) -> bool:
    """Whether a file name in an index directory is a derived index file, or a temporary one being written."""
    return name.startswith(FILE_KINDS + tuple(f".{kind}" for kind in FILE_KINDS))


def temporary_files(index_dir: Path) -> list[Path]:
    """Temporary files and folders of writers killed mid-save."""
    return list(index_dir.glob(".*.tmp"))
