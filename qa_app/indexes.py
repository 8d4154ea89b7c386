"""The derived search indexes of an index directory: FAISS and BM25 files tied to SQLite's generation.

SQLite is the truth; these files can always be rebuilt from it. Each is named after the generation it
matches (the kinds are in index_files.py), saved through a temporary file under the write lock, and the older
generations deleted after.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

from filelock import Timeout

from qa_app.config import DB_NAME, Settings
from qa_app.errors import StorageError
from qa_app.index import VectorIndex
from qa_app.index_files import (
    lexical_file,
    main_segment_name,
    temporary_files,
    vector_file,
    vector_generations,
)
from qa_app.lexical import LexicalIndex, tokenize
from qa_app.store import Store, WriteResult
from qa_app.writelock import WriteLock

log = logging.getLogger(__name__)


def _delete(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)


class DerivedIndexes:
    """The FAISS and BM25 indexes for the store's current generation: loaded, updated, saved, rebuilt."""

    def __init__(self, index_dir: Path, store: Store, settings: Settings, write_lock: WriteLock,
                 lock: threading.RLock) -> None:  # fmt: skip
        self.index_dir, self._store, self._settings = index_dir, store, settings
        self._write_lock, self._lock = write_lock, lock
        self._vectors: VectorIndex | None = None
        self._lexical: LexicalIndex | None = None
        self._last_lexical: LexicalIndex | None = None  # its main segment is reused when the next names it
        self._generation = -1

    def vector_path(self, generation: int) -> Path:
        return vector_file(self.index_dir, generation)

    def lexical_path(self, generation: int) -> Path:
        return lexical_file(self.index_dir, generation)

    def dimension(self) -> int:
        """Vector size recorded by the first write (1 for a new, empty index: nothing to search)."""
        return int(self._store.meta("dimension") or 1)

    def current(self) -> tuple[VectorIndex, LexicalIndex]:
        """Both search indexes for the database's current generation."""
        with self._lock:
            vectors = self.current_vectors()
            if self._lexical is None:
                self._lexical = self._load_or_build_lexical(self._generation, len(vectors))
            return vectors, self._lexical

    def apply(self, change: WriteResult) -> None:
        """Bring the in-memory FAISS and BM25 indexes to the new generation and save them under it.

        Call with the write lock held, after `current()` loaded the generation before the write.
        """
        vectors, lexical = self._vectors, self._lexical
        if vectors is not None and not len(vectors) and vectors.dimension != self.dimension():
            # read while the store was empty (dimension 1); the first write recorded the model's dimension
            vectors = VectorIndex(self.dimension(), nprobe=self._settings.ivf_nprobe)
        if vectors is None or self._generation != change.generation - 1:
            self._generation, lexical = -1, None
            vectors = self.current_vectors()
        else:
            vectors.remove(change.removed_ids)
            vectors.add(change.added_ids, change.added_vectors)
            if not vectors.suits(self._settings.ivf_threshold):  # grew or shrank past a threshold: migrate
                vectors = self._rebuild_vectors()
        self._vectors, self._generation = vectors, change.generation
        self._lexical = self._updated_lexical(lexical, change)
        self._save(vectors, change.generation, delete_older=False)
        self._save_lexical(self._lexical, change.generation)  # older files go once both are saved, so a reader
        self._delete_leftovers(self.vector_path(change.generation))  # always finds one complete generation

    def rebuild(self) -> list[str]:
        """Rebuild the FAISS and BM25 files from SQLite and delete leftovers; returns what was done."""
        with self._write_lock, self._lock:
            generation = self._store.generation()
            vectors = self._rebuild_vectors()
            lexical = self._build_lexical(generation)
            self._save(vectors, generation)
            self._save_lexical(lexical, generation)
            for leftover in temporary_files(self.index_dir):
                _delete(leftover)
            self._vectors, self._lexical, self._generation = vectors, lexical, generation
        return [f"rebuilt {self.vector_path(generation).name} ({len(vectors)} vectors) and "
                f"{self.lexical_path(generation).name} from {DB_NAME}"]  # fmt: skip

    def current_vectors(self) -> VectorIndex:
        """The FAISS index matching the database now, loaded or rebuilt when the generation moved."""
        with self._lock:
            generation = self._store.generation()
            if self._vectors is not None and generation == self._generation:
                return self._vectors
            path = self.vector_path(generation)
            if not path.exists() and self._serve_saved_while_writing(generation):
                return self._vectors
            _, chunk_count = self._store.counts()
            try:
                vectors = VectorIndex.load(path, self._settings.ivf_nprobe) if path.exists() else None
            except RuntimeError:  # unreadable, or replaced while we read: rebuild instead
                vectors = None
            if (vectors is None or len(vectors) != chunk_count or vectors.dimension != self.dimension()
                    or not vectors.suits(self._settings.ivf_threshold)):  # fmt: skip
                vectors = self._rebuild_vectors()
                if chunk_count:
                    log.warning("vector file of generation %d missing, stale or of the wrong type; rebuilt from %s",
                                generation, DB_NAME)  # fmt: skip
                    self._save_if_unlocked(lambda: self._save(vectors, generation), generation)
            elif self._leftovers(path):  # a writer was killed before it could delete them
                self._save_if_unlocked(lambda: self._delete_leftovers(path), generation)
            self._vectors, self._generation = vectors, generation
            self._last_lexical, self._lexical = self._lexical or self._last_lexical, None
            return vectors

    def _serve_saved_while_writing(self, generation: int) -> bool:
        """While another writer saves the files of the `generation` it committed, keep serving a saved one.

        Rebuilding from SQLite meanwhile would cost every reader a full rebuild per commit. The newest
        generation whose FAISS and BM25 files are both saved is loaded when it is newer than the one in memory
        (a writer deletes older files only after saving both). Its chunks that the writer removed since drop out
        of results (`retrieval.passages`); chunks it added show from the next question that finds their files.
        False when no writer is busy, or nothing saved can be served: then the caller loads or rebuilds.
        """
        try:
            with self._write_lock.acquire(timeout=0):
                return False  # no other writer: the files are missing for good, so rebuild them
        except Timeout:
            pass
        except StorageError:  # a read-only directory holds no writer
            return False
        saved = self._newest_saved(below=generation)
        if saved is not None and saved > self._generation:
            try:
                vectors = VectorIndex.load(self.vector_path(saved), self._settings.ivf_nprobe)
                lexical = LexicalIndex.load(self.lexical_path(saved), self._lexical or self._last_lexical)
            except (RuntimeError, OSError, ValueError, KeyError):  # deleted by the writer while we read: keep ours
                pass
            else:
                if vectors.dimension == self.dimension() and len(vectors) == len(lexical):
                    self._vectors, self._lexical, self._generation = vectors, lexical, saved
        return self._vectors is not None and self._lexical is not None

    def _newest_saved(self, below: int) -> int | None:
        """The newest generation under `below` whose FAISS and BM25 files are both on disk."""
        complete = [g for g in vector_generations(self.index_dir) if g < below and self.lexical_path(g).exists()]
        return max(complete, default=None)

    # ---- BM25 ----------------------------------------------------------------------------

    def _updated_lexical(self, lexical: LexicalIndex | None, change: WriteResult) -> LexicalIndex:
        """BM25 after a write: the delta segment updated, or everything merged when the delta outgrew its limit."""
        if lexical is None:
            return self._build_lexical(change.generation)
        tokens = lexical.delta_tokens
        if tokens is None:  # loaded from disk: tokenize the delta's chunks once
            ids, texts = self._store.chunk_texts(lexical.delta.ids)
            tokens = dict(zip(ids.tolist(), tokenize(texts), strict=True))
        updated = lexical.updated(*self._store.chunk_texts(change.added_ids), change.removed_ids, tokens)
        return self._build_lexical(change.generation) if updated.needs_merge() else updated

    def _build_lexical(self, generation: int) -> LexicalIndex:
        """BM25 over every chunk, all in a main segment named after `generation`."""
        return LexicalIndex.build(*self._store.chunk_texts(), main_name=main_segment_name(generation))

    def _load_or_build_lexical(self, generation: int, chunk_count: int) -> LexicalIndex:
        path = self.lexical_path(generation)
        try:
            lexical = LexicalIndex.load(path, self._last_lexical) if path.exists() else None
        except (OSError, ValueError, KeyError):  # a writer replaced it while we read: rebuild instead
            lexical = None
        if lexical is not None and len(lexical) == chunk_count:
            current = (path, self.index_dir / lexical.main_name)
            if self._leftovers(*current):  # a writer was killed before it could delete them
                self._save_if_unlocked(lambda: self._delete_leftovers(*current), generation)
            return lexical
        lexical = self._build_lexical(generation)
        if chunk_count:
            self._save_if_unlocked(lambda: self._save_lexical(lexical, generation), generation)
        return lexical

    # ---- FAISS and the files -------------------------------------------------------------

    def _rebuild_vectors(self) -> VectorIndex:
        """A FAISS index over every stored vector, of the type the collection's size calls for."""
        ids, matrix = self._store.vectors()
        vectors = VectorIndex.build(self.dimension(), ids, matrix, self._settings.ivf_threshold,
                                    self._settings.ivf_nprobe)  # fmt: skip
        log.info("built a %s vector index over %d chunks", vectors.kind, len(vectors))
        return vectors

    def _save_if_unlocked(self, save: Callable[[], None], generation: int) -> None:
        """Persist a rebuilt index unless another writer is busy (readers never wait for one)."""
        try:
            with self._write_lock.acquire(timeout=0):
                if self._store.generation() == generation:
                    save()
        except Timeout:
            pass
        except StorageError as exc:  # a full or read-only disk: this reader keeps the rebuilt index in memory
            log.warning("could not save the rebuilt index (%s); it is used from memory", exc)

    def _save(self, vectors: VectorIndex, generation: int, delete_older: bool = True) -> None:
        vectors.save(self.vector_path(generation))
        if delete_older:
            self._delete_leftovers(self.vector_path(generation))

    def _save_lexical(self, lexical: LexicalIndex, generation: int) -> None:
        path = self.lexical_path(generation)
        lexical.save(self.index_dir, path.name)
        self._delete_leftovers(path, self.index_dir / lexical.main_name)

    def _delete_leftovers(self, *current: Path) -> None:
        """Other generations of the `current` files, and temporary files of writers killed mid-save.

        Call with the write lock held: every save happens under it, so no temporary file is in use.
        """
        for path in self._leftovers(*current):
            _delete(path)

    def _leftovers(self, *current: Path) -> list[Path]:
        """Files of the same kinds as `current` (see `index_files.FILE_KINDS`) that are not them."""
        kinds = {p.name.split("-", 1)[0] + "-" for p in current}
        prefixes = tuple(kinds | {f".{kind}" for kind in kinds})
        names = {p.name for p in current}
        return [p for p in self.index_dir.iterdir() if p.name.startswith(prefixes) and p.name not in names]
