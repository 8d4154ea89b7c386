"""Encoder benchmark: torch (float32 and bfloat16), ONNX fp32 and ONNX int8 side by side (the
`embedding_backend` and `embedding_precision` settings).

1. Load: torch in float32 and in bfloat16; ONNX int8 built into an empty cache (float32 export with torch,
   fused and quantised by onnxruntime), then loaded again from it; ONNX fp32 (the question export, on every core).
2. Encode rate on exactly the texts `Library.add` embeds (perf.pipeline_batches: chunks with titles, sentences,
   titles; same length-sorted batches), the backends taking turns in blocks of batches so background load hits
   them alike (not call by call: each backend's idle threads spin and slow the other one down).
3. How close each other encoder's vectors are to float32 torch's on those texts (cosine, per text).
4. One-question latency: `--questions` short benchmark questions, one `embed([q])` each, a pass per backend in
   rotating order.
5. The quality benchmark (quality.evaluate) with an index built by torch and one built by int8 (questions are
   embedded by the float32 export either way, as `Library` does); `--no-quality` skips it.

Runs in .venv: `nice -n 5 .venv/bin/python benchmarks/encoders.py`. Prints a table and writes
benchmarks/results/encoders.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import onnxruntime
import perf
import perf_data
import quality
import sentence_transformers
import transformers

from qa_app import onnx_model
from qa_app.config import load_settings
from qa_app.embedder import SentenceTransformerEmbedder, onnx_export_dir, resolve_model_path
from qa_app.library import Library

RESULTS = perf.ROOT / "benchmarks" / "results" / "encoders.json"
BACKENDS = ("torch", "torch_bf16", "onnx_fp32", "onnx_int8")
QUALITY_METRICS = ("recall@1", "recall@10", "mrr@10", "answer_in_citation", "answered_rate", "abstention_recall")

BLOCKS = 8  # blocks of batches per encode run, the unit in which the backends take turns
SETTLE_S = 0.3  # pause before a backend's block, so the previous backend's threads have stopped spinning

figures: dict[str, dict] = {}


def record(name: str, runs: Sequence[float], unit: str) -> None:
    """One figure: median, min and max of its runs."""
    values = [float(r) for r in runs]
    figures[name] = {"median": statistics.median(values), "min": min(values), "max": max(values), "unit": unit,
                     "runs": len(values), "values": [round(v, 6) for v in values]}  # fmt: skip


class OnnxFp32Embedder(SentenceTransformerEmbedder):
    """The float32 export (the question model's) on every core: for comparison, not a product setting."""

    def __init__(self, name: str, cache_dir: Path) -> None:
        super().__init__(name, backend="onnx", cache_dir=cache_dir)

    def _load_onnx(self) -> object:
        super()._load_onnx()  # both exports in the cache
        source = resolve_model_path(self.name)
        fp32 = onnx_export_dir(self.name, source, self.cache_dir, onnx_model.FP32_KIND) / onnx_model.ONNX_FILE
        window = onnx_model.pipeline(source)[0]
        return onnx_model.runtime(str(fp32), str(Path(source) / "tokenizer.json"), window)


def load_embedders(name: str, cache: Path) -> dict[str, SentenceTransformerEmbedder]:
    """Every backend, loaded (timed); int8 twice: once building into an empty cache, once from the cache."""
    embedders = {
        "torch": SentenceTransformerEmbedder(name, precision="float32"),
        "torch_bf16": SentenceTransformerEmbedder(name, precision="bfloat16"),
        "onnx_int8": SentenceTransformerEmbedder(name, backend="onnx", cache_dir=cache),
        "onnx_fp32": OnnxFp32Embedder(name, cache),
    }
    for backend, embedder in embedders.items():
        seconds, _ = perf.timed(lambda e=embedder: e.embed(["warm-up"]))
        record(f"{backend}_load_s" if backend != "onnx_int8" else "onnx_int8_export_and_load_s", [seconds], "s")
    onnx_model.runtime.cache_clear()  # so the second int8 load makes its session from the cached file
    again = SentenceTransformerEmbedder(name, backend="onnx", cache_dir=cache)
    record("onnx_int8_load_from_cache_s", [perf.timed(lambda: again.embed(["warm-up"]))[0]], "s")
    embedders["onnx_int8"] = again
    embedders["onnx_fp32"].embed(["warm-up"])
    return {backend: embedders[backend] for backend in BACKENDS}


def rotations(names: list[str], count: int) -> Iterator[list[str]]:
    """`count` orders of the backends, each starting one further along (no backend always runs first)."""
    for i in range(count):
        yield names[i % len(names) :] + names[: i % len(names)]


def switch_to(embedder: SentenceTransformerEmbedder, warm_up: str) -> None:
    """Let the previous backend's idle threads stop spinning, then run one untimed call.

    torch's OpenMP and onnxruntime's thread pools spin for a while after each call; alternating backends call
    by call made both slower on 2 cores (one query: torch 10 -> 23 ms, int8 2.2 -> 4.6 ms), so the backends
    alternate in blocks of calls instead.
    """
    time.sleep(SETTLE_S)
    embedder.embed([warm_up])


def encode_block(embedder: SentenceTransformerEmbedder, batches: list[list[str]], size: int) -> tuple[float, list]:
    """Seconds spent embedding `batches` one by one (the pauses between backends not counted), and the vectors."""
    switch_to(embedder, batches[0][0])
    seconds, vectors = 0.0, []
    for batch in batches:
        elapsed, out = perf.timed(lambda b=batch: embedder.embed(b, batch_size=size))
        seconds += elapsed
        vectors.append(out)
    return seconds, vectors


def bench_encode(embedders: dict, batches: list[list[str]], chunks: int, repeats: int, size: int) -> dict:
    """`repeats` runs over every batch. Each run is cut into BLOCKS blocks of batches; the backends take turns
    block by block, so a change in background load hits them alike. Returns the last run's vectors per backend."""
    texts = sum(len(b) for b in batches)
    names = list(embedders)
    seconds: dict[str, list[float]] = {b: [] for b in names}
    blocks = [[batches[i] for i in block] for block in np.array_split(np.arange(len(batches)), BLOCKS) if len(block)]
    for run in range(repeats):
        took: dict[str, float] = dict.fromkeys(names, 0.0)
        vectors: dict[str, list[np.ndarray]] = {b: [] for b in names}
        for block, order in zip(blocks, rotations(names, len(blocks)), strict=True):
            for backend in order:
                elapsed, out = encode_block(embedders[backend], block, size)
                took[backend] += elapsed
                vectors[backend] += out
        for backend in names:
            seconds[backend].append(took[backend])
        print(f"  run {run + 1}: " + ", ".join(f"{b} {took[b]:.1f} s" for b in names), file=sys.stderr)
    for backend, runs in seconds.items():
        record(f"{backend}_encode_chunks_per_s", [chunks / s for s in runs], "chunks/s")
        record(f"{backend}_encode_texts_per_s", [texts / s for s in runs], "texts/s")
        ratios = [t / s for t, s in zip(seconds["torch"], runs, strict=True)]
        record(f"{backend}_encode_speedup", ratios, "x torch")
    return {backend: np.vstack(parts) for backend, parts in vectors.items()}


def closeness(vectors: dict[str, np.ndarray], is_chunk: np.ndarray) -> dict:
    """Cosine of each other encoder's vector to float32 torch's vector of the same text (all unit length)."""
    result = {}
    for backend in BACKENDS[1:]:
        cosine = np.sum(vectors[backend] * vectors["torch"], axis=1)
        result[backend] = {
            "max_abs_difference": float(np.abs(vectors[backend] - vectors["torch"]).max()),
            "mean": float(cosine.mean()),
            "min": float(cosine.min()),
            "p1": float(np.percentile(cosine, 1)),
            "mean_chunks": float(cosine[is_chunk].mean()),
            "mean_sentences_and_titles": float(cosine[~is_chunk].mean()),
            "texts": len(cosine),
        }
    return result


def bench_query(embedders: dict, questions: list[str], repeats: int) -> None:
    """One-question latency: per pass, each backend embeds every question in turn (backends in rotating order)."""
    passes: dict[str, list[list[float]]] = {b: [] for b in embedders}
    for order in rotations(list(embedders), repeats):
        for backend in order:
            embedder = embedders[backend]
            switch_to(embedder, questions[0])
            passes[backend].append([perf.timed(lambda e=embedder, q=q: e.embed([q]))[0] * 1000 for q in questions])
    for backend, runs in passes.items():
        record(f"{backend}_query_p50_ms", [statistics.median(p) for p in runs], "ms")
        record(f"{backend}_query_p95_ms", [perf.percentile(p, 95) for p in runs], "ms")


def indexed_library(embedder: SentenceTransformerEmbedder, index_dir: Path) -> tuple[Library, float]:
    """The quality benchmark's corpus indexed by `embedder`, and how long `add` took."""
    library = Library(load_settings(index_dir=index_dir), embedder=embedder)
    seconds, _ = perf.timed(lambda: library.add([perf.ROOT / "corpus", quality.DATA / "articles.jsonl"]))
    return library, seconds


def bench_quality(embedders: dict, tmp: Path) -> dict:
    """quality.evaluate per retrieval mode, for an index built by torch (float32, bfloat16) and one built by
    int8 (the float32 export's vectors equal torch's to ~1e-7, so it builds no index of its own)."""
    questions = quality.load_questions()
    results: dict[str, dict] = {}
    built: dict[str, Library] = {}
    for backend in ("torch", "torch_bf16", "onnx_int8"):
        built[backend], seconds = indexed_library(embedders[backend], tmp / f"quality-{backend}")
        record(f"{backend}_quality_index_s", [seconds], "s")
    runs: dict[str, tuple[Library, SentenceTransformerEmbedder]] = {b: (lib, embedders[b]) for b, lib in built.items()}
    for label, (library, embedder) in runs.items():
        results[label] = {}
        for mode in quality.MODES:
            settings = replace(library.settings, retrieval_mode=mode)
            reader = Library(settings, embedder=embedder)
            metrics = quality.evaluate(reader, questions)
            reader.close()
            results[label][mode] = {k: v for k, v in metrics.items() if k != "threshold_sweep"}
        print(f"  quality {label} done", file=sys.stderr)
    for library in built.values():
        library.close()
    return results


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=60, help="articles in the batch (default 60, as perf.py)")
    parser.add_argument("--repeats", type=int, default=3, help="encode runs and query passes (default 3)")
    parser.add_argument("--questions", type=int, default=50, help="questions for the one-query latency")
    parser.add_argument("--output", type=Path, default=RESULTS, help="JSON results file")
    parser.add_argument("--no-quality", action="store_true", help="skip the quality benchmark per backend")
    return parser.parse_args(argv)


