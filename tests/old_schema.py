"""Turn an index database back into schema 4, as indexes written before looked: one sentence row per sentence."""

from __future__ import annotations

import sqlite3

from qa_app import vector_codec

SCHEMA_4_SENTENCES = """CREATE TABLE sentences (
    doc_id TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (doc_id, start, end)
) WITHOUT ROWID"""  # migration 3's table, written by the store before migration 5


def sentences_per_row(db: sqlite3.Connection) -> None:
    """Replace the per-article `sentence_vectors` rows by schema 4's per-sentence rows (same bytes), and set
    `user_version` to 4. Call inside a transaction."""
    db.execute(SCHEMA_4_SENTENCES)
    for doc_id, spans, vectors in db.execute("SELECT doc_id, spans, vectors FROM sentence_vectors").fetchall():
        spans = vector_codec.unpack_spans(spans)
        width = len(vectors) // len(spans)
        db.executemany(
            "INSERT INTO sentences VALUES (?, ?, ?, ?)",
            [(doc_id, start, end, vectors[i * width : (i + 1) * width]) for i, (start, end) in enumerate(spans)],
        )
    db.execute("DROP TABLE sentence_vectors")
    db.execute("PRAGMA user_version = 4")
