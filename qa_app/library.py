"""The façade the CLI and the UI talk to: one index directory, its documents and its search."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import replace
from itertools import chain
from pathlib import Path

from qa_app import ingest
from qa_app.answer import Composer
from qa_app.answer_stream import AnswerStream
from qa_app.config import DB_NAME, Settings, load_settings
from qa_app.documents import load_records, parse_date, safe_upload_name
from qa_app.embedder import Embedder, SentenceTransformerEmbedder
from qa_app.errors import NotFoundError, QAError
from qa_app.generative import LLMConfig
from qa_app.grounding import SupportChecker
from qa_app.index import VectorIndex
from qa_app.indexes import DerivedIndexes
from qa_app.ingest import PreparedDocument, Progress, ProgressCallback
from qa_app.lexical import LexicalIndex
from qa_app.query_encoder import QueryEncoder
from qa_app.reader import packaged_judge
from qa_app.records import (
    AddResult,
    Answer,
    Citation,
    Document,
    DocumentInfo,
    Feedback,
    LibraryStatus,
    Passage,
    Query,
    SearchFilters,
)
from qa_app.retrieval import Reranker, RetrievalParams, build_query, retrieve
from qa_app.spelling import Speller
from qa_app.store import Store
from qa_app.writelock import WriteLock

# The UI, CLI and API import what they need from here and qa_app.records only: Progress is ingest's, AnswerStream what
# `ask_stream` returns, `parse_date` reads a filter's dates, `safe_upload_name` names a client's file, `Embedder` and
# `embedding_model` give the web app one shared model, `preload_answer_models` loads a server's models early.
__all__ = [
    "AnswerStream",
    "Embedder",
    "Library",
    "Progress",
    "ProgressCallback",
    "embedding_model",
    "parse_date",
    "preload_answer_models",
    "safe_upload_name",
]

log = logging.getLogger(__name__)

_WRITE_GROUP_CHUNKS = ingest.WRITE_GROUP_CHUNKS  # read at each add: tests shrink it for more commits
_LOAD_BATCH_DOCUMENTS = ingest.LOAD_BATCH_DOCUMENTS  # read at each add: tests shrink it for more batches


def embedding_model(name: str, backend: str = "torch", precision: str = "auto") -> Embedder:
    """The embedding model a Library uses by default (it loads lazily, on first use); one can serve many libraries."""
    return SentenceTransformerEmbedder(name, backend=backend, precision=precision)


def preload_answer_models(settings: Settings | None = None) -> None:
    """Load the question model and the answer reader that Libraries of `settings` use (both are cached per process).

    For a server that starts before its first Library: the first question then finds them loaded.
    """
    settings = settings or load_settings()
    questions = QueryEncoder(embedding_model(settings.embedding_model, precision="float32"))
    if questions.export_path.is_file():  # else the page loads the model
        questions.embed(["warm up"])
    judge = packaged_judge(settings.answer_reader)
    if judge.reader is not None:
        judge.reader.load_now()


class Library:
    """An index directory: SQLite (truth), FAISS (derived, tied by generation), write lock."""

    def __init__(
        self, settings: Settings | None = None, *, embedder: Embedder | None = None, rerank: Reranker | None = None
    ) -> None:
        """`rerank`, when given, reorders each search's fused passages before the per-article cap."""
        self.settings = settings or load_settings()
        self.rerank = rerank
        self.index_dir = Path(self.settings.index_dir)
        self.index_dir.mkdir(parents=True, exist_ok=True)
        self.embedder: Embedder = embedder or embedding_model(
            self.settings.embedding_model, self.settings.embedding_backend, self.settings.embedding_precision
        )
        # questions through the float32 ONNX export of the same model (either backend): no torch on the answer path
        self._questions: Embedder = (
            QueryEncoder(self.embedder) if isinstance(self.embedder, SentenceTransformerEmbedder) else self.embedder
        )
        self._store = Store(self.index_dir / DB_NAME, self.settings.sentence_vectors)
        self._store.check_model(self.embedder.name)
        # the index decides how its sentence vectors are made (the setting only chooses for a new index, and only
        # an embedder that gives token vectors can pool them)
        wanted = self.settings.sentence_vectors_from if hasattr(self.embedder, "token_vectors") else "sentences"
        made_from = self._store.sentence_vectors_from(wanted)
        self.settings = replace(self.settings, sentence_vectors_from=made_from)
        self._write_lock = WriteLock(self.index_dir, self.settings.lock_timeout)
        self._lock = threading.RLock()
        self._derived = DerivedIndexes(self.index_dir, self._store, self.settings, self._write_lock, self._lock)
        self._speller: tuple[LexicalIndex, Speller] | None = None  # for the lexical index it was built from
        self._composer = Composer(
            self.embedder,
            self._store.sentence_vectors,
            self.settings.min_answer_score,
            self.settings.max_answer_sentences,
            reader=self.settings.answer_reader,
            sentence_vectors_from=made_from,
        )

    def close(self) -> None:
        self._store.close()

    def warm_up(self) -> None:
        """Load the model and the search indexes now, so the first question does not wait for them."""
        try:
            self._questions.embed(["warm up"])
            self._indexes()
            self._composer.warm_up()
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
        if (reader := self._composer.judge.reader) is not None:
            reader.load_in_background()  # a first answer's reader load overlaps the question's embedding
        query = self.query(question, history)
        passages = self.retrieve(query, k, filters)
        extractive = self._composer.compose(query, passages, check=self._citation_matches)
        config = LLMConfig.from_settings(self.settings, llm_base_url, llm_model)
        if not config.enabled:
            return AnswerStream(extractive, None)
        checker = SupportChecker(self._composer, query, passages, self._citation_matches, self.settings.llm_min_support)
        return AnswerStream(extractive, config, checker, history, self.settings.max_answer_sentences,
                            drop_unsupported=self.settings.llm_drop_unsupported)  # fmt: skip

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
        return build_query(self._questions, question, history, speller.corrections(question))

    def retrieve(self, query: Query, k: int | None = None, filters: SearchFilters | None = None) -> list[Passage]:
        """The passages for a prepared `query` (see `query`), best first."""
        vectors, lexical = self._indexes()
        if not len(vectors):
            return []
        params = RetrievalParams.from_settings(self.settings)
        return retrieve(self._store, vectors, lexical, query, k or self.settings.top_k, params, filters, self.rerank)

    def _citation_matches(self, citation: Citation) -> bool:
        """The citation invariant, checked against the stored article: text[start:end] == quote."""
        return self._store.span_text(citation.doc_id, citation.start, citation.end) == citation.quote

    def counts(self) -> tuple[int, int]:
        """Number of documents and of chunks."""
        return self._store.counts()

    def status(self) -> LibraryStatus:
        """Index facts for the UI and the API: counts, model, generation, size on disk."""
        documents, chunks = self._store.counts()
        size = sum(f.stat().st_size for f in self.index_dir.rglob("*") if f.is_file())
        return LibraryStatus(documents, chunks, self._store.meta("model") or self.embedder.name,
                             int(self._store.meta("dimension") or 0), self._store.generation(), str(self.index_dir),
                             size, self._store.meta("qa_app_version"))  # fmt: skip

    def record_feedback(self, answer: Answer, rating: int) -> None:
        """Store a thumbs up (+1) or down (-1) with the question, answer and citations."""
        if rating not in (-1, 1):
            raise QAError(f"rating must be 1 (up) or -1 (down), not {rating}")
        self._store.add_feedback(answer.question, answer.text, [c.to_json() for c in answer.citations], rating)

    def feedback(self) -> list[Feedback]:
        """Every stored rating, oldest first."""
        return self._store.feedback()

    # ---- writing -------------------------------------------------------------------------

    def add(
        self, inputs: Iterable[Path | str | Document], progress: ProgressCallback | None = None, uploads: bool = False
    ) -> list[AddResult]:
        """Index files, folders and documents; one bad input is reported and the rest indexed.

        A document whose identity (`Document.key`) is already indexed with other text replaces that version;
        `uploads` says the files are web uploads, known by their names (see `documents.load_files`).
        Prepares (`ingest.prepare_groups`) and writes (`write`) a group of documents at a time.
        """
        inputs = list(inputs)
        loading = ingest.load_stream([Path(item) for item in inputs if not isinstance(item, Document)],
                                     self.settings, uploads)  # fmt: skip
        given = [item for item in inputs if isinstance(item, Document)]
        results: list[AddResult] = []
        batches = ingest.BatchProgress(progress)  # a file of many records is loaded and written a batch at a time
        for loaded, failures in ingest.load_batches(chain(given, loading), _LOAD_BATCH_DOCUMENTS):
            results += [AddResult(f.source, "failed", reason=f.reason, file=f.source) for f in failures]
            pending, known = self.new_documents(loaded)
            results += known
            for prepared in ingest.prepare_groups(pending, self.embedder, self.settings, batches, _WRITE_GROUP_CHUNKS):
                results += self.write(prepared)
            batches.next_batch()
        if batches.wrote and isinstance(self._questions, QueryEncoder):
            self._questions.export()  # the torch model is loaded now; once per machine and model
        return results

    def add_records(self, records: Iterable[tuple[str, object]]) -> list[AddResult]:
        """Index JSON article records sent without a file, as (label, parsed value) pairs; a bad one is reported.

        A record is known by its URL or its own id; without either, by its text (it never replaces another).
        """
        documents, failures = load_records(records, max_text_chars=self.settings.max_text_chars)
        failed = [AddResult(f.source, "failed", reason=f.reason) for f in failures]
        return failed + (self.add([_record_identity(d) for d in documents]) if documents else [])

    def new_documents(self, documents: Iterable[Document]) -> tuple[list[Document], list[AddResult]]:
        """The documents not indexed yet (first copy of each), and an "already indexed" result for the others."""
        pending: list[Document] = []
        known: list[AddResult] = []
        seen: set[str] = set()
        for doc in documents:
            if doc.doc_id in seen or self._store.has_document(doc.doc_id):
                known.append(AddResult(doc.source, "already indexed", doc.doc_id, doc.title, file=doc.file or None))
            else:
                seen.add(doc.doc_id)
                pending.append(doc)
        return pending, known

    def indexed_ids(self) -> set[str]:
        """The ids of every stored document (what a distributed job skips before embedding)."""
        return {info.doc_id for info in self._store.documents()}

    def write(self, prepared: Sequence[PreparedDocument]) -> list[AddResult]:
        """Commit prepared documents (see `ingest.prepare`) in one transaction and update the derived indexes.

        The one writer: it holds the write lock; a document already stored, or twice in `prepared`, is
        reported as "already indexed", and one with the identity of a stored document replaces it.
        """
        results: list[AddResult] = []
        with self._write_lock, self._lock:
            fresh: list[PreparedDocument] = []
            replaced: set[str] = set()
            seen: set[str] = set()
            for item in prepared:
                doc = item.document
                if doc.doc_id in seen or self._store.has_document(doc.doc_id):  # another writer got there first
                    results.append(AddResult(doc.source, "already indexed", doc.doc_id, doc.title,
                                             file=doc.file or None))  # fmt: skip
                    continue
                seen.add(doc.doc_id)
                older = set(self._store.doc_ids_with_identity(doc.key)) - {doc.doc_id}
                replaced |= older
                fresh.append(item)
                status = "replaced" if older else "indexed"
                results.append(AddResult(doc.source, status, doc.doc_id, doc.title, len(item.chunks),
                                         file=doc.file or None))  # fmt: skip
            if fresh:
                self._store.check_model(self.embedder.name, int(fresh[0].vectors.shape[1]))
                self._store.check_sentence_vectors(self.settings.sentence_vectors_from)
                self._derived.current()  # so apply updates both indexes instead of rebuilding them from SQLite
                self._derived.apply(self._store.write(add=fresh, remove=sorted(replaced)))
        return results

    def remove(self, doc_id: str) -> DocumentInfo:
        """Delete one document, its chunks and its vectors."""
        with self._write_lock, self._lock:
            info = next((d for d in self._store.documents() if d.doc_id == doc_id), None)
            if info is None:
                raise NotFoundError(f"no document with id {doc_id!r}; `qa-app list` shows the ids")
            self._derived.current()  # so apply updates both indexes instead of rebuilding them from SQLite
            self._derived.apply(self._store.write(remove=[doc_id]))
        return info

    def rebuild_derived(self) -> list[str]:
        """Rebuild the FAISS and BM25 files from SQLite and delete leftovers; returns what was done."""
        return self._derived.rebuild()

    # ---- components, for `qa-app check` and the benchmarks -------------------------------

    @property
    def store(self) -> Store:
        """The SQLite store (the truth)."""
        return self._store

    @property
    def indexes(self) -> DerivedIndexes:
        """The derived FAISS and BM25 files and their generation."""
        return self._derived

    def _indexes(self) -> tuple[VectorIndex, LexicalIndex]:
        """Both search indexes for the database's current generation."""
        return self._derived.current()


def _record_identity(doc: Document) -> Document:
    """A record's identity (`Document.key`): its URL, else `id:` its own id, else `text:` its text's id."""
    url, own_id = doc.metadata.get("url"), doc.metadata.get("id")
    if isinstance(url, str) and url:
        return replace(doc, identity=url)
    if isinstance(own_id, str | int) and not isinstance(own_id, bool) and str(own_id).strip():
        return replace(doc, identity=f"id:{own_id}")
    return replace(doc, identity=f"text:{doc.doc_id}")