def _row(name: str) -> str:
    """One figure's medians, a column per backend (blank where a backend has no such figure)."""
    cells = (figures.get(f"{b}_{name}", {}).get("median") for b in BACKENDS)
    return "".join(f"{c:>13.4g}" if c is not None else f"{'':>13}" for c in cells)


def print_table(closeness_: dict, quality_: dict) -> None:
    print(f"{'figure (median of runs)':<30}" + "".join(f"{b:>13}" for b in BACKENDS))
    for name in ("encode_chunks_per_s", "encode_texts_per_s", "encode_speedup", "query_p50_ms", "query_p95_ms",
                 "load_s", "quality_index_s"):  # fmt: skip
        print(f"{name:<30}{_row(name)}")
    print(f"{'cosine to torch mean / min':<30}{'':>13}" + "".join(
        f"{closeness_[b]['mean']:>7.4f}/{closeness_[b]['min']:.3f}" for b in BACKENDS[1:]))  # fmt: skip
    for name in ("onnx_int8_export_and_load_s", "onnx_int8_load_from_cache_s"):
        print(f"{name:<30}{figures[name]['median']:>13.3g}")
    labels = list(quality_)
    if not labels:
        return
    print(f"\n{'quality (hybrid / dense)':<24}" + "".join(f"{label:>26}" for label in labels))
    for metric in QUALITY_METRICS:
        pairs = ((quality_[label]["hybrid"][metric], quality_[label]["dense"][metric]) for label in labels)
        cells = "".join(f"{hybrid:>18.3f} / {dense:.3f}" for hybrid, dense in pairs)
        print(f"{metric:<24}{cells}")


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments(argv)
    started = time.perf_counter()
    info = perf.machine()
    info |= {"onnxruntime": onnxruntime.__version__, "sentence_transformers": sentence_transformers.__version__,
             "transformers": transformers.__version__, "onnx_int8": "fused (onnxruntime.transformers), "
             "quantize_dynamic QInt8 per channel", "onnxruntime_threads": "default (one per physical core)",
             "load_average_at_start": os.getloadavg()}  # fmt: skip
    settings = load_settings()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        embedders = load_embedders(settings.embedding_model, tmp / "onnx-cache")
        jsonl = perf_data.write_jsonl(perf_data.generate(args.articles), tmp / "batch.jsonl")
        batches, chunks, articles = perf.pipeline_batches(jsonl, settings)
        texts = [t for batch in batches for t in batch]
        print(f"encode: {articles} articles, {chunks} chunks, {len(texts)} texts x {args.repeats}", file=sys.stderr)
        vectors = bench_encode(embedders, batches, chunks, args.repeats, settings.embed_batch_size)
        close = closeness(vectors, np.array(["\n" in t for t in texts]))
        questions = perf.sample_questions(args.questions)
        print(f"query latency: {len(questions)} questions x {args.repeats}", file=sys.stderr)
        bench_query(embedders, questions, args.repeats)
        if not args.no_quality:
            print("quality benchmark per backend", file=sys.stderr)
        scores = {} if args.no_quality else bench_quality(embedders, tmp)
    info["load_average_at_end"] = os.getloadavg()
    print_table(close, scores)
    result = {
        "benchmark": "encoders",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "duration_s": time.perf_counter() - started,
        "arguments": {**vars(args), "output": str(args.output)},
        "machine": info,
        "batch": {"articles": articles, "chunks": chunks, "texts": len(texts), "batch_size": settings.embed_batch_size},
        "figures": figures,
        "cosine_to_torch": close,
        "quality": scores,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2, default=float) + "\n")
    print(f"\nwrote {args.output} in {result['duration_s']:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
