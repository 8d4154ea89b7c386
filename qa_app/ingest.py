"""The ingest pipeline: documents in, prepared documents out (chunks, sentence spans, vectors).

Nothing here touches an index directory, so the same code runs inside `Library.add` and on Ray workers
(`qa_app.distributed`); `Library.write` is the one writer that commits what this prepares.
"""

from __future__ import annotations

import logging
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

import numpy as np

from qa_app.chunking import chunk_text
from qa_app.config import Settings
from qa_app.documents import Limits, iter_loaded, partition
from qa_app.embedder import Embedder
from qa_app.records import ChunkSpan, Document, Failure
from qa_app.sentence_pooling import gives_token_vectors, pooled_document_vectors
from qa_app.store import NewDocument

log = logging.getLogger(__name__)

PreparedDocument = NewDocument  # a document ready to store: chunks with offsets, sentence spans and every vector
Chunked = tuple[Document, list[ChunkSpan]]

# pooled sentence vectors: a group of at most this many documents (an upload of a few files) gets one forward pass
# per document, so its files count as embedded one by one; larger groups share passes of a batch of chunks, as a
# pass per document costs about a third more model time (README, "One forward pass per chunk")
FILES_COUNTED_ONE_BY_ONE = 8
WRITE_GROUP_CHUNKS = 128  # chunks embedded and committed together: bounds the work a crash can lose
LOAD_BATCH_DOCUMENTS = 1_000  # documents loaded before they are written: bounds memory for files of many records


@dataclass(frozen=True)
class Progress:
    """How far an `add` has got: documents count as done once saved (their write group committed).

    `docs_embedded` counts those whose every vector is made (saved or not): at least `docs_done`.
    """

    docs_done: int
    docs_total: int
    chunks_done: int
    chunks_total: int
    # the files (else sources) of the documents the latest commit saved: a detail, not how far (not compared)
    saved: tuple[str, ...] = field(default=(), compare=False)
    docs_embedded: int = field(default=0, compare=False)

    def files_text(self) -> str:
        """`3/5 files embedded, 2/5 saved`, or `2/5 files saved` when no embedded file waits for its commit."""
        of = f"/{self.docs_total}" if self.docs_total else ""  # 0: not known yet
        if self.docs_embedded > self.docs_done:
            return f"{self.docs_embedded}{of} files embedded, {self.docs_done}{of} saved"
        return f"{self.docs_done}{of} {'file' if self.docs_total == 1 else 'files'} saved"


ProgressCallback = Callable[[Progress], None]
EmbedReport = Callable[[float, int], None]  # the share of the texts embedded, the leading documents fully embedded


def load(paths: Iterable[Path], settings: Settings, uploads: bool = False) -> tuple[list[Document], list[Failure]]:
    """The documents under `paths` with the settings' limits, and a Failure for each bad file or record."""
    return partition(load_stream(paths, settings, uploads))


def load_stream(paths: Iterable[Path], settings: Settings, uploads: bool = False) -> Iterator[Document | Failure]:
    """`load`, one document or failure at a time (a JSON/JSONL file's records as they are parsed)."""
    limits = Limits(settings.max_file_bytes, settings.max_pdf_pages, settings.max_text_chars, settings.max_records,
                    settings.max_metadata_chars, settings.max_pdf_content_mb, settings.max_pdf_seconds)  # fmt: skip
    return iter_loaded(paths, limits, uploads=uploads, follow_links=settings.follow_links)


def load_batches(
    items: Iterable[Document | Failure], size: int = LOAD_BATCH_DOCUMENTS
) -> Iterator[tuple[list[Document], list[Failure]]]:
    """Loaded items in batches of up to `size` documents (with the failures met on the way)."""
    documents: list[Document] = []
    failures: list[Failure] = []
    for item in items:
        (failures if isinstance(item, Failure) else documents).append(item)
        if len(documents) >= size:
            yield documents, failures
            documents, failures = [], []
    if documents or failures:
        yield documents, failures


