"""Chunk vectors stored once at float16: FAISS holds exactly what SQLite holds, and older float32 rows still work."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from qa_app import vector_codec
from qa_app.config import DB_NAME, Settings
from qa_app.integrity import check_index
from qa_app.library import Library
from qa_app.records import Document
from tests.articles import titled_document
from tests.fakes import HashingEmbedder

DIM = HashingEmbedder().dimension
TEXTS = {
    "Harbour reopens": "The harbour reopened on Monday after the storm. Ferries sail again at dawn.",
    "Bridge closes": "The old bridge closed for repairs. Traffic goes by the ring road until June.",
    "Wheat harvest": "Farmers began the wheat harvest early this year. Prices fell at the grain market.",
}


def _document(title: str) -> Document:
    return titled_document(title, TEXTS[title])


def _row_lengths(index_dir: Path) -> list[int]:
    with sqlite3.connect(index_dir / DB_NAME) as db:
        return [row[0] for row in db.execute("SELECT LENGTH(vector) FROM chunks ORDER BY id")]


def _faiss_vectors(library: Library) -> tuple[np.ndarray, np.ndarray]:
    vectors, _ = library._indexes()
    ids, held = vectors.stored()
    order = np.argsort(ids)
    return ids[order], held[order]


def test_chunk_vectors_are_float16_and_faiss_holds_the_same_values(tmp_path: Path) -> None:
    library = Library(Settings(index_dir=tmp_path / "index"), embedder=HashingEmbedder())
    library.add([_document("Harbour reopens"), _document("Bridge closes")])
    assert set(_row_lengths(library.index_dir)) == {2 * DIM}
    ids, stored = library.store.vectors()
    held_ids, held = _faiss_vectors(library)
    assert np.array_equal(ids, held_ids) and np.array_equal(stored, held)  # bit for bit, not merely close
    assert np.array_equal(stored, stored.astype(np.float16).astype(np.float32)) and np.abs(stored).max() > 0
    for path in library.index_dir.glob("vectors-*.faiss"):  # a rebuild from SQLite gives the same index
        path.unlink()
    reopened = Library(library.settings, embedder=HashingEmbedder())
    assert np.array_equal(_faiss_vectors(reopened)[1], held)
    assert check_index(reopened).problems == []
    assert reopened.search("ferries sail at dawn", k=1)[0].title == "Harbour reopens"


def test_an_index_with_float32_chunk_rows_reads_checks_and_grows(tmp_path: Path) -> None:
    """Rows written before chunk vectors were float16 (4·d bytes) read as they are, beside new float16 rows."""
    settings = Settings(index_dir=tmp_path / "index")
    old = Library(settings, embedder=HashingEmbedder())
    old.add([_document("Harbour reopens"), _document("Bridge closes")])
    expected = [p.chunk_id for p in old.search("ferries harbour", k=2)]
    old.close()
    with sqlite3.connect(settings.index_dir / DB_NAME) as db:  # the rows as an older version wrote them
        rows = db.execute("SELECT id, vector FROM chunks").fetchall()
        widened = [(np.frombuffer(v, dtype=np.float16).astype(np.float32).tobytes(), i) for i, v in rows]
        db.executemany("UPDATE chunks SET vector = ? WHERE id = ?", widened)
    for path in settings.index_dir.glob("vectors-*.faiss"):
        path.unlink()
    library = Library(settings, embedder=HashingEmbedder())
    assert set(_row_lengths(settings.index_dir)) == {4 * DIM}
    assert [p.chunk_id for p in library.search("ferries harbour", k=2)] == expected
    assert check_index(library).problems == []
    library.add([_document("Wheat harvest")])
    assert set(_row_lengths(settings.index_dir)) == {2 * DIM, 4 * DIM}
    assert np.array_equal(_faiss_vectors(library)[1], library.store.vectors()[1])
    assert check_index(library).problems == []
    assert library.search("wheat harvest grain", k=1)[0].title == "Wheat harvest"


def test_decode_chunks_reads_each_row_by_its_length() -> None:
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(3, DIM)).astype(np.float32)
    blobs = [vector_codec.encode_chunk(vectors[0]), vectors[1].tobytes(), vector_codec.encode_chunk(vectors[2])]
    decoded = vector_codec.decode_chunks(blobs, DIM)
    assert decoded.dtype == np.float32 and decoded.shape == (3, DIM)
    assert np.array_equal(decoded[1], vectors[1])
    assert np.array_equal(decoded[[0, 2]], vector_codec.as_stored(vectors[[0, 2]]))
    assert vector_codec.decode_chunks([], DIM).shape == (0, DIM)
    with pytest.raises(ValueError, match="1 chunk vectors are not 64-dimensional"):
        vector_codec.decode_chunks([*blobs, b"\x00" * DIM], DIM)
