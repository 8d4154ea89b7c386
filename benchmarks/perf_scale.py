"""The product at 100k and 1M chunks: answer latency, recall of its FAISS index, memory, cost of one upload.

Embedding a million chunks would take a day here, so the library is written straight into SQLite (the
`Store.write` the product uses) with synthetic vectors clustered around real embeddings, and texts made of real
article paragraphs. Everything after that is the product's code path: `Library` opens the database, builds its
FAISS index (the type it picks for the size) and BM25 from SQLite, answers real questions embedded by the real
model, and adds articles.

`build` runs in the benchmark process; `measure` runs in a fresh process (`python benchmarks/perf_scale.py
measure DIR`) so its resident memory holds only the model and this library.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import re
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import perf_data
from timing import timed

from qa_app.config import load_settings
from qa_app.documents import make_document
from qa_app.embedder import SentenceTransformerEmbedder
from qa_app.library import Library
from qa_app.records import ChunkSpan
from qa_app.store import NewDocument, Store

PARAGRAPHS_PER_CHUNK = 2
CHUNKS_PER_DOC = 4
SENTENCE_SPANS_PER_CHUNK = 3  # sentence vectors stored per chunk (real chunks hold ~8; 3 keeps 1M under 3 GB)
NOISE = 0.038  # per-dimension noise around a real vector: cosine ~0.8 to it
BATCH_DOCS = 2_000
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def _around(pool: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` unit vectors near random members of `pool`."""
    picked = pool[rng.integers(len(pool), size=count)]
    return _unit(picked + rng.standard_normal(picked.shape, dtype=np.float32) * np.float32(NOISE))


def _spans(text: str, start: int, end: int, parts: int) -> tuple[tuple[int, int], ...]:
    """`parts` runs of whole sentences covering text[start:end] (trailing spaces left out)."""
    starts = [start] + [start + m.end() for m in _SENTENCE_END.finditer(text[start:end])]
    spans = []
    for group in np.array_split(np.arange(len(starts)), min(parts, len(starts))):
        first, last = starts[group[0]], starts[group[-1] + 1] if group[-1] + 1 < len(starts) else end
        spans.append((first, len(text[:last].rstrip())))
    return tuple(spans)


def _document(n: int, paragraphs: list[str], rng: np.random.Generator) -> tuple:
    """One synthetic article: a unique first line, then paragraphs; its chunks are pairs of paragraphs."""
    picked = [paragraphs[i] for i in rng.integers(len(paragraphs), size=PARAGRAPHS_PER_CHUNK * CHUNKS_PER_DOC)]
    text = f"Archive item {n}." + "".join("\n\n" + p for p in picked)
    doc = make_document(title=f"Archive report {n}", text=text, source=f"archive/{n:07d}.txt",
                        published_at=f"20{10 + n % 15}-{1 + n % 12:02d}-{1 + n % 28:02d}")  # fmt: skip
    bounds, offset = [], len(f"Archive item {n}.") + 2
    for first in range(0, len(picked), PARAGRAPHS_PER_CHUNK):
        length = sum(len(p) for p in picked[first : first + PARAGRAPHS_PER_CHUNK]) + 2 * (PARAGRAPHS_PER_CHUNK - 1)
        bounds.append((0 if first == 0 else offset, offset + length))
        offset += length + 2
    chunks = [ChunkSpan(a, b, _spans(text, a, b, SENTENCE_SPANS_PER_CHUNK)) for a, b in bounds]
    return doc, chunks


def _batches(n_chunks: int, paragraphs: list[str], pools: tuple[np.ndarray, np.ndarray]) -> Iterator[list]:
    rng = np.random.default_rng(21)
    chunk_pool, sentence_pool = pools
    docs = n_chunks // CHUNKS_PER_DOC
    for first in range(0, docs, BATCH_DOCS):
        batch = []
        for n in range(first, min(docs, first + BATCH_DOCS)):
            doc, chunks = _document(n, paragraphs, rng)
            sentences = sorted({s for c in chunks for s in c.sentences})
            batch.append(NewDocument(doc, chunks, _around(chunk_pool, len(chunks), rng), sentences,
                                     _around(sentence_pool, len(sentences), rng),
                                     _around(sentence_pool, 1, rng)[0]))  # fmt: skip
        yield batch


def build(index_dir: Path, n_chunks: int, chunk_pool: np.ndarray, sentence_pool: np.ndarray, model: str) -> dict:
    """Write `n_chunks` synthetic chunks into the SQLite database of `index_dir`; FAISS and BM25 are left to
    the library (built from SQLite when it opens)."""
    paragraphs = [p for a in perf_data.source_articles() for p in a.paragraphs if len(p.split()) >= 20]
    index_dir.mkdir(parents=True, exist_ok=True)
    np.save(index_dir / "pool_chunks.npy", chunk_pool)
    np.save(index_dir / "pool_sentences.npy", sentence_pool)
    store = Store(index_dir / "library.sqlite")
    started = time.perf_counter()
    store.check_model(model, chunk_pool.shape[1])
    for batch in _batches(n_chunks, paragraphs, (chunk_pool, sentence_pool)):
        store.write(add=batch)
    seconds = time.perf_counter() - started
    documents, chunks = store.counts()
    store.close()
    return {"documents": documents, "chunks": chunks, "sqlite_write_s": seconds}


