"""Scale-out figures: indexing in-process, on local Ray and on a two-node local Ray cluster; storage per article.

`ray`: the same generated articles (benchmarks/perf_data.py) indexed by the CLI as users run it, each run into
a new index: `qa-app index DIR`, `qa-app index DIR --ray` (a new local Ray) and `qa-app index DIR --ray ADDRESS`
(two nodes on 127.0.0.1, tests/ray_cluster.py, started once; its start-up is timed). Wall time of the whole
command (Python start-up, model loads, Ray start-up, embedding, commits); runs interleaved, medians reported.
Ray start-up alone is timed as `ray.init()` of a new local instance and its shutdown, in a fresh process.

`storage`: articles through the product's loader, chunker and sentence splitter and `Library.add`, into real
SQLite, FAISS and BM25 files, with vectors from a stand-in embedder of the model's dimension (the bytes stored do
not depend on the values; embedding them for real would take hours here). Bytes per article for each part.

`ivfpq`: recall@10 against exact search, bytes per vector and query time of today's IVF-Flat and of IVF-PQ
(48 and 96 bytes per vector, alone and re-ranked with the exact vectors) at 1M vectors near real embeddings.

    nice -n 5 .venv/bin/python -m benchmarks.scale_out ray --articles 60 --runs 3
    nice -n 5 .venv/bin/python -m benchmarks.scale_out storage --articles 2000
    nice -n 5 .venv/bin/python -m benchmarks.scale_out ivfpq --vectors 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import perf_data
from benchmarks.timing import host
from qa_app.config import DB_NAME, Settings

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
QA_APP = Path(sys.executable).with_name("qa-app")
MODEL_DIMENSION = 384  # all-MiniLM-L6-v2 (README, "How it works")
FILE_ARTICLES = 10  # articles per JSONL file in the Ray benchmark
_RAY_START = """
import os, time
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
import ray
started = time.perf_counter()
ray.init(address="local", _node_ip_address="127.0.0.1", include_dashboard=False, log_to_driver=False)
ready = time.perf_counter()
ray.shutdown()
print(ready - started, time.perf_counter() - ready)
"""


def machine() -> dict:
    """What ran the benchmark, and how busy the machine was."""
    import ray
    import torch

    return {**host(), "torch": torch.__version__, "ray": ray.__version__, "nice": os.nice(0)}


def _write(name: str, result: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return path


# ---- in-process, local Ray, two nodes -----------------------------------------------------------------------


def _index(folder: Path, index_dir: Path, ray: str | None, env: dict[str, str]) -> dict:
    """One `qa-app index` run into a new index: its wall time and what it reported."""
    argv = [str(QA_APP), "index", str(folder), "--index-dir", str(index_dir), "--json"]
    argv += [] if ray is None else ["--ray", *([ray] if ray else [])]
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=1800)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{done.stderr[-3000:]}")
    statuses = [r["status"] for r in json.loads(done.stdout)["results"]]
    return {"seconds": round(seconds, 2), "indexed": statuses.count("indexed"), "failed": statuses.count("failed"),
            "load_1min_before": load_before, "load_1min_after": os.getloadavg()[0]}  # fmt: skip


def _ray_start_up() -> dict:
    """`ray.init()` of a new local Ray on 127.0.0.1, and its shutdown, in a fresh process (seconds)."""
    done = subprocess.run([sys.executable, "-c", _RAY_START], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"})  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"ray.init failed:\n{done.stderr[-3000:]}")
    init, shutdown = map(float, done.stdout.split()[-2:])
    return {"init_s": round(init, 2), "shutdown_s": round(shutdown, 2)}


def _summary(runs: list[dict], articles: int) -> dict:
    seconds = statistics.median(r["seconds"] for r in runs)
    return {"median_s": round(seconds, 2), "median_articles_per_s": round(articles / seconds, 3),
            "runs_s": [r["seconds"] for r in runs]}  # fmt: skip


def bench_ray(work: Path, articles: int, runs: int) -> dict:
    from tests.ray_cluster import two_node_cluster

    info = machine()
    folder = work / "articles"
    folder.mkdir()
    records = perf_data.generate(articles, seed=13)
    for first in range(0, articles, FILE_ARTICLES):  # several files: Ray reads them in parallel tasks
        perf_data.write_jsonl(records[first : first + FILE_ARTICLES], folder / f"articles-{first:05d}.jsonl")
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    modes: dict[str, list[dict]] = {"in_process": [], "local_ray": [], "two_node_ray": []}
    start_ups = []
    cluster_started = time.perf_counter()
    with two_node_cluster(cpus_per_node=1) as cluster:
        cluster_start_s = time.perf_counter() - cluster_started
        for run in range(runs):  # interleaved, so a change in the machine's load hits every mode alike
            for mode, ray, mode_env in (("in_process", None, env), ("local_ray", "", env),
                                        ("two_node_ray", cluster.address, cluster.env)):  # fmt: skip
                print(f"run {run + 1}/{runs}: {mode}", file=sys.stderr)
                result = _index(folder, work / f"{mode}-{run}", ray, mode_env)
                if result["indexed"] != articles:
                    raise RuntimeError(f"{mode} indexed {result['indexed']} of {articles} articles")
                modes[mode].append(result)
            start_ups.append(_ray_start_up())
    baseline = _summary(modes["in_process"], articles)
    summary = {mode: _summary(results, articles) for mode, results in modes.items()}
    for mode in ("local_ray", "two_node_ray"):
        summary[mode]["ratio_to_in_process"] = round(baseline["median_s"] / summary[mode]["median_s"], 3)
    info["load_average_at_end"] = os.getloadavg()
    return {
        "benchmark": "scale_out ray",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": info,
        "articles": articles,
        "chunks": _chunk_count(work / "in_process-0"),
        "runs": runs,
        "summary": summary,
        "ray_start_up": {
            "median_init_s": statistics.median(s["init_s"] for s in start_ups),
            "median_shutdown_s": statistics.median(s["shutdown_s"] for s in start_ups),
            "runs": start_ups,
        },
        "two_node_cluster_start_s": round(cluster_start_s, 1),
        "details": modes,
        "notes": "wall time of the whole qa-app index command; each two-node run uses the same running cluster "
        "(1 CPU per node, both on this machine)",
    }


def _chunk_count(index_dir: Path) -> int:
    with sqlite3.connect(index_dir / DB_NAME) as db:
        return db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]


# ---- storage per article ---------------------------------------------------------------------------------


class StandInEmbedder:
    """Random unit vectors of the model's dimension: the bytes of real vectors, without the model."""

    name = "storage-benchmark-stand-in"
    dimension = MODEL_DIMENSION

    def __init__(self) -> None:
        self._rng = np.random.default_rng(5)

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        vectors = self._rng.standard_normal((len(texts), self.dimension), dtype=np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _bytes(path: Path) -> int:
    return path.stat().st_size if path.is_file() else sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _sqlite_parts(db_path: Path) -> dict:
    """Bytes of each table and index (SQLite's dbstat), and of the columns that hold text and vectors."""
    with sqlite3.connect(db_path) as db:
        tables = dict(db.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC").fetchall())
        text, title_vectors = db.execute("SELECT SUM(LENGTH(CAST(text AS BLOB))), SUM(LENGTH(title_vector)) "
                                         "FROM documents").fetchone()  # fmt: skip
        chunk_vectors, spans = db.execute("SELECT SUM(LENGTH(vector)), SUM(LENGTH(sentences)) FROM chunks").fetchone()
        sentence_vectors, sentences = db.execute("SELECT SUM(LENGTH(vectors)), SUM(LENGTH(spans)) / 8 "
                                                 "FROM sentence_vectors").fetchone()  # fmt: skip
    columns = {"article_text": text, "chunk_vectors_float32": chunk_vectors, "chunk_sentence_spans_json": spans,
               "sentence_vectors_float16": sentence_vectors, "title_vectors": title_vectors}  # fmt: skip
    return {"pages_by_table": tables, "columns": columns, "sentences": sentences}


def bench_storage(work: Path, articles: int) -> dict:
    from qa_app.library import Library

    info = machine()
    folder = work / "articles"
    folder.mkdir()
    records = perf_data.generate(articles, seed=17)
    perf_data.write_jsonl(records, folder / "articles.jsonl")
    settings = Settings(index_dir=work / "index", max_records=max(articles, 10_000))
    started = time.perf_counter()
    library = Library(settings, embedder=StandInEmbedder())
    results = library.add([folder])
    documents, chunks = library.counts()
    library.close()  # checkpoints the WAL into library.sqlite
    seconds = time.perf_counter() - started
    if documents != articles:
        raise RuntimeError(f"indexed {documents} of {articles}: {[r.reason for r in results if r.reason][:3]}")
    index_dir = settings.index_dir
    files = {p.name: _bytes(p) for p in sorted(index_dir.iterdir())}
    parts = _sqlite_parts(index_dir / DB_NAME)
    kinds = {"sqlite": sum(v for k, v in files.items() if k.startswith(DB_NAME)),
             "faiss": sum(v for k, v in files.items() if k.startswith("vectors-")),
             "bm25": sum(v for k, v in files.items() if k.startswith("bm25"))}  # fmt: skip
    total = sum(files.values())
    per_article = {k: round(v / articles) for k, v in {**kinds, "total": total}.items()}
    per_article |= {k: round(v / articles) for k, v in parts["columns"].items()}
    info["load_average_at_end"] = os.getloadavg()
    return {
        "benchmark": "scale_out storage",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": info,
        "articles": articles,
        "words_per_article": round(sum(len(r["body"].split()) for r in records) / articles),
        "chunks": chunks,
        "chunks_per_article": round(chunks / articles, 2),
        "sentences_per_article": round(parts["sentences"] / articles, 1),
        "seconds_to_build_without_the_model": round(seconds, 1),
        "files": files,
        "sqlite": parts,
        "bytes_per_article": per_article,
        "extrapolated_gb": {
            f"{n:,}": {k: round(v * n / 1e9, 1) for k, v in per_article.items()} for n in (1_000_000, 10_000_000)
        },
        "notes": "vectors from a stand-in embedder of dimension 384 (the bytes do not depend on the values); "
        "articles are real paragraphs recombined (benchmarks/perf_data.py), so BM25's vocabulary is smaller than a "
        "real archive's; FAISS is the flat index below QA_APP_IVF_THRESHOLD chunks",
    }


# ---- compressed vectors: IVF-PQ ------------------------------------------------------------------------------


def _mixed_vectors(pool: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Unit vectors mixing two real embeddings plus noise: spread over the region real texts occupy."""
    first, second = pool[rng.integers(len(pool), size=count)], pool[rng.integers(len(pool), size=count)]
    weight = rng.uniform(0.5, 1.0, size=(count, 1)).astype(np.float32)
    mixed = weight * first + (1 - weight) * second + rng.standard_normal(first.shape, dtype=np.float32) * 0.03
    return mixed / np.linalg.norm(mixed, axis=1, keepdims=True)


def _search(index: Any, queries: np.ndarray, k: int) -> tuple[np.ndarray, float]:
    """Result ids and milliseconds per query, one query at a time on one thread (as the product searches)."""
    import faiss

    faiss.omp_set_num_threads(1)
    started = time.perf_counter()
    ids = np.vstack([index.search(query[None, :], k)[1] for query in queries])
    return ids, (time.perf_counter() - started) * 1000 / len(queries)


def bench_ivfpq(vectors: int, queries: int, pq_bytes: Sequence[int]) -> dict:
    """Recall@10 (against exact search), bytes and query time of IVF-Flat (today's index) and IVF-PQ."""
    import faiss

    from qa_app.embedder import SentenceTransformerEmbedder

    info = machine()
    model = SentenceTransformerEmbedder()
    texts = [p for a in perf_data.source_articles() for p in a.paragraphs]
    sentences = [s.strip() + "." for p in texts for s in p.split(". ") if len(s.split()) >= 5]
    pool = model.embed(sentences)
    questions = [json.loads(line)["question"] for line in (ROOT / "benchmarks/data/questions.jsonl").open()]
    rng = np.random.default_rng(3)
    base = _mixed_vectors(pool, vectors, rng)
    asked = model.embed(questions[:queries])
    exact = faiss.IndexFlatIP(MODEL_DIMENSION)
    exact.add(base)
    truth, exact_ms = _search(exact, asked, 10)
    del exact
    lists = int(2 * np.sqrt(vectors))  # the product's rule (index.py)
    sample = base[rng.choice(vectors, size=min(vectors, 40 * lists), replace=False)]
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    results = {"exact_flat": {"bytes_per_vector": MODEL_DIMENSION * 4, "ms_per_query": round(exact_ms, 2)}}
    specs = [("ivf_flat", f"IVF{lists},Flat")] + [(f"ivf_pq{m}", f"IVF{lists},PQ{m}") for m in pq_bytes]
    for name, spec in specs:
        index = faiss.index_factory(MODEL_DIMENSION, spec, faiss.METRIC_INNER_PRODUCT)
        started = time.perf_counter()
        index.train(sample)
        index.add(base)
        built = time.perf_counter() - started
        faiss.extract_index_ivf(index).nprobe = 32
        size = len(faiss.serialize_index(index))
        ids, ms = _search(index, asked, 10)
        results[name] = {"factory": spec, "nprobe": 32, "build_s": round(built, 1), "bytes": size,
                         "bytes_per_vector": round(size / vectors, 1), "ms_per_query": round(ms, 2),
                         "recall_at_10": _recall(ids, truth)}  # fmt: skip
        if "PQ" in spec:  # re-rank the top 100 with the exact vectors (kept on disk / in SQLite in a product)
            refined = faiss.IndexRefineFlat(index, faiss.swig_ptr(base))  # copies the exact vectors
            refined.k_factor = 10
            ids, ms = _search(refined, asked, 10)
            results[name] |= {"refined_top100_recall_at_10": _recall(ids, truth), "refined_ms_per_query": round(ms, 2)}
            del refined
        del index
        print(name, json.dumps(results[name]), file=sys.stderr, flush=True)  # kept even if a later one fails
    info["load_average_at_end"] = os.getloadavg()
    return {
        "benchmark": "scale_out ivfpq",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": info,
        "vectors": vectors,
        "queries": len(asked),
        "results": results,
        "notes": f"base vectors: mixes of two real sentence embeddings ({len(pool)} sentences of the benchmark "
        "articles) plus noise, unit length; queries: the quality benchmark's real questions, embedded by the model; "
        "recall@10 against exact inner-product search over the same vectors",
    }


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    return round(float(np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(found, truth, strict=True)])), 4)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["ray", "storage", "ivfpq"])
    parser.add_argument("--articles", type=int, default=None, help="ray: 60; storage: 10000")
    parser.add_argument("--runs", type=int, default=3, help="ray: runs of each mode (medians reported)")
    parser.add_argument("--vectors", type=int, default=1_000_000, help="ivfpq: vectors indexed")
    parser.add_argument("--queries", type=int, default=100, help="ivfpq: real questions searched")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="qa-scale-"))
    try:
        if args.command == "ray":
            result = bench_ray(work, args.articles or 60, args.runs)
        elif args.command == "storage":
            result = bench_storage(work, args.articles or 10_000)
        else:
            result = bench_ivfpq(args.vectors, args.queries, (48, 96))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    path = _write(f"scale_out_{args.command}.json", result)
    print(json.dumps(result.get("summary") or result.get("bytes_per_article") or result["results"], indent=2))
    print(f"written to {path.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
