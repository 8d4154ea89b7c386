"""The SQLite store on its own: one transaction per write, generations, identities, span reads, migrations."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import qa_app
from qa_app.chunking import chunk_text, sentence_spans
from qa_app.documents import make_document
from qa_app.errors import IndexMismatchError, NotFoundError
from qa_app.store import SCHEMA_VERSION, NewDocument, Store


def _new(text: str, source: str, identity: str = "") -> NewDocument:
    doc = make_document(title=text.split(".")[0], text=text, source=source)
    doc = doc if not identity else type(doc)(**{**doc.__dict__, "identity": identity})
    chunks = chunk_text(doc.text)
    spans = sentence_spans(doc.text)
    rng = np.random.default_rng(len(text))
    return NewDocument(doc, chunks, rng.random((len(chunks), 8), dtype=np.float32), spans,
                       rng.random((len(spans), 8), dtype=np.float32), rng.random(8, dtype=np.float32))  # fmt: skip


def test_writes_bump_the_generation_and_return_what_changed(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite")
    assert store.generation() == 0
    first = store.write(add=[_new("Harbor bridge closes. Ferries run.", "a.txt")])
    assert first.generation == 1 and len(first.added_ids) == first.added_vectors.shape[0] == 1
    doc_id = store.documents()[0].doc_id
    second = store.write(remove=[doc_id])
    assert second.generation == 2 and second.removed_ids.tolist() == first.added_ids.tolist()
    assert store.counts() == (0, 0) and store.vectors()[0].size == 0
    with pytest.raises(NotFoundError):
        store.document(doc_id)
    store.close()


def test_spans_sentence_vectors_and_identity_round_trip(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite")
    item = _new("The council met on Monday. It approved the budget.", "b.txt", identity="/data/b.txt")
    store.write(add=[item])
    doc = store.document(item.document.doc_id)
    assert doc.identity == "/data/b.txt" and doc.key == "/data/b.txt"
    assert store.doc_ids_with_identity("/data/b.txt") == [doc.doc_id] and store.doc_ids_with_identity("b.txt") == []
    start, end = sentence_spans(doc.text)[1]
    assert store.span_text(doc.doc_id, start, end) == "It approved the budget."
    assert store.span_text("no-such-doc", 0, 5) is None
    sentences, titles = store.sentence_vectors([doc.doc_id])
    assert len(sentences) == 2 and set(titles) == {doc.doc_id}
    assert np.allclose(sentences[(doc.doc_id, start, end)], item.sentence_vectors[1], atol=1e-3)  # float16
    store.close()


def test_documents_added_in_the_same_second_list_in_the_order_they_were_written(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite")
    items = [_new(f"Story number {n} about the harbor.", f"{n}.txt") for n in range(6)]
    items = [replace(i, document=replace(i.document, added_at="2026-12-01T10:00:00+00:00")) for i in items]
    assert sorted(i.document.doc_id for i in items) != [i.document.doc_id for i in items]  # ids alone would reorder
    for item in items:
        store.write(add=[item])
    assert [d.source for d in store.documents()] == [f"{n}.txt" for n in range(6)]
    store.close()


def test_a_failed_write_changes_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite")
    store.write(add=[_new("Harbor bridge closes.", "a.txt")])
    with pytest.raises(sqlite3.IntegrityError):  # the same document twice in one transaction
        store.write(add=[_new("Wheat harvest record.", "w.txt"), _new("Wheat harvest record.", "w.txt")])
    assert store.counts()[0] == 1 and store.generation() == 1
    store.close()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite")
    store.check_model("some-model", 8)
    assert store.meta("schema_version") is None  # SQLite's user_version is the one record of the schema version
    store.close()
    with sqlite3.connect(tmp_path / "db.sqlite") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(IndexMismatchError, match="newer than this qa_app"):
        Store(tmp_path / "db.sqlite")


def test_each_write_records_the_package_version_in_the_manifest(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite")
    assert store.meta("qa_app_version") is None
    store.write(add=[_new("Harbor bridge closes.", "a.txt")])
    assert store.meta("qa_app_version") == qa_app.__version__
    with sqlite3.connect(tmp_path / "db.sqlite") as db:
        db.execute("UPDATE meta SET value = '0.0.1' WHERE key = 'qa_app_version'")
    store.write(remove=[store.documents()[0].doc_id])
    assert store.meta("qa_app_version") == qa_app.__version__  # the last writer's
    store.close()