# ---- measuring, in a fresh process ---------------------------------------------------------------


def rss_mb() -> float:
    """Resident memory, after handing freed heap back to the system."""
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class _BulkEmbedder:
    """The real model for questions; near-real vectors for the texts of added articles (embedding excluded)."""

    def __init__(self, real: SentenceTransformerEmbedder, pool: np.ndarray) -> None:
        self.real, self.name, self.pool, self.bulk = real, real.name, pool, False
        self._rng = np.random.default_rng(5)

    @property
    def dimension(self) -> int:
        return self.real.dimension

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        if self.bulk:
            return _around(self.pool, len(texts), self._rng)
        return self.real.embed(texts, batch_size=batch_size)


def _p(values: Sequence[float], q: float) -> float:
    return float(np.percentile(values, q))


def measure(index_dir: Path, questions: list[str], repeats: int) -> dict:
    """Open the library, build its indexes, then time answers and uploads; prints one JSON object."""
    real = SentenceTransformerEmbedder(load_settings().embedding_model, backend=load_settings().embedding_backend)
    real.embed(["warm up"])
    embedder = _BulkEmbedder(real, np.load(index_dir / "pool_chunks.npy"))
    settings = load_settings(index_dir=index_dir)
    first = Library(settings, embedder=embedder)
    open_s = timed(first.indexes.current)[0]  # FAISS and BM25 built from SQLite (first open) and saved
    first.close()
    del first
    before = rss_mb()
    library = Library(settings, embedder=embedder)
    reopen_s = timed(library.indexes.current)[0]  # loading the saved files, as every later process does
    vectors, lexical = library.indexes.current()
    loaded = rss_mb()
    for question in questions[:3]:
        library.ask(question)
    ask = [[timed(lambda q=q: library.ask(q))[0] * 1000 for q in questions] for _ in range(repeats)]
    search = [[timed(lambda q=q: library.search(q))[0] * 1000 for q in questions] for _ in range(repeats)]
    recall = _recall_at_10(library, questions)
    embedder.bulk = True
    records = perf_data.generate(repeats + 1, seed=31, start=900_000)
    add = []
    for n, record in enumerate(records):
        path = perf_data.write_jsonl([record], index_dir.parent / f"one-{index_dir.name}-{n}.jsonl")
        seconds = timed(lambda p=path: library.add([p]))[0]
        if n:  # the first add also loads the delta's tokens once: reported apart
            add.append(seconds)
        else:
            first_add = seconds
    chunk_bytes = sum(len(t) for t in library.store.chunk_texts()[1])
    n = len(vectors)
    raw = n * vectors.dimension * 4
    return {
        "chunks": n,
        "index_type": vectors.kind,
        "ivf_lists": vectors.lists,
        "ivf_nprobe": settings.ivf_nprobe if vectors.kind == "ivf" else None,
        "open_build_s": open_s,
        "open_saved_s": reopen_s,
        "ask_p50_ms": [_p(p, 50) for p in ask],
        "ask_p95_ms": [_p(p, 95) for p in ask],
        "search_p50_ms": [_p(p, 50) for p in search],
        "search_p95_ms": [_p(p, 95) for p in search],
        "recall@10": recall,
        "rss_before_mb": before,
        "rss_loaded_mb": loaded,
        "rss_delta_mb": loaded - before,
        "raw_vectors_mb": raw / 2**20,
        "chunk_text_mb": chunk_bytes / 2**20,
        "memory_over_raw_plus_text": (loaded - before) * 2**20 / (raw + chunk_bytes),
        "add_first_s": first_add,
        "add_one_article_s": add,
        "bm25_main_chunks": len(lexical.main),
        "questions": len(questions),
        "passes": repeats,
    }


def _recall_at_10(library: Library, questions: list[str]) -> float:
    """Share of the exact top-10 (NumPy over every stored vector) that the product's FAISS index returns."""
    vectors, _ = library.indexes.current()
    ids, matrix = library.store.vectors()
    found = []
    for question in questions:
        query = library.embedder.embed([question])[0]
        exact = set(ids[np.argsort(-(matrix @ query))[:10]].tolist())
        found.append(len(exact & set(vectors.search(query, 10)[1].tolist())) / 10)
    return float(np.mean(found))


def summarize(result: dict) -> dict:
    """Median, min and max of the per-pass lists."""
    out = {}
    for key, value in result.items():
        if isinstance(value, list) and value and isinstance(value[0], float):
            out[key] = {"median": statistics.median(value), "min": min(value), "max": max(value), "runs": len(value)}
        else:
            out[key] = value
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["measure"])
    parser.add_argument("index_dir", type=Path)
    parser.add_argument("--questions", type=Path, required=True, help="JSON list of questions")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    questions = json.loads(args.questions.read_text())
    print(json.dumps(measure(args.index_dir, questions, args.repeats)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
