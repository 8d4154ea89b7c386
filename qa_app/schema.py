"""The index database's schema: its migrations, in order; `user_version` counts those applied."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from qa_app import vector_codec


def _m001_create_tables(db: sqlite3.Connection) -> None:
    _run_script(
        db,
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE documents (
            doc_id TEXT PRIMARY KEY,
            title TEXT NOT NULL,
            text TEXT NOT NULL,
            source TEXT NOT NULL,
            published_at TEXT,
            added_at TEXT NOT NULL,
            metadata TEXT NOT NULL,
            page_starts TEXT NOT NULL
        );
        CREATE INDEX documents_source ON documents(source);
        CREATE TABLE chunks (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            doc_id TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
            ordinal INTEGER NOT NULL,
            start INTEGER NOT NULL,
            end INTEGER NOT NULL,
            sentences TEXT NOT NULL,
            vector BLOB NOT NULL
        );
        CREATE INDEX chunks_doc ON chunks(doc_id);
        INSERT INTO meta VALUES ('generation', '0');
        """,
    )


def _run_script(db: sqlite3.Connection, script: str) -> None:
    """Run statements one by one: `executescript` would commit the migration's transaction early."""
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def _m002_feedback(db: sqlite3.Connection) -> None:
    _run_script(
        db,
        """
        CREATE TABLE feedback (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            created_at TEXT NOT NULL,
            question TEXT NOT NULL,
            answer TEXT NOT NULL,
            citations TEXT NOT NULL,
            rating INTEGER NOT NULL CHECK (rating IN (-1, 1))
        );
        """,
    )


def _m003_sentence_vectors(db: sqlite3.Connection) -> None:
    """Sentence and title vectors computed at index time, so answering embeds only the question."""
    _run_script(
        db,
        """
        CREATE TABLE sentences (
            doc_id TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
            start INTEGER NOT NULL,
            end INTEGER NOT NULL,
            vector BLOB NOT NULL,
            PRIMARY KEY (doc_id, start, end)
        ) WITHOUT ROWID;
        ALTER TABLE documents ADD COLUMN title_vector BLOB;
        """,
    )


def _m004_identity(db: sqlite3.Connection) -> None:
    """What makes two versions one article (replacing one by the other): before, the bare source name."""
    _run_script(
        db,
        """
        ALTER TABLE documents ADD COLUMN identity TEXT;
        UPDATE documents SET identity = source;
        CREATE INDEX documents_identity ON documents(identity);
        """,
    )


def _m005_sentences_per_article(db: sqlite3.Connection) -> None:
    """An article's sentence spans and vectors in one row (was one row per sentence, keyed by text).

    Per-sentence rows took ~260 B of keys and part-full pages each (a document's rows went in at a random place in
    the key order); one row per article, appended, packs its vectors one after another (README, Index size). Every
    row is copied in document order inside the migration's transaction; the old table's pages become free pages
    that later writes reuse.
    """
    db.execute(
        "CREATE TABLE sentence_vectors (doc_id TEXT PRIMARY KEY REFERENCES documents(doc_id) ON DELETE CASCADE,"
        " spans BLOB NOT NULL, vectors BLOB NOT NULL)"
    )
    for (doc_id,) in db.execute("SELECT doc_id FROM documents ORDER BY rowid").fetchall():
        rows = db.execute(
            "SELECT start, end, vector FROM sentences WHERE doc_id = ? ORDER BY start, end", (doc_id,)
        ).fetchall()
        if rows:
            spans = vector_codec.pack_spans([(start, end) for start, end, _ in rows])
            db.execute("INSERT INTO sentence_vectors VALUES (?, ?, ?)", (doc_id, spans, b"".join(r[2] for r in rows)))
    db.execute("DROP TABLE sentences")


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _m001_create_tables, _m002_feedback, _m003_sentence_vectors, _m004_identity, _m005_sentences_per_article,
]  # fmt: skip
SCHEMA_VERSION = len(MIGRATIONS)  # the one record of it on disk is SQLite's user_version, set by each migration


def upgrade(db: sqlite3.Connection, version: int) -> None:
    """Apply the migrations after `version` inside the caller's transaction, recording each in `user_version`."""
    for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
        migration(db)
        db.execute(f"PRAGMA user_version = {number}")
