"""Performance benchmark: indexing rate, answer latency, vector search at scale and cold start.

1. A realistic batch: `--articles` news articles (benchmarks/perf_data.py recombines real paragraphs).
2. Raw encode rate on exactly the texts `Library.add` embeds (chunks with titles, sentences, titles; same
   groups, length-sorted batches and batch size) against the full `Library.add` rate on the same batch.
3. `Library.ask` / `Library.search` latency on that index, then on a ~10k-chunk library whose bulk vectors are
   synthetic (real vectors reused and perturbed: vectors synthetic, code path the product's; questions are
   embedded for real), and the cost of adding one article to it.
4. The product's `VectorIndex` (exact FAISS) at 100k and 1M synthetic vectors clustered around real embeddings:
   latency, recall@10 against NumPy, memory; HNSW (for comparison only) and IVF (what the product switches to from
   `QA_APP_IVF_THRESHOLD` chunks) beside it.
5. Cold start: `python -m qa_app ask --json` from process start to exit, and `qa-app serve` until healthy.

Latencies and rates are the median of `--repeats` runs (or passes over the questions) with min and max; builds,
memory and recall are measured once (the `runs` column says so). Prints a table and writes
benchmarks/results/perf.json. Run with `make bench`: about 6 minutes on a quiet 2-core machine, 11-17 when
other processes keep it busy (the load average is recorded per step). One script, like quality.py, so it
runs without the package knowing about it; hence its length.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path

import cold_start
import faiss
import numpy as np
import perf_data
import perf_scale
import perf_ui
import torch
from timing import TimedEmbedder, host, timed

from qa_app import ingest
from qa_app.config import Settings, load_settings
from qa_app.embedder import SentenceTransformerEmbedder
from qa_app.index import VectorIndex
from qa_app.lexical import LexicalIndex
from qa_app.library import Library
from qa_app.query_encoder import QueryEncoder
from qa_app.store import Store

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "data"
RESULTS = ROOT / "benchmarks" / "results" / "perf.json"
DIM = 384
SEARCH_K = 50  # what retrieval asks FAISS for (settings.candidates)
BLOCK = 50_000  # synthetic vectors are made and added in blocks, so no full copy stays beside the index
NOISE = 0.038  # per-dimension noise around a real vector: cosine ~0.8 to it
QUESTIONS = 50
SECRET = re.compile(r"key|secret|password", re.IGNORECASE)  # settings never written to the results file

figures: dict[str, dict] = {}  # name -> median, min, max, unit, runs, values
notes: dict[str, str] = {}  # name -> what the figure covers and what limits it
details: dict[str, object] = {}  # context: counts, index types, memory, phases, load average


# ---- recording -----------------------------------------------------------------------------------


def record(name: str, runs: Sequence[float], unit: str, note: str | None = None) -> None:
    """One figure: median, min and max of its runs."""
    values = [float(r) for r in runs]
    figures[name] = {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "unit": unit,
        "runs": len(values),
        "values": [round(v, 6) for v in values],
    }
    if note:
        notes[name] = note


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def rss_bytes() -> int:
    """Resident memory (VmRSS) from /proc, after handing freed heap back so earlier steps do not hide a delta."""
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def section(name: str, started: float) -> None:
    """Announce a step on stderr and keep the load average when it began (other processes share the CPU)."""
    print(f"[{time.perf_counter() - started:5.0f} s] {name}", file=sys.stderr)
    details.setdefault("load_average_at_step", {})[name] = os.getloadavg()  # type: ignore[union-attr]


def machine() -> dict:
    return {
        **host(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "faiss": faiss.__version__,
        "faiss_omp_threads": faiss.omp_get_max_threads(),
        "numpy": np.__version__,
        "omp_env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY") if k in os.environ},
    }


# ---- 2. encode rate versus the whole pipeline ------------------------------------------------------


def pipeline_batches(jsonl: Path, settings: Settings) -> tuple[list[list[str]], int, int]:
    """The batches `Library.add` embeds for this file: ingest's groups, texts and length-sorted batches."""
    documents, _ = ingest.load([jsonl], settings)
    chunked = ingest.chunk(documents, settings)
    recorder = _BatchRecorder()
    for group in ingest.groups(chunked, ingest.WRITE_GROUP_CHUNKS):
        ingest.embed_chunked(group, recorder, settings.embed_batch_size)
    return recorder.batches, sum(len(c) for _, c in chunked), len(chunked)


