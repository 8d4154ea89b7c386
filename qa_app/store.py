"""SQLite storage, the source of truth: documents, chunks with their vectors, and index metadata."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from qa_app import vector_codec
from qa_app.errors import DiskFullError, IndexMismatchError, NotFoundError, ReadOnlyIndexError, StorageError
from qa_app.filter_sql import filter_sql
from qa_app.records import Chunk, ChunkSpan, Document, DocumentInfo, Feedback, SearchFilters, Span
from qa_app.schema import SCHEMA_VERSION, upgrade
from qa_app.storage_errors import disk_full_message, disk_is_full, read_only_message, storage_error
from qa_app.version import __version__

log = logging.getLogger(__name__)

# pages of new databases: half SQLite's default, so 2-3 KB article rows and one-page tables waste less (README,
# Index size); databases written before keep theirs
PAGE_SIZE = 2048


@dataclass(frozen=True)
class NewDocument:
    """A document ready to store: its chunks and one vector per chunk."""

    document: Document
    chunks: Sequence[ChunkSpan]
    vectors: np.ndarray
    sentences: Sequence[Span] = ()
    sentence_vectors: np.ndarray | None = None
    title_vector: np.ndarray | None = None


@dataclass(frozen=True)
class ChunkRow:
    """A stored chunk with its text and the details of its document."""

    chunk: Chunk
    text: str
    title: str
    source: str
    published_at: str | None
    page_starts: tuple[int, ...]


@dataclass(frozen=True)
class WriteResult:
    """What one write transaction changed."""

    generation: int
    added_ids: np.ndarray
    added_vectors: np.ndarray
    removed_ids: np.ndarray


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Store:
    """One SQLite database in WAL mode; safe to share between threads."""

    def __init__(self, path: Path, sentence_format: str = "float16") -> None:
        self.path = path
        self.sentence_format = vector_codec.check_format(sentence_format)  # how new sentence vectors are written
        self._lock = threading.RLock()
        # a directory this process cannot write to (a read-only mount, no permission) is opened for reading only
        read_only = not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK))
        self._refusal: StorageError | None = ReadOnlyIndexError(read_only_message(path.parent)) if read_only else None
        with self._translated():
            self._db = self._open_read_only() if read_only else self._open_for_writing()
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()

    @property
    def read_only(self) -> bool:
        """Whether this store was opened for reading only (read-only directory, or no space for SQLite's files)."""
        return self._refusal is not None

    def _open_for_writing(self) -> sqlite3.Connection:
        try:
            return self._open()
        except sqlite3.OperationalError as exc:  # a full disk: no room for the WAL's shared-memory file
            if not self.path.exists() or not disk_is_full(self.path.parent):
                raise
            log.warning("%s: opened for reading only (%s)", self.path, exc)
            self._refusal = DiskFullError(disk_full_message(self.path))
            return self._open_read_only()

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=60)
        db.execute(f"PRAGMA page_size={PAGE_SIZE}")  # takes effect in a new database only (before WAL is on)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        return db

    def _open_read_only(self) -> sqlite3.Connection:
        """Read-only; `immutable` when SQLite cannot even create its shared-memory file beside the database."""
        if not self.path.exists():
            raise ReadOnlyIndexError(f"{self.path.parent} holds no index and is read-only; use another --index-dir")
        uri = self.path.resolve().as_uri()
        try:
            db = sqlite3.connect(f"{uri}?mode=ro", uri=True, check_same_thread=False, isolation_level=None)
            db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            return db
        except sqlite3.OperationalError:
            return sqlite3.connect(f"{uri}?immutable=1", uri=True, check_same_thread=False, isolation_level=None)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """SQLite's damaged, full and read-only errors as one-line `StorageError`s that say what to do."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            error = storage_error(exc, self.path)
            if error is None:
                raise
            raise error from exc

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        if self._refusal is not None:
            raise self._refusal
        with self._lock, self._translated():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:  # SQLite has already rolled back after some errors (a full disk)
                    self._db.execute("ROLLBACK")
                raise

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        self._check_not_newer(version)  # before the read-only check: a read-only store cannot open a transaction
        if self.read_only and version < SCHEMA_VERSION:
            raise ReadOnlyIndexError(f"the index in {self.path.parent} needs an upgrade (schema {version}) and is "
                                     "read-only; open it once with write access")  # fmt: skip
        if version == SCHEMA_VERSION:
            return
        with self._transaction() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]  # another process may have upgraded it
            self._check_not_newer(version)
            upgrade(db, version)

    def _check_not_newer(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise IndexMismatchError(
                f"{self.path} has schema version {version}, newer than this qa_app "
                f"({SCHEMA_VERSION}); upgrade qa_app or use another --index-dir"
            )

    def _query(self, sql: str, params: Sequence = ()) -> list[tuple]:
        with self._lock, self._translated():
            return self._db.execute(sql, params).fetchall()

    def meta(self, key: str) -> str | None:
        rows = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def generation(self) -> int:
        return int(self.meta("generation") or 0)

    def check_model(self, model: str, dimension: int | None = None) -> None:
        """Refuse an index built by another model; record the model on first use."""
        recorded = self.meta("model")
        if recorded is not None and recorded != model:
            raise IndexMismatchError(
                f"the index in {self.path.parent} was built with model {recorded!r}, not {model!r}; "
                f"set QA_APP_EMBEDDING_MODEL={recorded} or use another --index-dir"
            )
        recorded_dim = self.meta("dimension")
        if dimension is not None and recorded_dim is not None and int(recorded_dim) != dimension:
            raise IndexMismatchError(
                f"the index in {self.path.parent} holds {recorded_dim}-dimensional vectors, "
                f"model {model!r} makes {dimension}; use another --index-dir"
            )
        if dimension is not None and recorded is None:
            with self._transaction() as db:
                db.execute("INSERT OR REPLACE INTO meta VALUES ('model', ?)", (model,))
                db.execute("INSERT OR REPLACE INTO meta VALUES ('dimension', ?)", (str(dimension),))

    def sentence_vectors_from(self, wanted: str) -> str:
        """How this index's sentence vectors are made (`QA_APP_SENTENCE_VECTORS_FROM`): as recorded at its first
        write; `sentences` for an index written before the record (the only way then); `wanted` while empty."""
        recorded = self.meta("sentence_vectors_from")
        if recorded is not None:
            return recorded
        return "sentences" if self.counts()[0] else wanted

    def check_sentence_vectors(self, made_from: str) -> None:
        """Refuse sentence vectors made another way than the index's; record the way on first write."""
        recorded = self.sentence_vectors_from(made_from)
        if recorded != made_from:
            raise IndexMismatchError(
                f"the index in {self.path.parent} holds sentence vectors made from {recorded}, not {made_from} "
                f"(QA_APP_SENTENCE_VECTORS_FROM); use another --index-dir"
            )
        if self.meta("sentence_vectors_from") is None:
            with self._transaction() as db:
                db.execute("INSERT OR REPLACE INTO meta VALUES ('sentence_vectors_from', ?)", (made_from,))

    def write(self, add: Sequence[NewDocument] = (), remove: Sequence[str] = ()) -> WriteResult:
        """Add and remove documents in one transaction that also bumps the generation."""
        added_ids: list[int] = []
        vectors: list[np.ndarray] = []
        with self._transaction() as db:
            removed = [
                row[0] for doc_id in remove for row in db.execute("SELECT id FROM chunks WHERE doc_id = ?", (doc_id,))
            ]
            db.executemany("DELETE FROM documents WHERE doc_id = ?", [(doc_id,) for doc_id in remove])
            for item in add:
                doc = item.document
                title_vector = (
                    None if item.title_vector is None else vector_codec.encode(item.title_vector, self.sentence_format)
                )
                db.execute(
                    "INSERT INTO documents (doc_id, title, text, source, published_at, added_at, metadata, page_starts,"
                    " title_vector, identity) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        doc.doc_id, doc.title, doc.text, doc.source, doc.published_at, doc.added_at or _now(),
                        json.dumps(doc.metadata, ensure_ascii=False), json.dumps(list(doc.page_starts)), title_vector,
                        doc.key,
                    ),
                )  # fmt: skip
                if item.sentence_vectors is not None and len(item.sentences):
                    if len(item.sentences) != len(item.sentence_vectors):
                        raise ValueError(f"{len(item.sentences)} sentences, {len(item.sentence_vectors)} vectors")
                    db.execute(
                        "INSERT INTO sentence_vectors VALUES (?, ?, ?)",
                        (doc.doc_id, vector_codec.pack_spans(item.sentences),
                         vector_codec.encode_many(item.sentence_vectors, self.sentence_format)),
                    )  # fmt: skip
                for ordinal, (chunk, vector) in enumerate(zip(item.chunks, item.vectors, strict=True)):
                    row = (doc.doc_id, ordinal, chunk.start, chunk.end, json.dumps(chunk.sentences))
                    cursor = db.execute(
                        "INSERT INTO chunks (doc_id, ordinal, start, end, sentences, vector) VALUES (?, ?, ?, ?, ?, ?)",
                        (*row, vector_codec.encode_chunk(vector)),
                    )
                    added_ids.append(int(cursor.lastrowid))
                vectors.append(vector_codec.as_stored(item.vectors))  # FAISS gets what SQLite holds
            generation = int(db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0]) + 1
            db.execute("UPDATE meta SET value = ? WHERE key = 'generation'", (str(generation),))
            db.execute("INSERT OR REPLACE INTO meta VALUES ('qa_app_version', ?)", (__version__,))  # the last writer
        dim = vectors[0].shape[1] if vectors else 0
        return WriteResult(
            generation,
            np.array(added_ids, dtype=np.int64),
            np.vstack(vectors) if vectors else np.zeros((0, dim), dtype=np.float32),
            np.array(removed, dtype=np.int64),
        )

    def has_document(self, doc_id: str) -> bool:
        return bool(self._query("SELECT 1 FROM documents WHERE doc_id = ?", (doc_id,)))

    def doc_ids_with_identity(self, identity: str) -> list[str]:
        """The documents stored as versions of the same article (see `Document.key`)."""
        return [row[0] for row in self._query("SELECT doc_id FROM documents WHERE identity = ?", (identity,))]

    def documents(self) -> list[DocumentInfo]:
        rows = self._query(
            "SELECT d.doc_id, d.title, d.source, d.published_at, d.added_at, COUNT(c.id),"
            " json_extract(d.metadata, '$.outlet'), json_extract(d.metadata, '$.date_source') FROM documents d "
            "LEFT JOIN chunks c ON c.doc_id = d.doc_id GROUP BY d.doc_id ORDER BY d.added_at, MIN(c.id), d.doc_id"
        )
        return [DocumentInfo(*row) for row in rows]

    def document(self, doc_id: str) -> Document:
        rows = self._query(
            "SELECT doc_id, title, text, source, published_at, added_at, metadata, page_starts, identity "
            "FROM documents WHERE doc_id = ?",
            (doc_id,),
        )
        if not rows:
            raise NotFoundError(f"no document with id {doc_id!r}; `qa-app list` shows the ids")
        doc_id, title, text, source, published_at, added_at, metadata, pages, identity = rows[0]
        return Document(doc_id, title, text, source, published_at, added_at, json.loads(metadata),
                        tuple(json.loads(pages)), identity or "")  # fmt: skip

    def _rows_for_chunks(self, select: str, ids: Sequence[int]) -> list[tuple]:
        """Rows of `select` (a query over chunks `c`) for the chunk ids `ids`, asked in batches of 500."""
        rows: list[tuple] = []
        for first in range(0, len(ids), 500):
            batch = [int(i) for i in ids[first : first + 500]]
            rows += self._query(f"{select} WHERE c.id IN ({','.join('?' * len(batch))})", batch)
        return rows

    def chunks(self, ids: Sequence[int]) -> dict[int, ChunkRow]:
        """Chunks by id, with their text and their document's details."""
        rows = self._rows_for_chunks(
            "SELECT c.id, c.doc_id, c.ordinal, c.start, c.end, c.sentences, d.title, d.source, d.published_at,"
            " d.page_starts, substr(d.text, c.start + 1, c.end - c.start)"
            " FROM chunks c JOIN documents d ON d.doc_id = c.doc_id",
            ids,
        )
        found: dict[int, ChunkRow] = {}
        for cid, doc_id, ordinal, start, end, sentences, title, source, published, pages, text in rows:
            chunk = Chunk(cid, doc_id, ordinal, start, end, tuple(tuple(s) for s in json.loads(sentences)))
            found[cid] = ChunkRow(chunk, text, title, source, published, tuple(json.loads(pages)))
        return found

    def vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """All chunk ids and their vectors, to rebuild the FAISS index."""
        rows = self._query("SELECT id, vector FROM chunks ORDER BY id")
        dim = int(self.meta("dimension") or 0)
        ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
        return ids, vector_codec.decode_chunks([row[1] for row in rows], dim)

    def sentence_vectors(self, doc_ids: Sequence[str]) -> tuple[dict[tuple[str, int, int], np.ndarray], dict]:
        """Stored sentence vectors keyed by (doc_id, start, end), and title vectors keyed by doc_id."""
        marks = ",".join("?" * len(doc_ids))
        rows = self._query(f"SELECT doc_id, spans, vectors FROM sentence_vectors WHERE doc_id IN ({marks})", doc_ids)
        dim = int(self.meta("dimension") or 0)
        sentences: dict[tuple[str, int, int], np.ndarray] = {}
        for doc_id, packed, blob in rows:
            spans = vector_codec.unpack_spans(packed)
            vectors = vector_codec.decode_many(blob, len(spans), dim)
            sentences.update(
                ((doc_id, start, end), vector) for (start, end), vector in zip(spans, vectors, strict=True)
            )
        rows = self._query(f"SELECT doc_id, title_vector FROM documents WHERE doc_id IN ({marks})", doc_ids)
        titles = {d: vector_codec.decode(v, dim) for d, v in rows if v is not None}
        return sentences, titles

    def chunk_texts(self, ids: Sequence[int] | None = None) -> tuple[np.ndarray, list[str]]:
        """Chunk ids with their title and text, for the lexical index: all of them, or those of `ids`, by id."""
        select = (
            "SELECT c.id, d.title || char(10) || substr(d.text, c.start + 1, c.end - c.start)"
            " FROM chunks c JOIN documents d ON d.doc_id = c.doc_id"
        )
        rows = self._query(f"{select} ORDER BY c.id") if ids is None else sorted(self._rows_for_chunks(select, ids))
        return np.array([row[0] for row in rows], dtype=np.int64), [row[1] for row in rows]

    def chunk_ids_matching(self, filters: SearchFilters) -> np.ndarray:
        """Ids of the chunks whose document passes `filters` (every chunk when nothing is filtered)."""
        clauses, params = filter_sql(filters)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._query(f"SELECT c.id FROM chunks c JOIN documents d ON d.doc_id = c.doc_id{where}", params)
        return np.array([row[0] for row in rows], dtype=np.int64)

    def span_text(self, doc_id: str, start: int, end: int) -> str | None:
        """`document.text[start:end]`, read from the database (to check citations)."""
        rows = self._query(
            "SELECT substr(text, ? + 1, ? - ?) FROM documents WHERE doc_id = ?", (start, end, start, doc_id)
        )
        return rows[0][0] if rows else None

    def add_feedback(self, question: str, answer: str, citations: list[dict], rating: int) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO feedback (created_at, question, answer, citations, rating) VALUES (?, ?, ?, ?, ?)",
                (_now(), question, answer, json.dumps(citations, ensure_ascii=False), rating),
            )

    def feedback(self) -> list[Feedback]:
        """Every stored rating, oldest first."""
        rows = self._query("SELECT created_at, question, answer, citations, rating FROM feedback ORDER BY id")
        return [Feedback(at, q, a, json.loads(c), r) for at, q, a, c, r in rows]

    def counts(self) -> tuple[int, int]:
        """Number of documents and of chunks."""
        docs = self._query("SELECT COUNT(*) FROM documents")[0][0]
        chunks = self._query("SELECT COUNT(*) FROM chunks")[0][0]
        return int(docs), int(chunks)
