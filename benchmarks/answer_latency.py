"""Answer latency with and without the answer reader, on the same library and questions (interleaved blocks).

Indexes `corpus/` plus benchmarks/data/articles.jsonl with the real model, then asks the benchmark questions
through two Libraries on that index (QA_APP_ANSWER_READER on and off), alternating blocks of one pass each so
neither gets a warmer cache; prints and writes median / p95 per setting with the machine's load average.

    python -m benchmarks.answer_latency [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from benchmarks.quality import load_questions
from benchmarks.timing import host
from qa_app.config import load_settings
from qa_app.embedder import SentenceTransformerEmbedder
from qa_app.library import Library

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "answer_latency.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    settings = load_settings()
    embedder = SentenceTransformerEmbedder(settings.embedding_model)
    questions = [q["question"] for q in load_questions()][::3]  # 45 of the 135, answerable and not
    runs: dict[str, list[float]] = {"reader": [], "scorer_only": []}
    with tempfile.TemporaryDirectory() as tmp:
        settings = replace(settings, index_dir=Path(tmp) / "index")
        Library(settings, embedder=embedder).add([ROOT / "corpus", ROOT / "benchmarks" / "data" / "articles.jsonl"])
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