class _BatchRecorder:
    """An embedder that only records the batches it is given (zero vectors)."""

    name, dimension = "recorder", 1

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def embed(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        self.batches.append(list(texts))
        return np.zeros((len(texts), 1), dtype=np.float32)


def bench_indexing(embedder: SentenceTransformerEmbedder, jsonl: Path, tmp: Path, repeats: int) -> dict:
    """Encode runs and `Library.add` runs, interleaved so that background load hits both alike."""
    settings = load_settings(index_dir=tmp / "unused")
    batches, chunks, articles = pipeline_batches(jsonl, settings)
    texts = [t for batch in batches for t in batch]
    size = settings.embed_batch_size
    embedder.embed(batches[len(batches) // 2], batch_size=size)  # warm-up
    encode_s, add_s, embed_in_add_s, match, library, vectors = [], [], [], True, None, []
    cores: dict[str, list[float]] = {"encode": [], "add": []}
    for run in range(repeats):
        cpu = time.process_time()
        seconds, vectors = timed(lambda: [embedder.embed(batch, batch_size=size) for batch in batches])
        encode_s.append(seconds)
        cores["encode"].append((time.process_time() - cpu) / seconds)
        spy = TimedEmbedder(embedder)
        library = Library(replace(settings, index_dir=tmp / f"batch-{run}"), embedder=spy)
        cpu = time.process_time()
        seconds, results = timed(lambda lib=library: lib.add([jsonl]))
        add_s.append(seconds)
        cores["add"].append((time.process_time() - cpu) / seconds)
        embed_in_add_s.append(spy.seconds)
        pooled = library.settings.sentence_vectors_from == "chunks"  # add embeds chunk passes, not the texts
        match &= (pooled or spy.texts == texts) and sum(r.status == "indexed" for r in results) == articles
        model_texts = len(spy.texts)
        print(f"  run {run + 1}: encode {encode_s[-1]:.1f} s, add {seconds:.1f} s", file=sys.stderr)
    record("encode_chunks_per_s", [chunks / s for s in encode_s], "chunks/s",
           "raw embed() on the pipeline's exact texts (chunks + their sentences + titles), counted in chunks; "
           "MiniLM on the CPU cores left by other processes")  # fmt: skip
    record("encode_texts_per_s", [len(texts) / s for s in encode_s], "texts/s")
    record("encode_s", encode_s, "s")
    record("index_chunks_per_s", [chunks / s for s in add_s], "chunks/s",
           "Library.add: load+normalise, pysbd chunking, embedding, SQLite, FAISS, BM25")  # fmt: skip
    record("articles_per_s", [articles / s for s in add_s], "articles/s")
    record("add_s", add_s, "s")
    record("index_over_encode", [e / a for e, a in zip(encode_s, add_s, strict=True)], "ratio",
           "per interleaved pair: encode seconds / add seconds (target >= 0.9); swings when other processes "
           "take the CPU in one run of a pair and not the other: see add_embed_share")  # fmt: skip
    record("add_embed_share", [e / a for e, a in zip(embed_in_add_s, add_s, strict=True)], "share",
           "share of Library.add wall time spent inside embedder.embed: the rest (loading, chunking, SQLite, "
           "FAISS, BM25) is the pipeline's own overhead, independent of how fast the model ran")  # fmt: skip
    record("texts_embedded_per_article", [model_texts / articles], "texts",
           "texts Library.add runs through the model per article: with pooled sentence vectors (the default) "
           "its chunk passes and the texts embedded alone (titles, sentences past the window); with "
           "QA_APP_SENTENCE_VECTORS_FROM=sentences also every sentence. The raw encode runs embed chunks, "
           "sentences and titles alone, so index_over_encode above 1 is what pooling saves")  # fmt: skip
    disk = sum(path.stat().st_size for path in library.index_dir.rglob("*") if path.is_file())
    record("index_bytes_per_article", [disk / articles], "B",
           "the last add run's index folder (SQLite with its WAL, FAISS, BM25) over its articles; the news set's "
           "split by table and column: benchmarks/index_bytes.py (`make bench-bytes`)")  # fmt: skip
    return {
        "articles": articles,
        "chunks": chunks,
        "texts": len(texts),
        "words": sum(len(r["body"].split()) for r in map(json.loads, jsonl.read_text().splitlines())),
        "text_chars": sum(map(len, texts)),
        "batch_size": size,
        "texts_match_pipeline": match,
        "cpu_seconds_per_wall_second": cores,
        "phases_outside_add_s": pipeline_phases(jsonl, settings, repeats),
        "library": library,
        "real_vectors": np.vstack(vectors),
        "real_is_chunk": np.array(["\n" in t for t in texts]),
    }


def pipeline_phases(jsonl: Path, settings: Settings, repeats: int) -> dict:
    """The non-embedding steps of `add`, timed on their own (median of runs): what the overhead is made of."""
    load, chunk, bm25 = [], [], []
    for _ in range(repeats):
        seconds, (documents, _) = timed(lambda: ingest.load([jsonl], settings))
        load.append(seconds)
        seconds, chunked = timed(lambda d=documents: ingest.chunk(d, settings))
        chunk.append(seconds)
        texts = [ingest.embedding_text(d.title, d.text[c.start : c.end]) for d, cs in chunked for c in cs]
        bm25.append(timed(lambda t=texts: LexicalIndex.build(np.arange(len(t)), t))[0])
    return {
        "load_normalise": statistics.median(load),
        "chunking": statistics.median(chunk),
        "bm25_build": statistics.median(bm25),
    }


# ---- 3. answer latency -----------------------------------------------------------------------------


def sample_questions(count: int = QUESTIONS) -> list[str]:
    """`count` questions spread evenly over questions.jsonl (answerable and not)."""
    lines = (DATA / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line)["question"] for line in lines if line.strip()]
    return [questions[i] for i in np.linspace(0, len(questions) - 1, min(count, len(questions))).astype(int)]


@contextmanager
def threads(count: int | None) -> Iterator[None]:
    """Run with `count` torch and FAISS threads (None: as configured, one per core by default)."""
    if count is None:
        yield
        return
    saved = torch.get_num_threads(), faiss.omp_get_max_threads()
    torch.set_num_threads(count)
    faiss.omp_set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(saved[0])
        faiss.omp_set_num_threads(saved[1])


def interleaved(groups: list[tuple[int | None, dict[str, Callable]]], inputs: Sequence, repeats: int) -> dict:
    """(ms, result) per call, pass and input. Within a pass each group's calls alternate input by input, so
    background load hits them alike; thread counts change once per group (switching per call slows torch)."""
    runs: dict[str, list[list]] = {kind: [] for _, calls in groups for kind in calls}
    for _ in range(repeats):
        for count, calls in groups:
            with threads(count):
                for call in calls.values():
                    call(inputs[0])  # warm-up after a change of thread count
                for kind in calls:
                    runs[kind].append([])
                for item in inputs:
                    for kind, call in calls.items():
                        seconds, result = timed(lambda c=call, i=item: c(i))
                        runs[kind][-1].append((seconds * 1000, result))
    return runs


def record_latency(name: str, passes: list[list], note: str) -> None:
    """p50 and p95 of each pass; the figure is the median (min, max) over passes."""
    record(f"{name}_p50_ms", [percentile([ms for ms, _ in p], 50) for p in passes], "ms", note)
    record(f"{name}_p95_ms", [percentile([ms for ms, _ in p], 95) for p in passes], "ms")


def bench_latency(library: Library, questions: list[str], repeats: int, prefix: str, extra: dict | None = None) -> None:
    """Library.ask and Library.search latency, and ask with one thread, interleaved question by question."""
    chunks = library.counts()[1]
    for question in questions[:3]:
        library.ask(question)
    calls = {**(extra or {}), "ask": library.ask, "search": library.search}
    runs = interleaved([(None, calls), (1, {"ask_1thread": library.ask})], questions, repeats)
    what = f"{len(questions)} questions x {repeats} passes on {chunks:,} chunks"
    for kind, passes in runs.items():
        note = {
            "ask": f"Library.ask (embeds the question, searches, composes): {what}",
            "search": f"Library.search (embeds the question): {what}",
            "ask_1thread": "Library.ask with torch and FAISS set to 1 thread (product default: 1 per core)",
            "query_embed": "embed() of one question with the real model (what ask and search start with)",
        }.get(kind, kind)
        record_latency(f"{prefix}{kind}", passes, note)


class SyntheticEmbedder:
    """Real vectors for questions; for bulk text (while `bulk` is set) a real vector, reused and perturbed.

    The bulk vector is chosen by a CRC of the text among the real chunk vectors (texts with a title line) or the
    real sentence/title vectors, plus 3% Gaussian noise, normalised. Vectors synthetic, code path the product's.
    Questions go through `QueryEncoder`, as `Library` embeds them (the float32 ONNX export, no torch: torch's
    idle threads spin after each call and slow whatever runs next, such as the answer reader).
    """

    def __init__(self, real: SentenceTransformerEmbedder, chunk_pool: np.ndarray, sentence_pool: np.ndarray) -> None:
        self.real, self.name, self.bulk = real, real.name, False
        self.questions = QueryEncoder(real)
        self.pools = (chunk_pool, sentence_pool)

    @property
    def dimension(self) -> int:
        return self.real.dimension

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        if not self.bulk:
            return self.questions.embed(texts, batch_size=batch_size)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        rows = []
        for text in texts:
            seed = zlib.crc32(text.encode())
            pool = self.pools[0] if "\n" in text else self.pools[1]
            noise = np.random.default_rng(seed).standard_normal(pool.shape[1], dtype=np.float32) * np.float32(0.03)
            rows.append(pool[seed % len(pool)] + noise)
        vectors = np.vstack(rows)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def bench_large(embedder: SentenceTransformerEmbedder, indexing: dict, tmp: Path, target: int, repeats: int) -> dict:
    """Latency at ~`target` chunks, the cost of adding one article there, and its size on disk and in memory."""
    real, is_chunk = indexing["real_vectors"], indexing["real_is_chunk"]
    synthetic = SyntheticEmbedder(embedder, real[is_chunk], real[~is_chunk])
    count = round(target * indexing["articles"] / indexing["chunks"])
    sources = perf_data.source_articles()
    records = perf_data.generate(count, seed=11, sources=sources, start=10_000)
    jsonl = perf_data.write_jsonl(records, tmp / "large.jsonl")
    settings = load_settings(index_dir=tmp / "large")
    library = Library(settings, embedder=synthetic)
    synthetic.bulk = True
    build_s, _ = timed(lambda: library.add([jsonl]))
    chunks = library.counts()[1]
    print(f"  built {chunks:,} chunks in {build_s:.1f} s (synthetic vectors)", file=sys.stderr)
    one_article = []
    for n, article in enumerate(perf_data.generate(repeats, seed=12, sources=sources, start=20_000)):
        path = perf_data.write_jsonl([article], tmp / f"one-{n}.jsonl")
        one_article.append(timed(lambda p=path: library.add([p]))[0])
    synthetic.bulk = False
    record("add_one_article_at_10k_s", one_article, "s",
           "Library.add of one article to the large library, embedding excluded (synthetic): chunking, SQLite, "
           "FAISS save of the whole index, BM25 rebuilt over every chunk")  # fmt: skip
    store = Store(settings.index_dir / "library.sqlite")
    ids, texts = store.chunk_texts()
    store.close()
    record("bm25_rebuild_at_10k_s", [timed(lambda: LexicalIndex.build(ids, texts))[0] for _ in range(repeats)], "s",
           "LexicalIndex.build over every chunk: paid by every add/remove, grows with the library")  # fmt: skip
    before = rss_bytes()
    reader = Library(settings, embedder=synthetic)
    bench_latency(reader, sample_questions(), repeats, "10k_")
    rss_delta = rss_bytes() - before
    files = {f.name: f.stat().st_size / 2**20 for f in settings.index_dir.iterdir() if f.is_file()}
    for folder in settings.index_dir.glob("bm25-*"):
        files[f"{folder.name}/"] = sum(f.stat().st_size for f in folder.iterdir()) / 2**20
    return {
        "chunks": chunks,
        "articles": count + repeats,
        "build_s_synthetic_vectors": build_s,
        "vectors": "synthetic (real chunk/sentence vectors reused + 3% noise); questions embedded for real",
        "reader_rss_delta_mb": rss_delta / 2**20,
        "disk_mb": reader.status().size_bytes / 2**20,
        "disk_files_mb": {name: round(mb, 2) for name, mb in files.items()},
        "raw_chunk_vectors_mb": chunks * DIM * 4 / 2**20,
        "chunk_text_mb": sum(map(len, texts)) / 2**20,
    }


# ---- 4. vector search at scale --------------------------------------------------------------------


def clustered_block(centers: np.ndarray, start: int, count: int) -> np.ndarray:
    """Unit vectors around real embeddings, reproducible per block."""
    rng = np.random.default_rng([3, start])
    block = centers[rng.integers(len(centers), size=count)]
    block += rng.standard_normal(block.shape, dtype=np.float32) * np.float32(NOISE)
    block /= np.linalg.norm(block, axis=1, keepdims=True)
    return block


def blocks(centers: np.ndarray, n: int) -> list[tuple[int, Callable[[], np.ndarray]]]:
    return [(s, lambda s=s: clustered_block(centers, s, min(BLOCK, n - s))) for s in range(0, n, BLOCK)]


def label(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else f"{n // 1000}k"


def recall_at_10(passes: list[list], truth: np.ndarray) -> float:
    """Share of the brute-force top-10 found in the top 10 returned (last pass)."""
    returned = [ids for _, ids in passes[-1]]
    found = [len(set(ids[:10].tolist()) & set(true.tolist())) / 10 for ids, true in zip(returned, truth, strict=True)]
    return float(np.mean(found))


def bench_flat(centers: np.ndarray, queries: np.ndarray, n: int, repeats: int) -> np.ndarray:
    """The product's VectorIndex at `n` vectors; returns the brute-force top-10 ids for the ANN comparison."""
    before = rss_bytes()
    index = VectorIndex(DIM)
    best_scores = np.full((len(queries), 10), -np.inf, dtype=np.float32)
    best_ids = np.zeros((len(queries), 10), dtype=np.int64)
    add_s = 0.0
    for start, make in blocks(centers, n):
        block = make()
        ids = np.arange(start, start + len(block))
        add_s += timed(lambda b=block, i=ids: index.add(i, b))[0]
        scores = np.concatenate([best_scores, queries @ block.T], axis=1)
        every = np.concatenate([best_ids, np.broadcast_to(ids, (len(queries), len(ids)))], axis=1)
        top = np.argsort(-scores, axis=1)[:, :10]
        best_scores, best_ids = np.take_along_axis(scores, top, 1), np.take_along_axis(every, top, 1)
    del block, scores, every
    memory = rss_bytes() - before
    raw = n * DIM * 4
    inner = faiss.downcast_index(index._index)
    details[f"flat_{label(n)}"] = {
        "index_type": f"{type(inner).__name__} over {type(faiss.downcast_index(inner.index)).__name__}",
        "vectors": n,
        "add_s": add_s,
        "rss_delta_mb": memory / 2**20,
        "raw_mb": raw / 2**20,
        "serialized_mb": len(faiss.serialize_index(index._index)) / 2**20,
    }
    search = lambda q: index.search(q, SEARCH_K)[1]  # noqa: E731
    runs = interleaved([(None, {"search": search}), (1, {"search_1thread": search})], list(queries), repeats)
    what = f"VectorIndex.search, {len(queries)} real question vectors one at a time, k={SEARCH_K}, {repeats} passes"
    record_latency(f"flat_{label(n)}_search", runs["search"], f"{what}; scans {raw / 2**20:,.0f} MB per query")
    record_latency(f"flat_{label(n)}_search_1thread", runs["search_1thread"], "the same with FAISS on 1 thread")
    record(f"flat_{label(n)}_recall@10", [recall_at_10(runs["search"], best_ids)], "share",
           "vs brute-force NumPy top-10 (exact: 1.0 expected)")  # fmt: skip
    record(f"flat_{label(n)}_memory_over_raw", [memory / raw], "ratio",
           "VmRSS delta of building the index / raw float32 vector bytes (text lives in SQLite, on disk)")  # fmt: skip
    return best_ids


def ann_search(index: faiss.Index, params: faiss.SearchParameters) -> Callable[[np.ndarray], np.ndarray]:
    return lambda q: index.search(q.reshape(1, -1), SEARCH_K, params=params)[1][0]


def ann_index(kind: str, nlist: int) -> faiss.Index:
    if kind == "hnsw":
        return faiss.IndexHNSWFlat(DIM, 32, faiss.METRIC_INNER_PRODUCT)
    return faiss.IndexIVFFlat(faiss.IndexFlatIP(DIM), DIM, nlist, faiss.METRIC_INNER_PRODUCT)


def bench_ann(centers: np.ndarray, queries: np.ndarray, truth: np.ndarray, n: int, repeats: int) -> None:
    """HNSW (for comparison only) and IVF (the product's from `QA_APP_IVF_THRESHOLD` chunks) beside the exact index."""
    nlist = int(4 * np.sqrt(n))
    train = np.vstack([make() for _, make in blocks(centers, min(n, 64 * nlist))])
    for kind, knob, values in (("hnsw", "efSearch", (64, 128)), ("ivf", "nprobe", (16, 32))):
        print(f"  {kind} at {n:,} vectors", file=sys.stderr)
        before = rss_bytes()
        index = ann_index(kind, nlist)
        build_s = timed(lambda i=index: i.train(train))[0] if not index.is_trained else 0.0
        for _, make in blocks(centers, n):
            block = make()
            build_s += timed(lambda i=index, b=block: i.add(b))[0]
        del block
        memory = rss_bytes() - before
        details[f"{kind}_{label(n)}"] = {
            "index_type": type(index).__name__,
            "params": "M=32, efConstruction=40" if kind == "hnsw" else f"nlist={nlist}, trained on {len(train):,}",
            "vectors": n,
            "build_s": build_s,
            "rss_delta_mb": memory / 2**20,
            "memory_over_raw": memory / (n * DIM * 4),
            "serialized_mb": len(faiss.serialize_index(index)) / 2**20,
        }
        record(f"{kind}_{label(n)}_build_s", [build_s], "s", "built once" + (", training included" * (kind == "ivf")))
        params = faiss.SearchParametersHNSW if kind == "hnsw" else faiss.SearchParametersIVF
        calls = {f"{knob}{v}": ann_search(index, params(**{knob: v})) for v in values}
        # one block per setting: alternating per query would hand the second setting a cache warmed by the first
        groups = [(None, {variant: call}) for variant, call in calls.items()]
        for variant, passes in interleaved(groups, list(queries), repeats).items():
            record(f"{kind}_{label(n)}_{variant}_p50_ms", [percentile([ms for ms, _ in p], 50) for p in passes], "ms")
            record(f"{kind}_{label(n)}_{variant}_recall@10", [recall_at_10(passes, truth)], "share")


# ---- 5. cold start -------------------------------------------------------------------------------


def bench_cold(index_dir: Path, tmp: Path, repeats: int) -> None:
    question = "Did Mexico accept American troops?"
    command = [sys.executable, "-m", "qa_app", "ask", question, "--json", "--index-dir", str(index_dir)]
    runs = []
    for _ in range(repeats):
        seconds, done = timed(lambda: subprocess.run(command, capture_output=True, text=True, cwd=ROOT))
        if done.returncode or "citations" not in json.loads(done.stdout):
            raise RuntimeError(f"`qa-app ask` failed: {done.stderr[-500:]}")
        runs.append(seconds)
    record("cli_ask_cold_s", runs, "s",
           "process start to exit: imports, the question model's ONNX session, one answer")  # fmt: skip
    stages: dict[str, list[float]] = {}
    for _ in range(repeats):  # the same work in a fresh interpreter, timed by stage (benchmarks/cold_start.py)
        for stage, seconds in cold_start.split(ROOT, index_dir)["stages"].items():
            stages.setdefault(stage, []).append(seconds)
    record("cold_imports_s", stages["imports"], "s", "import qa_app.cli in a fresh interpreter")
    record("cold_model_load_s", stages["question_vector"], "s",
           "the first question's vector: the ONNX export's session and tokenizer load, then one encode")  # fmt: skip
    record("cold_first_answer_s", stages["answer"], "s",
           "the first answer after that: search indexes, scorer and (when on) the answer reader's session")  # fmt: skip
    ui = perf_ui.streamlit_first_answer(perf_ui.build_corpus_index(tmp / "ui-index"), perf_ui.QUESTIONS, repeats)
    record("serve_ready_s", ui["healthy_s"], "s", "`qa-app serve` start until /_stcore/health answers")
    record(
        "streamlit_chat_ready_s", ui["chat_ready_s"], "s", "`qa-app serve` start until Chromium shows the chat input"
    )
    record("streamlit_first_answer_s", ui["first_answer_s"], "s",
           "`qa-app serve` start, question typed as soon as the input shows, until the answer and its first source "
           "card are drawn in Chromium (benchmarks/perf_ui.py)")  # fmt: skip
    after_ready = [first - ready for first, ready in zip(ui["first_answer_s"], ui["healthy_s"], strict=True)]
    record("streamlit_first_answer_after_ready_s", after_ready, "s",
           "streamlit_first_answer_s minus serve_ready_s: the target's 'after the server reports ready'")  # fmt: skip
    record("streamlit_warm_answer_s", ui["warm_answer_s"], "s",
           "Enter to answer drawn, 2nd and 3rd questions: Streamlit reruns and redraws the conversation")  # fmt: skip


# ---- main ---------------------------------------------------------------------------------------


def parse_scale(text: str) -> list[int]:
    units = {"k": 1_000, "m": 1_000_000}
    sizes = [p.strip().lower() for p in text.split(",") if p.strip()]
    return [int(float(p[:-1]) * units[p[-1]]) if p[-1] in units else int(p) for p in sizes]


def limits(info: dict) -> dict[str, str]:
    """What limited each step, from the figures and the machine's load (written beside the per-figure notes)."""
    cores = info["cpu_count"] or 1
    busiest = max([info["load_average_at_start"][0], *(v[0] for v in details["load_average_at_step"].values())])
    busy = busiest > cores + 0.5  # the benchmark's own threads count for up to `cores`
    result = {"machine": f"load average up to {busiest:.1f} on {cores} cores (this process included): "
              + ("other processes took CPU time, so wall-clock figures include waiting for a core; min/max show "
                 "the swing" if busy else "the benchmark had the machine nearly to itself")}  # fmt: skip
    indexing = details.get("indexing", {})
    if "add_embed_share" in figures:
        share = figures["add_embed_share"]["median"]
        obtained = indexing.get("cpu_seconds_per_wall_second", {})
        got = obtained.get("encode", [0.0])
        result["indexing"] = (
            f"embedding is {share:.0%} of Library.add; the pipeline's own work (chunking "
            f"{indexing['phases_outside_add_s']['chunking']:.1f} s, SQLite, FAISS, BM25) the rest. The model got "
            f"{min(got):.2f}-{max(got):.2f} CPU-seconds per second (of {cores}): "
            + ("the encode rate measures the CPU left by other processes as much as the model"
               if min(got) < 0.9 * cores else "the encode rate is the model's on this CPU")
        )  # fmt: skip
    if "ask_p50_ms" in figures and "ask_1thread_p50_ms" in figures:
        default, single = (
            [figures[f"ask{variant}_{q}_ms"]["median"] for q in ("p50", "p95")] for variant in ("", "_1thread")
        )
        stalls = default[1] > 3 * single[1]
        result["latency"] = (
            f"embedding the question is most of an answer (query_embed); ask p50/p95 {default[0]:.0f}/{default[1]:.0f}"
            f" ms with the default threads, {single[0]:.0f}/{single[1]:.0f} ms on 1 torch and 1 FAISS thread"
            + ("; the default's p95 holds stalls of OpenMP threads waiting for a busy core" if stalls else "")
        )
    result["vectors"] = (
        "synthetic vectors around step 2's real ones; exact search scans every vector, so it grows linearly; "
        "HNSW recall on these tight synthetic clusters may differ from real data"
    )
    if "cold_imports_s" in figures:
        cold = {name: figures[f"cold_{name}_s"]["median"] for name in ("imports", "model_load", "first_answer")}
        result["cold_start"] = (
            f"`qa-app ask` {figures['cli_ask_cold_s']['median']:.2f} s: imports {cold['imports']:.2f} s (numpy, "
            f"FAISS, bm25s with SciPy, rich; no torch), the question model's ONNX session and first vector "
            f"{cold['model_load']:.2f} s, the answer {cold['first_answer']:.2f} s (the answer reader's session "
            "included when it is on); the rest is the interpreter and printing"
        )
    return result


def print_table() -> None:
    indexing, large = details.get("indexing", {}), details.get("large", {})
    batch = ", ".join(f"{indexing.get(key, 0):,} {key}" for key in ("articles", "words", "chunks", "texts"))
    print(f"batch: {batch} (texts embedded); large library: {large.get('chunks', 0):,} chunks")
    print(f"{'figure':<34}{'median':>11}{'min':>11}{'max':>11}  {'unit':<11}runs")
    for name, f in figures.items():
        print(f"{name:<34}{f['median']:>11.4g}{f['min']:>11.4g}{f['max']:>11.4g}  {f['unit']:<11}{f['runs']}")


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=60, help="articles in the realistic batch (default 60)")
    parser.add_argument("--repeats", type=int, default=3, help="runs or passes per figure (default 3)")
    parser.add_argument("--large-chunks", type=int, default=10_000, help="size of the synthetic-vector library")
    parser.add_argument("--scale", default="100k,1M", help="exact-index sizes (default 100k,1M)")
    parser.add_argument("--full", action="store_true", help="HNSW/IVF at the largest scale, not 100k (much longer)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="JSON results file")
    return parser.parse_args(argv)


def bench_vectors(centers: np.ndarray, queries: np.ndarray, args: argparse.Namespace, started: float) -> None:
    scales = parse_scale(args.scale)
    ann_at = max(scales) if args.full else min(*scales, 100_000)
    details["vector_data"] = {
        "centres": len(centers),
        "queries": len(queries),
        "how": "step 2's real chunk/sentence/title vectors as centres + N(0, 0.038^2) per dimension, normalised "
        "(cosine ~0.8 to the centre); queries are real question embeddings",
        "ann_scale": ann_at,
    }
    for n in scales:
        section(f"4. vectors at {n:,}", started)
        truth = bench_flat(centers, queries, n, args.repeats)
        if n == ann_at:
            bench_ann(centers, queries, truth, n, args.repeats)
    if ann_at not in scales:
        bench_ann(centers, queries, bench_flat(centers, queries, ann_at, args.repeats), ann_at, args.repeats)


def bench_product_at_scale(chunk_pool: np.ndarray, sentence_pool: np.ndarray, questions: list[str],
                           args: argparse.Namespace, tmp: Path, started: float) -> None:  # fmt: skip
    """`Library` itself at each scale: built from a synthetic SQLite database, measured in a fresh process."""
    (tmp / "questions.json").write_text(json.dumps(questions))
    for n in parse_scale(args.scale):
        section(f"4. the product at {n:,} chunks", started)
        folder = tmp / f"scale-{label(n)}"
        built = perf_scale.build(folder, n, chunk_pool, sentence_pool, load_settings().embedding_model)
        command = [sys.executable, str(ROOT / "benchmarks" / "perf_scale.py"), "measure", str(folder),
                   "--questions", str(tmp / "questions.json"), "--repeats", str(args.repeats)]  # fmt: skip
        result = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
        size = label(n)
        what = f"Library.{{}} at {result['chunks']:,} chunks ({result['index_type']} index), {len(questions)} questions"
        record(f"product_{size}_ask_p50_ms", [float(v) for v in result.pop("ask_p50_ms")], "ms", what.format("ask"))
        record(f"product_{size}_ask_p95_ms", [float(v) for v in result.pop("ask_p95_ms")], "ms")
        record(f"product_{size}_search_p50_ms", [float(v) for v in result.pop("search_p50_ms")], "ms",
               what.format("search"))  # fmt: skip
        record(f"product_{size}_search_p95_ms", [float(v) for v in result.pop("search_p95_ms")], "ms")
        record(f"product_{size}_recall@10", [result.pop("recall@10")], "share",
               "the product's FAISS search vs exact NumPy top-10 over every stored vector, real questions")  # fmt: skip
        record(f"product_{size}_memory_over_raw_plus_text", [result.pop("memory_over_raw_plus_text")], "ratio",
               "VmRSS growth of opening the library (FAISS + BM25 + ids) / (float32 vectors + chunk text)")  # fmt: skip
        record(f"product_{size}_add_one_article_s", result.pop("add_one_article_s"), "s",
               "Library.add of one 300-1500-word article, embedding excluded (synthetic): chunking, SQLite, "
               "FAISS update and save, BM25 delta update and save")  # fmt: skip
        details[f"product_{size}"] = {**built, **result}
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments(argv)
    started = time.perf_counter()
    info = machine()
    settings = load_settings()
    embedder = SentenceTransformerEmbedder(settings.embedding_model, backend=settings.embedding_backend)
    details["model_load_s"] = timed(lambda: embedder.embed(["warm-up"]))[0]
    questions = sample_questions()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        jsonl = perf_data.write_jsonl(perf_data.generate(args.articles), tmp / "batch.jsonl")
        section(f"2. indexing {args.articles} articles x {args.repeats} runs", started)
        indexing = bench_indexing(embedder, jsonl, tmp, args.repeats)
        library = indexing.pop("library")
        section("3. answer latency", started)
        embed_one = {"query_embed": lambda q: embedder.embed([q])}
        bench_latency(library, questions, args.repeats, "", embed_one)
        section(f"3. latency at ~{args.large_chunks:,} chunks", started)
        details["large"] = bench_large(embedder, indexing, tmp, args.large_chunks, args.repeats)
        centers = indexing.pop("real_vectors")
        indexing_is_chunk = indexing.pop("real_is_chunk")
        details["indexing"] = indexing
        bench_vectors(centers, embedder.embed(questions), args, started)
        bench_product_at_scale(centers[indexing_is_chunk], centers[~indexing_is_chunk], questions, args, tmp, started)
        section("5. cold start", started)
        bench_cold(library.index_dir, tmp, args.repeats)
        library.close()
    info["load_average_at_end"] = os.getloadavg()
    notes["limits"] = limits(info)  # type: ignore[assignment]
    print_table()
    result = {
        "benchmark": "perf",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "duration_s": time.perf_counter() - started,
        "arguments": {**vars(args), "output": str(args.output)},
        "machine": info,
        "settings": {
            k: "<redacted>" if SECRET.search(k) and v else str(v)
            for k, v in asdict(settings).items()
            if k != "index_dir"  # each step uses its own temporary directory
        },
        "figures": figures,
        "notes": notes,
        "details": details,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2, default=float) + "\n")
    print(f"\nwrote {args.output} in {result['duration_s']:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
