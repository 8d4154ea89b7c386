"""The façade the CLI and the UI talk to: one index directory, its documents and its search."""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from filelock import FileLock, Timeout

from qa_app.answer import Composer
from qa_app.chunking import ChunkSpan, chunk_text
from qa_app.config import DB_NAME, Settings, load_settings
from qa_app.documents import load_files
from qa_app.embedder import Embedder, SentenceTransformerEmbedder
from qa_app.errors import NotFoundError, QAError
from qa_app.generative import LLMConfig
from qa_app.grounding import AnswerStream, SupportChecker
from qa_app.index import VectorIndex
from qa_app.lexical import LexicalIndex, tokenize
from qa_app.records import AddResult, Answer, Citation, Document, DocumentInfo, Passage
from qa_app.retrieval import Query, SearchFilters, build_query, search
from qa_app.spelling import Speller
from qa_app.store import NewDocument, Store, WriteResult

log = logging.getLogger(__name__)

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
        self.embedder: Embedder = embedder or SentenceTransformerEmbedder(
            self.settings.embedding_model, backend=self.settings.embedding_backend
        )
        self._store = Store(self.index_dir / DB_NAME)
        self._store.check_model(self.embedder.name)
        self._write_lock = FileLock(str(self.index_dir / ".write.lock"))
        self._lock = threading.RLock()
        self._vectors: VectorIndex | None = None
        self._lexical: LexicalIndex | None = None
        self._generation = -1
        self._speller: tuple[LexicalIndex, Speller] | None = None  # for the lexical index it was built from
        self._composer = Composer(
            self.embedder,
            self._store.sentence_vectors,
            self.settings.min_answer_score,
            self.settings.max_answer_sentences,
        )

    def close(self) -> None:
        self._store.close()

    def warm_up(self) -> None:
        """Load the model and the search indexes now, so the first question does not wait for them."""
        try:
            self.embedder.embed(["warm up"])
            self._indexes()
            _ = self._composer.scorer
        except Exception as exc:  # best effort: the first question loads again and reports any error
            log.warning("warm-up failed: %s", exc)

    # ---- reading -------------------------------------------------------------------------

    def documents(self) -> list[DocumentInfo]:
        """Every indexed document, without its text, oldest first."""
        return self._store.documents()

    def document(self, doc_id: str) -> Document:
        """One document with its full text and metadata."""
        return self._store.document(doc_id)

    def search(
        self,
        question: str,
        k: int | None = None,
        filters: SearchFilters | None = None,
        history: Sequence[str] = (),
    ) -> list[Passage]:
        """The `k` passages that best match `question`, best first."""
        return self.retrieve(self.query(question, history), k, filters)

    def ask(
        self,
        question: str,
        history: Sequence[str] = (),
        *,
        k: int | None = None,
        filters: SearchFilters | None = None,
        llm_base_url: str | None = None,
        llm_model: str | None = None,
    ) -> Answer:
        """A cited answer built from the best passages; `history` holds the previous questions, oldest first.

        With a generative server (settings, or `llm_base_url`; `""` turns it off) the answer is generated and
        checked sentence by sentence; without one, or when it fails, the extractive composer answers.
        """
        stream = self.ask_stream(question, history, k=k, filters=filters, llm_base_url=llm_base_url,
                                 llm_model=llm_model)  # fmt: skip
        return stream.answer

    def ask_stream(
        self,
        question: str,
        history: Sequence[str] = (),
        *,
        k: int | None = None,
        filters: SearchFilters | None = None,
        llm_base_url: str | None = None,
        llm_model: str | None = None,
    ) -> AnswerStream:
        """Like `ask`, but iterating yields each generated sentence once it is checked; `.answer` is the result."""
        query = self.query(question, history)
        passages = self.retrieve(query, k, filters)
        extractive = self._composer.compose(query, passages, check=self._citation_matches)
        config = LLMConfig.from_settings(self.settings, llm_base_url, llm_model)
        if not config.enabled:
            return AnswerStream(extractive, None)
        checker = SupportChecker(self._composer, query, passages, self._citation_matches, self.settings.llm_min_support)
        return AnswerStream(extractive, config, checker, history, self.settings.max_answer_sentences)

    @property
    def composer(self) -> Composer:
        """The extractive composer (its scorer and the sentence views it reads), for benchmarks and training."""
        return self._composer

    def query(self, question: str, history: Sequence[str] = ()) -> Query:
        """The question as searched: embedded, with misspelled words matched to the index's vocabulary."""
        if not question.strip():
            raise QAError("the question is empty; type a question")
        if any("\ud800" <= ch <= "\udfff" for ch in question):
            raise QAError("the question holds an unpaired surrogate (a \\ud800-\\udfff escape), which is not text")
        _, lexical = self._indexes()
        with self._lock:
            if self._speller is None or self._speller[0] is not lexical:
                self._speller = (lexical, Speller(lexical.vocabulary()))
            speller = self._speller[1]
        return build_query(self.embedder, question, history, speller.corrections(question))

    def retrieve(self, query: Query, k: int | None = None, filters: SearchFilters | None = None) -> list[Passage]:
        """The passages for a prepared `query` (see `query`), best first."""
        vectors, lexical = self._indexes()
        if not len(vectors):
            return []
        return search(self._store, vectors, lexical, query, k or self.settings.top_k, self.settings, filters)

    def _citation_matches(self, citation: Citation) -> bool:
        """The citation invariant, checked against the stored article: text[start:end] == quote."""
        return self._store.span_text(citation.doc_id, citation.start, citation.end) == citation.quote

    def counts(self) -> tuple[int, int]:
        """Number of documents and of chunks."""
        return self._store.counts()

    def status(self) -> dict[str, object]:
        """Index facts for the UI: counts, model, generation, size on disk."""
        documents, chunks = self._store.counts()
        size = sum(f.stat().st_size for f in self.index_dir.rglob("*") if f.is_file())
        return {
            "documents": documents,
            "chunks": chunks,
            "model": self._store.meta("model") or self.embedder.name,
            "dimension": int(self._store.meta("dimension") or 0),
            "generation": self._store.generation(),
            "index_dir": str(self.index_dir),
            "size_bytes": size,
        }

    def record_feedback(self, answer: Answer, rating: int) -> None:
        """Store a thumbs up (+1) or down (-1) with the question, answer and citations."""
        if rating not in (-1, 1):
            raise QAError(f"rating must be 1 (up) or -1 (down), not {rating}")
        self._store.add_feedback(answer.question, answer.text, [c.to_json() for c in answer.citations], rating)

    def feedback(self) -> list[dict]:
        """Every stored rating, oldest first."""
        return self._store.feedback()

    # ---- writing -------------------------------------------------------------------------

    def add(
        self, inputs: Iterable[Path | str | Document], progress: ProgressCallback | None = None, uploads: bool = False
    ) -> list[AddResult]:
        """Index files, folders and documents; one bad input is reported and the rest indexed.

        A document whose identity (`Document.key`) is already indexed with other text replaces that version;
        `uploads` says the files are web uploads, known by their names (see `documents.load_files`).
        """
        inputs = list(inputs)
        paths = [Path(item) for item in inputs if not isinstance(item, Document)]
        loaded, failures = load_files(
            paths,
            max_bytes=self.settings.max_file_bytes,
            max_pdf_pages=self.settings.max_pdf_pages,
            max_text_chars=self.settings.max_text_chars,
            uploads=uploads,
        )
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
            group_chunks = sum(len(chunks) for _, chunks in group)
            report = partial(_report, progress, docs_done, len(chunked), chunks_done, total_chunks, group_chunks)
            results.extend(self._write_new(self._embed_group(group, report)))
            docs_done += len(group)
            chunks_done += group_chunks
            _report(progress, docs_done, len(chunked), chunks_done, total_chunks, 0, 1.0)
        return results

    def _embed_group(
        self, group: list[tuple[Document, list[ChunkSpan]]], report: Callable[[float], None]
    ) -> list[NewDocument]:
        """Vectors for every chunk (with its title), every sentence and every title of a group of documents."""
        texts: list[str] = []
        layout = []
        for doc, chunks in group:
            sentences = sorted({span for chunk in chunks for span in chunk.sentences})
            layout.append((doc, chunks, sentences, len(texts)))
            texts += [_embedding_text(doc.title, doc.text[c.start : c.end]) for c in chunks]
            texts += [doc.text[start:end] for start, end in sentences] + [doc.title]
        vectors = self._embed(texts, report)
        new = []
        for doc, chunks, sentences, first in layout:
            after_chunks = first + len(chunks)
            after_sentences = after_chunks + len(sentences)
            new.append(NewDocument(doc, chunks, vectors[first:after_chunks], sentences,
                                   vectors[after_chunks:after_sentences], vectors[after_sentences]))  # fmt: skip
        return new

    def _embed(self, texts: list[str], report: Callable[[float], None]) -> np.ndarray:
        """Embed in length-sorted batches (little padding), reporting the share done after each batch."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        size = self.settings.embed_batch_size
        vectors = np.zeros((len(texts), self.embedder.dimension), dtype=np.float32)
        for first in range(0, len(order), size):
            batch = order[first : first + size]
            vectors[batch] = self.embedder.embed([texts[i] for i in batch], batch_size=size)
            report((first + len(batch)) / len(texts))
        return vectors

    def remove(self, doc_id: str) -> DocumentInfo:
        """Delete one document, its chunks and its vectors."""
        with self._write_lock, self._lock:
            info = next((d for d in self._store.documents() if d.doc_id == doc_id), None)
            if info is None:
                raise NotFoundError(f"no document with id {doc_id!r}; `qa-app list` shows the ids")
            self._indexes()  # so _apply updates both indexes instead of rebuilding them from SQLite
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
                older = set(self._store.doc_ids_with_identity(doc.key)) - {doc.doc_id}
                replaced |= older
                fresh.append(item)
                status = "replaced" if older else "indexed"
                results.append(AddResult(doc.source, status, doc.doc_id, doc.title, len(item.chunks)))
            if fresh:
                self._store.check_model(self.embedder.name, int(fresh[0].vectors.shape[1]))
                self._indexes()
                self._apply(self._store.write(add=fresh, remove=sorted(replaced)))
        return results

    def _apply(self, change: WriteResult) -> None:
        """Bring the in-memory FAISS and BM25 indexes to the new generation and save them under it."""
        vectors, lexical = self._vectors, self._lexical
        if vectors is None or self._generation != change.generation - 1:
            self._generation, lexical = -1, None
            vectors = self._current_vectors()
        else:
            vectors.remove(change.removed_ids)
            vectors.add(change.added_ids, change.added_vectors)
            if not vectors.suits(self.settings.ivf_threshold):  # grew or shrank past a threshold: migrate
                vectors = self._rebuild_vectors()
        self._generation = change.generation
        self._save(vectors, change.generation)
        self._lexical = self._updated_lexical(lexical, change)
        self._save_lexical(self._lexical, change.generation)

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
        return LexicalIndex.build(*self._store.chunk_texts(), main_name=f"bm25main-{generation}")

    def rebuild_derived(self) -> list[str]:
        """Rebuild the FAISS and BM25 files from SQLite and delete leftovers; returns what was done."""
        with self._write_lock, self._lock:
            generation = self._store.generation()
            vectors = self._rebuild_vectors()
            lexical = self._build_lexical(generation)
            self._save(vectors, generation)
            self._save_lexical(lexical, generation)
            for leftover in self.index_dir.glob(".*.tmp"):
                shutil.rmtree(leftover, ignore_errors=True) if leftover.is_dir() else leftover.unlink(missing_ok=True)
            self._vectors, self._lexical, self._generation = vectors, lexical, generation
        return [f"rebuilt {self._vector_path(generation).name} ({len(vectors)} vectors) and "
                f"{self._lexical_path(generation).name} from {DB_NAME}"]  # fmt: skip

    # ---- the derived index files ---------------------------------------------------------

    def _vector_path(self, generation: int) -> Path:
        return self.index_dir / f"vectors-{generation}.faiss"

    def _lexical_path(self, generation: int) -> Path:
        return self.index_dir / f"bm25-{generation}"

    def _indexes(self) -> tuple[VectorIndex, LexicalIndex]:
        """Both search indexes for the database's current generation."""
        with self._lock:
            vectors = self._current_vectors()
            if self._lexical is None:
                self._lexical = self._load_or_build_lexical(self._generation, len(vectors))
            return vectors, self._lexical

    def _load_or_build_lexical(self, generation: int, chunk_count: int) -> LexicalIndex:
        path = self._lexical_path(generation)
        try:
            lexical = LexicalIndex.load(path) if path.exists() else None
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

    def _current_vectors(self) -> VectorIndex:
        """The FAISS index matching the database now, loaded or rebuilt when the generation moved."""
        with self._lock:
            generation = self._store.generation()
            if self._vectors is not None and generation == self._generation:
                return self._vectors
            path = self._vector_path(generation)
            _, chunk_count = self._store.counts()
            try:
                vectors = VectorIndex.load(path, self.settings.ivf_nprobe) if path.exists() else None
            except RuntimeError:  # unreadable, or replaced while we read: rebuild instead
                vectors = None
            if (vectors is None or len(vectors) != chunk_count or vectors.dimension != self._dimension()
                    or not vectors.suits(self.settings.ivf_threshold)):  # fmt: skip
                vectors = self._rebuild_vectors()
                if chunk_count:
                    log.warning("vector file of generation %d missing, stale or of the wrong type; rebuilt from %s",
                                generation, DB_NAME)  # fmt: skip
                    self._save_if_unlocked(lambda: self._save(vectors, generation), generation)
            elif self._leftovers(path):  # a writer was killed before it could delete them
                self._save_if_unlocked(lambda: self._delete_leftovers(path), generation)
            self._vectors, self._generation, self._lexical = vectors, generation, None
            return vectors

    def _dimension(self) -> int:
        """Vector size recorded by the first write (1 for a new, empty index: nothing to search)."""
        return int(self._store.meta("dimension") or 1)

    def _rebuild_vectors(self) -> VectorIndex:
        """A FAISS index over every stored vector, of the type the collection's size calls for."""
        ids, matrix = self._store.vectors()
        vectors = VectorIndex.build(self._dimension(), ids, matrix, self.settings.ivf_threshold,
                                    self.settings.ivf_nprobe)  # fmt: skip
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

    def _save(self, vectors: VectorIndex, generation: int) -> None:
        vectors.save(self._vector_path(generation))
        self._delete_leftovers(self._vector_path(generation))

    def _save_lexical(self, lexical: LexicalIndex, generation: int) -> None:
        path = self._lexical_path(generation)
        lexical.save(self.index_dir, path.name)
        self._delete_leftovers(path, self.index_dir / lexical.main_name)

    def _delete_leftovers(self, *current: Path) -> None:
        """Other generations of the `current` files, and temporary files of writers killed mid-save.

        Call with the write lock held: every save happens under it, so no temporary file is in use.
        """
        for path in self._leftovers(*current):
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)

    def _leftovers(self, *current: Path) -> list[Path]:
        """Files of the same kinds as `current` ("vectors-", "bm25-", "bm25main-") that are not them."""
        kinds = {p.name.split("-", 1)[0] + "-" for p in current}
        prefixes = tuple(kinds | {f".{kind}" for kind in kinds})
        names = {p.name for p in current}
        return [p for p in self.index_dir.iterdir() if p.name.startswith(prefixes) and p.name not in names]


def _report(
    progress: ProgressCallback | None, docs: int, docs_total: int, chunks: int, total: int, group: int, share: float
) -> None:
    """Progress in chunks: those of earlier groups plus the embedded share of this group's."""
    if progress:
        progress(Progress(docs, docs_total, chunks + round(group * share), total))


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