class BatchProgress:
    """A ProgressCallback over documents loaded and written a batch at a time: the totals grow by batch."""

    def __init__(self, progress: ProgressCallback | None) -> None:
        self._progress = progress
        self._docs = self._chunks = 0  # the totals of the batches before this one
        self._last: Progress | None = None
        self.wrote = False  # whether any batch had documents to write

    def __call__(self, progress: Progress) -> None:
        self._last = progress
        if self._progress:
            self._progress(replace(progress, docs_done=progress.docs_done + self._docs,
                                   docs_total=progress.docs_total + self._docs,
                                   chunks_done=progress.chunks_done + self._chunks,
                                   chunks_total=progress.chunks_total + self._chunks))  # fmt: skip

    def next_batch(self) -> None:
        """The batch reported so far is written: later reports count on from it."""
        if self._last:
            self._docs += self._last.docs_total
            self._chunks += self._last.chunks_total
            self.wrote = self.wrote or self._last.docs_total > 0
        self._last = None


def chunk(documents: Iterable[Document], settings: Settings) -> list[Chunked]:
    """Each document with its chunks (sentence-aligned spans of its text)."""
    return [(doc, chunk_text(doc.text, target_words=settings.chunk_words, max_words=settings.max_chunk_words))
            for doc in documents]  # fmt: skip


def embedding_text(title: str, chunk: str) -> str:
    """The title goes into every chunk's vector; offsets still point into the body only."""
    return f"{title}\n{chunk}"


def prepare(
    documents: Sequence[Document], embedder: Embedder, settings: Settings, report: EmbedReport | None = None
) -> list[PreparedDocument]:
    """Chunk and embed `documents`; after each batch `report` gets the share of vectors and documents done."""
    return embed_chunked(chunk(documents, settings), embedder, settings.embed_batch_size, report,
                         settings.sentence_vectors_from)  # fmt: skip


def embed_chunked(
    chunked: Sequence[Chunked],
    embedder: Embedder,
    batch_size: int,
    report: EmbedReport | None = None,
    sentences_from: str = "sentences",
) -> list[PreparedDocument]:
    """Vectors for every chunk (with its title), every sentence and every title of chunked documents.

    `sentences_from="chunks"` pools sentence vectors from their chunk's forward pass (`sentence_pooling`)
    when the embedder gives token vectors; otherwise each sentence is embedded alone.
    """
    if sentences_from == "chunks":
        if gives_token_vectors(embedder):
            return _embed_pooled(chunked, embedder, batch_size, report)
        log.warning("%s gives no token vectors: sentences are embedded alone", embedder.name)
    texts: list[str] = []
    layout = []
    for doc, chunks in chunked:
        sentences = sorted({span for c in chunks for span in c.sentences})
        layout.append((doc, chunks, sentences, len(texts)))
        texts += [embedding_text(doc.title, doc.text[c.start : c.end]) for c in chunks]
        texts += [doc.text[start:end] for start, end in sentences] + [doc.title]
    ends = [first for _, _, _, first in layout[1:]] + [len(texts)] * bool(layout)
    vectors = embed_in_order(texts, [len(chunks) for _, chunks, _, _ in layout], ends, embedder, batch_size, report)
    prepared = []
    for doc, chunks, sentences, first in layout:
        after_chunks = first + len(chunks)
        after_sentences = after_chunks + len(sentences)
        prepared.append(NewDocument(doc, chunks, vectors[first:after_chunks], sentences,
                                    vectors[after_chunks:after_sentences], vectors[after_sentences]))  # fmt: skip
    return prepared


def _embed_pooled(
    chunked: Sequence[Chunked], embedder: Embedder, batch_size: int, report: EmbedReport | None
) -> list[PreparedDocument]:
    """`embed_chunked` with pooled sentence vectors, a run of documents (about a batch of chunks) at a time."""
    prepared: list[PreparedDocument] = []
    total = sum(len(chunks) for _, chunks in chunked) or 1
    done = 0
    per_file = len(chunked) <= FILES_COUNTED_ONE_BY_ONE  # a pass per document: each counts up as its pass ends
    for run in groups(chunked, 1 if per_file else batch_size):
        vectors = pooled_document_vectors(run, embedder, batch_size, embedding_text)
        for (doc, chunks), (chunk_vectors, spans, sentence_vectors, title) in zip(run, vectors, strict=True):
            prepared.append(NewDocument(doc, chunks, chunk_vectors, spans, sentence_vectors, title))
        done += sum(len(chunks) for _, chunks in run)
        if report:
            report(done / total, len(prepared))
    return prepared


