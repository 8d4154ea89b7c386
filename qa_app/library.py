"""The façade the CLI and the UI talk to: one index directory, its documents and its search."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from qa_app.chunking import chunk_text
from qa_app.config import Settings, load_settings
from qa_app.documents import load_files
from qa_app.embedder import Embedder, SentenceTransformerEmbedder
from qa_app.errors import NotFoundError
from qa_app.index import VectorIndex
from qa_app.records import AddResult, Document, DocumentInfo, Passage
from qa_app.retrieval import dense_search
from qa_app.store import NewDocument, Store, WriteResult

log = logging.getLogger(__name__)

DB_NAME = "library.sqlite"
_WRITE_GROUP_CHUNKS = 128  # chunks embedded and committed together: bounds the work a crash can lose


@dataclass(frozen=True)
class Progress:
    """How far an `add` has got."""

    docs_done: int
    docs_total: int
    chunks_done: int
    chunks_total: int


ProgressCallback = Callable[[Progress], None]


def _embedding_text(title: str, chunk: str) -> str:
    """The title goes into every chunk's vector; offsets still point into the body only."""
    return f"{title}\n{chunk}"


class Library:
    """An index directory: SQLite (truth), FAISS (derived, tied by generation), write lock."""

    def __init__(self, settings: Settings | None = None, *, embedder: Embedder | None = None) -> None:
        self.settings = settings or load_settings()
        self.index_dir = Path(self.settings.index_dir)
        self.index_dir.mkdir(parents=True, exist_ok=True)
        self.embedder: Embedder = embedder or SentenceTransformerEmbedder(self.settings.embedding_model)
        self._store = Store(self.index_dir / DB_NAME)
        self._store.check_model(self.embedder.name)
        self._write_lock = FileLock(str(self.index_dir / ".write.lock"))
        self._lock = threading.RLock()
        self._vectors: VectorIndex | None = None
        self._generation = -1

    def close(self) -> None:
        self._store.close()

    # ---- reading -------------------------------------------------------------------------

    def documents(self) -> list[DocumentInfo]:
        """Every indexed document, without its text, oldest first."""
        return self._store.documents()

    def document(self, doc_id: str) -> Document:
        """One document with its full text and metadata."""
        return self._store.document(doc_id)

    def search(self, question: str, k: int | None = None) -> list[Passage]:
        """The `k` passages that best match `question`, best first."""
        vectors = self._current_vectors()
        return dense_search(self._store, vectors, self.embedder, question, k or self.settings.top_k)

    def counts(self) -> tuple[int, int]:
        """Number of documents and of chunks."""
        return self._store.counts()

    # ---- writing -------------------------------------------------------------------------

    def add(self, inputs: Iterable[Path | str | Document], progress: ProgressCallback | None = None) -> list[AddResult]:
        """Index files, folders and documents; one bad input is reported and the rest indexed."""
        inputs = list(inputs)
        paths = [Path(item) for item in inputs if not isinstance(item, Document)]
        loaded, failures = load_files(paths, max_bytes=self.settings.max_file_bytes)
        results = [AddResult(f.source, "failed", reason=f.reason) for f in failures]
        pending: list[Document] = []
        seen: set[str] = set()
        for doc in [item for item in inputs if isinstance(item, Document)] + loaded:
            if doc.doc_id in seen or self._store.has_document(doc.doc_id):
                results.append(AddResult(doc.source, "already indexed", doc.doc_id, doc.title))
            else:
                seen.add(doc.doc_id)
                pending.append(doc)
        chunked = [(doc, chunk_text(doc.text, target_words=self.settings.chunk_words,
                                    max_words=self.settings.max_chunk_words)) for doc in pending]  # fmt: skip
        total_chunks = sum(len(chunks) for _, chunks in chunked)
        docs_done = chunks_done = 0
        for group in _groups(chunked, _WRITE_GROUP_CHUNKS):
            texts = [_embedding_text(doc.title, doc.text[c.start : c.end]) for doc, chunks in group for c in chunks]
            vectors = self.embedder.embed(texts, batch_size=self.settings.embed_batch_size)
            new, offset = [], 0
            for doc, chunks in group:
                new.append(NewDocument(doc, chunks, vectors[offset : offset + len(chunks)]))
                offset += len(chunks)
            results.extend(self._write_new(new))
            docs_done += len(group)
            chunks_done += offset
            if progress:
                progress(Progress(docs_done, len(chunked), chunks_done, total_chunks))
        return results

    def remove(self, doc_id: str) -> DocumentInfo:
        """Delete one document, its chunks and its vectors."""
        with self._write_lock, self._lock:
            info = next((d for d in self._store.documents() if d.doc_id == doc_id), None)
            if info is None:
                raise NotFoundError(f"no document with id {doc_id!r}; `qa-app list` shows the ids")
            self._apply(self._store.write(remove=[doc_id]))
        return info

    def _write_new(self, new: Sequence[NewDocument]) -> list[AddResult]:
        results: list[AddResult] = []
        with self._write_lock, self._lock:
            fresh: list[NewDocument] = []
            replaced: set[str] = set()
            for item in new:
                doc = item.document
                if self._store.has_document(doc.doc_id):  # another writer got there first
                    results.append(AddResult(doc.source, "already indexed", doc.doc_id, doc.title))
                    continue
                older = set(self._store.doc_ids_with_source(doc.source)) - {doc.doc_id}
                replaced |= older
                fresh.append(item)
                status = "replaced" if older else "indexed"
                results.append(AddResult(doc.source, status, doc.doc_id, doc.title, len(item.chunks)))
            if fresh:
                self._store.check_model(self.embedder.name, int(fresh[0].vectors.shape[1]))
                self._current_vectors()
                self._apply(self._store.write(add=fresh, remove=sorted(replaced)))
        return results

    def _apply(self, change: WriteResult) -> None:
        """Bring the in-memory FAISS index to the new generation and save it under that generation."""
        vectors = self._vectors
        if vectors is None or self._generation != change.generation - 1:
            self._generation = -1
            vectors = self._current_vectors()
        else:
            vectors.remove(change.removed_ids)
            vectors.add(change.added_ids, change.added_vectors)
        self._generation = change.generation
        self._save(vectors, change.generation)

    # ---- the FAISS file ------------------------------------------------------------------

    def _vector_path(self, generation: int) -> Path:
        return self.index_dir / f"vectors-{generation}.faiss"

    def _current_vectors(self) -> VectorIndex:
        """The FAISS index matching the database now, loaded or rebuilt when the generation moved."""
        with self._lock:
            generation = self._store.generation()
            if self._vectors is not None and generation == self._generation:
                return self._vectors
            path = self._vector_path(generation)
            _, chunk_count = self._store.counts()
            vectors = VectorIndex.load(path) if path.exists() else None
            if vectors is None or len(vectors) != chunk_count or vectors.dimension != self._dimension():
                vectors = self._rebuild_vectors()
                if chunk_count:
                    log.warning(
                        "vector file for generation %d missing or stale; rebuilt it from %s", generation, DB_NAME
                    )
                    self._save_if_unlocked(vectors, generation)
            self._vectors, self._generation = vectors, generation
            return vectors

    def _dimension(self) -> int:
        """Vector size recorded by the first write (1 for a new, empty index: nothing to search)."""
        return int(self._store.meta("dimension") or 1)

    def _rebuild_vectors(self) -> VectorIndex:
        ids, matrix = self._store.vectors()
        vectors = VectorIndex(self._dimension())
        vectors.add(ids, matrix)
        return vectors

    def _save_if_unlocked(self, vectors: VectorIndex, generation: int) -> None:
        """Readers persist a rebuilt index only when no writer is busy (they never wait for one)."""
        try:
            with self._write_lock.acquire(timeout=0):
                if self._store.generation() == generation:
                    self._save(vectors, generation)
        except Timeout:
            pass

    def _save(self, vectors: VectorIndex, generation: int) -> None:
        vectors.save(self._vector_path(generation))
        for old in self.index_dir.glob("vectors-*.faiss"):
            if old.name != self._vector_path(generation).name:
                old.unlink(missing_ok=True)


def _groups(items: Sequence[tuple[Document, list]], max_chunks: int) -> Iterator[list[tuple[Document, list]]]:
    """Consecutive documents whose chunks add up to about `max_chunks`."""
    group: list[tuple[Document, list]] = []
    size = 0
    for item in items:
        group.append(item)
        size += len(item[1])
        if size >= max_chunks:
            yield group
            group, size = [], 0
    if group:
        yield group
