"""Embedding throughput of ingest's batch order: articles/s of `ingest.prepare_groups` with the real model.

The texts of corpus/ and benchmarks/data/articles.jsonl are chunked once, then embedded by the working tree's
`prepare_groups` and, with `--baseline REV`, by REV's (a temporary git worktree), runs interleaved, each in a
fresh interpreter (model loaded and warmed up before the clock starts). Records the load average of each run:
on a shared machine that decides the spread more than the code does.

    .venv/bin/python -m benchmarks.embed_order --runs 3 --baseline HEAD
    .venv/bin/python -m benchmarks.embed_order --runs 3 --setting QA_APP_SENTENCE_VECTORS_FROM=chunks
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

from benchmarks.timing import host, interleaved, tree_env

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
INPUTS = [ROOT / "corpus", ROOT / "benchmarks" / "data" / "articles.jsonl"]

_RUN = r"""
import json, os, sys, time
from pathlib import Path
from qa_app import ingest
from qa_app.config import load_settings
from qa_app.embedder import SentenceTransformerEmbedder
settings = load_settings(index_dir=sys.argv[1])
documents, _ = ingest.load([Path(p) for p in sys.argv[2:]], settings)
model = SentenceTransformerEmbedder(settings.embedding_model, backend=settings.embedding_backend)
model.embed(["warm up"] * 32)
calls = []
embed = model.embed
model.embed = lambda texts, batch_size=32: calls.append(len(texts)) or embed(texts, batch_size)
load = os.getloadavg()[0]
started, cpu = time.perf_counter(), time.process_time()
groups = list(ingest.prepare_groups(documents, model, settings))
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "cpu_seconds": time.process_time() - cpu, "articles": len(documents),
                  "articles_per_s": len(documents) / seconds, "batches": len(calls), "texts": sum(calls),
                  "load_average_before": load, "load_average_after": os.getloadavg()[0]}))
"""


def run_once(tree: Path, settings: dict[str, str] | None = None) -> dict:
    """One timed `prepare_groups` over the inputs with `tree`'s qa_app, in a fresh interpreter (`settings`:
    extra QA_APP_* variables)."""
    env = tree_env(tree, **(settings or {}))
    done = subprocess.run([sys.executable, "-c", _RUN, str(ROOT / ".unused-index"), *map(str, INPUTS)], cwd=tree,
                          env=env, capture_output=True, text=True, check=True)  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline", help="also run this revision's code (git worktree), interleaved")
    parser.add_argument(
        "--setting",
        metavar="QA_APP_NAME=VALUE",
        help="instead of a baseline: the working tree with and without this setting, interleaved",
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "embed_order.json")
    args = parser.parse_args()
    if args.setting:
        name, value = args.setting.split("=", 1)
        variants = {"default": {}, args.setting: {name: value}}
        runs = {label: [] for label in variants}
        for _ in range(args.runs):
            for label, extra in variants.items():
                runs[label].append(run_once(ROOT, extra))
                print(label, runs[label][-1], file=sys.stderr, flush=True)
    else:
        runs = interleaved(ROOT, args.baseline, args.runs, run_once)
    summary = {name: {key: statistics.median(r[key] for r in rows) for key in ("articles_per_s", "seconds",
                                                                                "cpu_seconds", "batches")}
               for name, rows in runs.items()}  # fmt: skip
    result = {"inputs": [str(p.relative_to(ROOT)) for p in INPUTS], "host": host(), "median": summary, "runs": runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
