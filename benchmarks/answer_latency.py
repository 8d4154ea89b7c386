"""Answer latency with and without the answer reader, on the same library and questions (interleaved blocks).

Indexes `corpus/` plus benchmarks/data/articles.jsonl with the real model, then asks the benchmark questions
through two Libraries on that index (QA_APP_ANSWER_READER on and off), alternating blocks of one pass each so
neither gets a warmer cache; prints and writes median / p95 per setting with the machine's load average.

    python -m benchmarks.answer_latency [--repeats 3]
    python -m benchmarks.answer_latency --large 10000 --out benchmarks/results/answer_latency_10k.json

`--large N`: instead, a library of ~N chunks of generated articles (benchmarks/perf_data.py) with synthetic bulk
vectors, real ones reused with noise, as perf.py's latency at 10k chunks; asked perf.py's 50 sample questions,
embedded for real by the float32 ONNX export, as `Library` embeds questions.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from benchmarks import perf_data
from benchmarks.quality import load_questions
from benchmarks.timing import host
from qa_app.chunking import chunk_text, sentence_spans
from qa_app.config import Settings, load_settings
from qa_app.embedder import Embedder, SentenceTransformerEmbedder
from qa_app.library import Library

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "answer_latency.json"


def build_news(settings: Settings, embedder: SentenceTransformerEmbedder) -> tuple[Embedder, list[str]]:
    """The news library (corpus/ + articles.jsonl) embedded for real, and 45 of its 135 questions."""
    Library(settings, embedder=embedder).add([ROOT / "corpus", ROOT / "benchmarks" / "data" / "articles.jsonl"])
    return embedder, [q["question"] for q in load_questions()][::3]  # answerable and not


def build_large(settings: Settings, embedder: SentenceTransformerEmbedder, chunks: int) -> tuple[Embedder, list[str]]:
    """~`chunks` chunks of generated articles with synthetic bulk vectors (perf.py's), and perf.py's questions."""
    sys.path.insert(0, str(ROOT / "benchmarks"))  # perf.py runs as a script and imports its siblings by name
    from perf import SyntheticEmbedder, sample_questions

    sources = perf_data.source_articles()
    sample = perf_data.generate(40, seed=3, sources=sources)
    chunk_texts = [f"{r['title']}\n{r['body'][c.start : c.end]}" for r in sample for c in chunk_text(r["body"])]
    sentences = [r["body"][start:end] for r in sample for start, end in sentence_spans(r["body"])[:10]]
    synthetic = SyntheticEmbedder(embedder, embedder.embed(chunk_texts), embedder.embed(sentences))
    articles = round(chunks / (len(chunk_texts) / len(sample)))
    jsonl = perf_data.write_jsonl(perf_data.generate(articles, seed=11, sources=sources, start=10_000),
                                  settings.index_dir.parent / "large.jsonl")  # fmt: skip
    synthetic.bulk = True
    Library(settings, embedder=synthetic).add([jsonl])
    synthetic.bulk = False
    return synthetic, sample_questions()  # its questions go through the float32 ONNX export, as Library's


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--large", type=int, help="a synthetic-vector library of about this many chunks instead")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    settings = load_settings()
    real = SentenceTransformerEmbedder(settings.embedding_model)
    runs: dict[str, list[float]] = {"reader": [], "scorer_only": []}
    with tempfile.TemporaryDirectory() as tmp:
        settings = replace(settings, index_dir=Path(tmp) / "index")
        embedder, questions = build_large(settings, real, args.large) if args.large else build_news(settings, real)
        libraries = {"reader": Library(replace(settings, answer_reader=True), embedder=embedder),
                     "scorer_only": Library(replace(settings, answer_reader=False), embedder=embedder)}  # fmt: skip
        chunks = libraries["reader"].counts()[1]
        for library in libraries.values():
            for q in questions[:3]:
                library.ask(q)  # warm: models, indexes
        load_before = os.getloadavg()
        for _ in range(args.repeats):
            for name, library in libraries.items():
                for q in questions:
                    started = time.perf_counter()
                    library.ask(q)
                    runs[name].append((time.perf_counter() - started) * 1000)
        load_after = os.getloadavg()
    result = {
        "benchmark": "answer_latency",
        "chunks": chunks,
        "questions": len(questions),
        "repeats": args.repeats,
        "machine": host(),
        "load_average": {"before": load_before, "after": load_after},
        "ms": {name: {"p50": statistics.median(v), "p95": float(np.percentile(v, 95))} for name, v in runs.items()},
    }
    for name, figures in result["ms"].items():
        print(f"{name:<12} p50 {figures['p50']:7.1f} ms   p95 {figures['p95']:7.1f} ms   ({chunks} chunks)")
    print(f"load average before {load_before}, after {load_after}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