def embed_in_order(
    texts: Sequence[str],
    chunk_counts: Sequence[int],
    ends: Sequence[int],
    embedder: Embedder,
    batch_size: int,
    report: EmbedReport | None = None,
) -> np.ndarray:
    """Embed documents' texts (each document's chunks first, `ends` after each) so documents finish in order.

    Two streams in document order, chunk texts and the rest (sentences, titles): each batch is full (across
    document boundaries) and of one stream, so its texts are of like length (little padding); the next batch
    comes from the stream whose next text is earlier. After each batch `report` gets the share of texts
    embedded and how many leading documents have all their vectors.
    """
    starts = [0, *ends[:-1]][: len(ends)]  # none for no documents
    in_chunks = [i for start, count in zip(starts, chunk_counts, strict=True) for i in range(start, start + count)]
    chunk_texts = set(in_chunks)
    streams = [in_chunks, [i for i in range(len(texts)) if i not in chunk_texts]]
    taken = [0, 0]
    vectors = np.zeros((len(texts), embedder.dimension), dtype=np.float32)
    while live := [s for s in (0, 1) if taken[s] < len(streams[s])]:
        stream = min(live, key=lambda s: streams[s][taken[s]])
        batch = streams[stream][taken[stream] : taken[stream] + batch_size]
        vectors[batch] = embedder.embed([texts[i] for i in batch], batch_size=batch_size)
        taken[stream] += len(batch)
        if report:
            pending = min((streams[s][taken[s]] for s in (0, 1) if taken[s] < len(streams[s])), default=len(texts))
            report(sum(taken) / len(texts), bisect_right(ends, pending))
    return vectors


def prepare_groups(
    documents: Sequence[Document],
    embedder: Embedder,
    settings: Settings,
    progress: ProgressCallback | None = None,
    group_chunks: int = WRITE_GROUP_CHUNKS,
) -> Iterator[list[PreparedDocument]]:
    """Prepared documents in groups of at most `group_chunks` chunks, to be written one group at a time.

    Progress counts a group's documents as saved once the consumer asks for the next group (after writing
    this one), with their names in `Progress.saved`.
    """
    chunked = chunk(documents, settings)
    total_chunks = sum(len(chunks) for _, chunks in chunked)
    docs_done = chunks_done = 0
    for group in groups(chunked, group_chunks):
        size = sum(len(chunks) for _, chunks in group)
        report = partial(_report, progress, docs_done, len(chunked), chunks_done, total_chunks, size)
        yield embed_chunked(group, embedder, settings.embed_batch_size, report, settings.sentence_vectors_from)
        docs_done += len(group)
        chunks_done += size
        saved = tuple(doc.file or doc.source for doc, _ in group)
        _report(progress, docs_done, len(chunked), chunks_done, total_chunks, 0, 1.0, 0, saved)


def _report(
    progress: ProgressCallback | None,
    docs: int,
    docs_total: int,
    chunks: int,
    total: int,
    group: int,
    share: float,
    embedded: int = 0,
    saved: tuple[str, ...] = (),
) -> None:
    """Progress in chunks (earlier groups' plus the embedded share of this group's), files embedded and saved."""
    if progress:
        progress(Progress(docs, docs_total, chunks + round(group * share), total, saved, docs + embedded))


def groups(items: Iterable[Chunked], max_chunks: int) -> Iterator[list[Chunked]]:
    """Consecutive documents with at most `max_chunks` chunks together (a longer document is a group alone).

    A group closes before a document that would take it past the bound, so small files are not held
    back (unsaved) while a long one after them is embedded.
    """
    group: list[Chunked] = []
    size = 0
    for item in items:
        if group and size + len(item[1]) > max_chunks:
            yield group
            group, size = [], 0
        group.append(item)
        size += len(item[1])
    if group:
        yield group
