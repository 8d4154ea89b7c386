"""Index bytes: one sentence row per article (schema 5, migrated from per-sentence rows with nothing lost),
2 KB pages in new databases, and float16 FAISS codes (files with float32 codes are read, then rebuilt)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import faiss
import numpy as np
import pytest

from qa_app import schema
from qa_app.config import DB_NAME, Settings
from qa_app.index_files import vector_file
from qa_app.integrity import check_index
from qa_app.library import Library
from qa_app.records import Document
from tests.articles import titled_document
from tests.fakes import HashingEmbedder
from tests.old_schema import sentences_per_row

TEXTS = {
    "Harbour reopens": "The harbour reopened on Monday after the storm. Ferries sail again at dawn. The mayor came.",
    "Bridge closes": "The old bridge closed for repairs. Traffic goes by the ring road until June.",
    "Wheat harvest": "Farmers began the wheat harvest early this year. Prices fell at the grain market.",
}


def _document(title: str) -> Document:
    return titled_document(title, TEXTS[title])


def _library(index_dir: Path, fmt: str = "int8") -> Library:
    return Library(Settings(index_dir=index_dir, sentence_vectors=fmt), embedder=HashingEmbedder())


def _everything(library: Library) -> dict:
    """What the index holds: documents, chunks with their vectors, sentence and title vectors, search results."""
    docs = [library.document(d.doc_id) for d in library.documents()]
    ids, vectors = library.store.vectors()
    sentences, titles = library.store.sentence_vectors([d.doc_id for d in docs])
    chunks = library.store.chunks(ids.tolist())
    return {
        "documents": docs,
        "chunks": [chunks[int(i)] for i in ids],
        "chunk_vectors": vectors.tobytes(),
        "sentences": {k: v.tobytes() for k, v in sentences.items()},
        "titles": {k: v.tobytes() for k, v in titles.items()},
        "search": [(p.chunk_id, round(p.score, 6)) for p in library.search("wheat harvest prices", k=3)],
    }


@pytest.fixture
def old_index(tmp_path: Path) -> tuple[Path, dict]:
    """An index at schema 4 (per-sentence rows, float16 and int8 ones), and what it held when it was written."""
    index_dir = tmp_path / "index"
    with_float16 = _library(index_dir, "float16")
    with_float16.add([_document("Harbour reopens")])
    with_float16.close()
    library = _library(index_dir)
    library.add([_document("Bridge closes"), _document("Wheat harvest")])
    written = _everything(library)
    library.close()
    db = sqlite3.connect(index_dir / DB_NAME, isolation_level=None)
    db.execute("BEGIN")
    sentences_per_row(db)
    db.execute("COMMIT")
    db.close()
    return index_dir, written


def _tables(db_path: Path) -> dict[str, str]:
    with sqlite3.connect(db_path) as db:
        return dict(db.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL").fetchall())


def test_the_old_index_is_really_schema_4(old_index, tmp_path: Path) -> None:
    index_dir, _ = old_index
    fresh = sqlite3.connect(tmp_path / "fresh.sqlite", isolation_level=None)
    fresh.execute("BEGIN")
    for migration in schema.MIGRATIONS[:4]:
        migration(fresh)
    fresh.execute("COMMIT")
    fresh.close()
    squash = {name: " ".join(sql.split()) for name, sql in _tables(tmp_path / "fresh.sqlite").items()}
    assert {name: " ".join(sql.split()) for name, sql in _tables(index_dir / DB_NAME).items()} == squash
    with sqlite3.connect(index_dir / DB_NAME) as db:
        lengths = {row[0] for row in db.execute("SELECT LENGTH(vector) FROM sentences")}
        assert db.execute("SELECT COUNT(*) FROM sentences").fetchone()[0] == 7
    assert lengths == {2 * 64, 64 + 2}  # float16 rows and int8 rows


def test_an_old_index_is_migrated_with_nothing_lost(old_index) -> None:
    index_dir, written = old_index
    library = _library(index_dir)
    assert _everything(library) == written
    assert check_index(library).problems == []
    with sqlite3.connect(index_dir / DB_NAME) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION == 5
        assert "sentences" not in _tables(index_dir / DB_NAME)
        assert db.execute("SELECT COUNT(*) FROM sentence_vectors").fetchone()[0] == 3
    library.add([Document(doc_id="d4", title="Ferry", text="A new ferry arrived. It seats 300.", source="f.txt")])
    library.remove(written["documents"][0].doc_id)
    sentences, _ = library.store.sentence_vectors([d.doc_id for d in written["documents"]] + ["d4"])
    assert {key[0] for key in sentences} == {"d4"} | {d.doc_id for d in written["documents"][1:]}
    library.close()


def test_a_migration_that_fails_leaves_the_old_index_as_it_was(old_index, monkeypatch) -> None:
    index_dir, written = old_index
    before = (index_dir / DB_NAME).read_bytes()

    def fail(*_: object) -> bytes:
        raise OSError("killed half way")

    monkeypatch.setattr(schema.vector_codec, "pack_spans", fail)
    with pytest.raises(OSError, match="killed half way"):
        _library(index_dir)
    monkeypatch.undo()
    with sqlite3.connect(index_dir / DB_NAME) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 4
        assert db.execute("SELECT COUNT(*) FROM sentences").fetchone()[0] == 7
    assert (index_dir / DB_NAME).read_bytes() == before
    library = _library(index_dir)
    assert _everything(library) == written
    library.close()


def test_new_databases_use_2_kb_pages(tmp_path: Path) -> None:
    library = _library(tmp_path / "index")
    library.add([_document("Wheat harvest")])
    library.close()
    with sqlite3.connect(tmp_path / "index" / DB_NAME) as db:
        assert db.execute("PRAGMA page_size").fetchone()[0] == 2048


def test_a_database_with_4_kb_pages_keeps_them(tmp_path: Path) -> None:
    (tmp_path / "index").mkdir()
    db = sqlite3.connect(tmp_path / "index" / DB_NAME)  # SQLite's default page size, as databases written before
    db.execute("PRAGMA page_size=4096")
    db.execute("CREATE TABLE t (x)")
    db.execute("DROP TABLE t")
    db.close()
    library = _library(tmp_path / "index")
    library.add([_document("Wheat harvest")])
    assert library.search("wheat harvest", k=1)
    library.close()
    with sqlite3.connect(tmp_path / "index" / DB_NAME) as db:
        assert db.execute("PRAGMA page_size").fetchone()[0] == 4096


def _code_size(path: Path) -> int:
    index = faiss.read_index(str(path))  # kept referenced while its parts are read
    mapped = faiss.downcast_index(index)
    return int(faiss.downcast_index(mapped.index).code_size)


def test_vector_files_hold_float16_and_older_float32_files_are_rebuilt(tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    library = _library(index_dir)
    library.add([_document(title) for title in TEXTS])
    generation = library.store.generation()
    path = vector_file(index_dir, generation)
    assert _code_size(path) == 2 * 64
    ids, vectors = library.store.vectors()
    held_ids, held = library._indexes()[0].stored()
    assert np.array_equal(held[np.argsort(held_ids)], vectors)  # FAISS holds what SQLite holds, bit for bit
    expected = [(p.chunk_id, p.score) for p in library.search("ferries at dawn", k=3)]
    library.close()
    old = faiss.IndexIDMap2(faiss.IndexFlatIP(64))  # the file as written before: float32 codes
    old.add_with_ids(vectors, ids)
    faiss.write_index(old, str(path))
    reopened = _library(index_dir)
    assert [(p.chunk_id, p.score) for p in reopened.search("ferries at dawn", k=3)] == expected
    assert _code_size(path) == 2 * 64  # rebuilt as float16 on load and saved
    assert check_index(reopened).problems == []
    reopened.close()
