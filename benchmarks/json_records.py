"""Indexing one JSON (or JSONL) file of many small records: peak memory, wall time and time to the first commit.

Each run is a fresh interpreter (so `ru_maxrss` is that run's peak) that indexes the file into a new index
with `Library.add`. The embedder is a cheap stand-in (rows of a fixed random matrix picked by a hash of the
text): this measures loading, chunking and writing, which is what streaming changes; the real model would
add the same embedding time to both sides (~100 texts/s here, hours for 200k records). With `--baseline REV`
the same runs are made with REV's code (a temporary git worktree), interleaved with the working tree's.

    .venv/bin/python -m benchmarks.json_records --records 200000 --runs 3 --baseline HEAD~1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.timing import host, interleaved, tree_env

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"

_RUN = r"""
import json, resource, sys, time, zlib
import numpy as np
from qa_app.config import Settings
from qa_app.library import Library

class CheapEmbedder:
    name, dimension = "cheap-hash-384", 384
    _rows = np.random.default_rng(0).standard_normal((4096, 384)).astype(np.float32)
    _rows /= np.linalg.norm(_rows, axis=1, keepdims=True)
    def embed(self, texts, batch_size=32):
        return self._rows[[zlib.crc32(t.encode("utf-8", "replace")) % 4096 for t in texts]]

path, index_dir, records = sys.argv[1], sys.argv[2], int(sys.argv[3])
library = Library(Settings(index_dir=index_dir, max_records=max(records, 100_000)), embedder=CheapEmbedder())
started = time.perf_counter()
first = []
def report(progress):
    if progress.docs_done and not first:
        first.append(time.perf_counter() - started)
results = library.add([path], progress=report)
seconds = time.perf_counter() - started
indexed = sum(r.status == "indexed" for r in results)
print(json.dumps({"seconds": seconds, "first_commit_s": first[0] if first else None, "indexed": indexed,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def write_file(path: Path, records: int, shape: str) -> None:
    """`records` small articles (~30 words each) as a JSON list or JSONL lines."""
    items = ({"title": f"Harbor report {n}", "body": f"Report {n}: the harbor board met on pier {n % 97} and "
              f"approved works worth {n * 7 % 1000} thousand euros, said the chair, who expects them to "
              f"finish by spring after a vote of {n % 9} to {9 - n % 9}.", "url": f"https://news.example/{n}"}
             for n in range(records))  # fmt: skip
    with path.open("w") as out:
        if shape == "jsonl":
            for item in items:
                out.write(json.dumps(item) + "\n")
        else:
            out.write("[" + ",\n".join(json.dumps(item) for item in items) + "]")


def run_once(tree: Path, path: Path, records: int, scratch: Path) -> dict:
    """One indexing run of `path` with `tree`'s qa_app, in a fresh interpreter and a fresh index."""
    index_dir = Path(tempfile.mkdtemp(dir=scratch))
    env = tree_env(tree)
    done = subprocess.run([sys.executable, "-c", _RUN, str(path), str(index_dir), str(records)], cwd=tree, env=env,
                          capture_output=True, text=True, check=True)  # fmt: skip
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "load_average_after": os.getloadavg()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--shape", choices=["list", "jsonl"], default="list")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline", help="also run this revision's code (git worktree), interleaved")
    parser.add_argument("--out", type=Path, default=RESULTS / "json_records.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="qa-json-records-") as scratch_name:
        scratch = Path(scratch_name)
        path = scratch / ("many.jsonl" if args.shape == "jsonl" else "many.json")
        write_file(path, args.records, args.shape)
        file_mb = round(path.stat().st_size / 2**20, 1)
        runs = interleaved(ROOT, args.baseline, args.runs, lambda tree: run_once(tree, path, args.records, scratch))
    summary = {name: {key: statistics.median(r[key] for r in rows)
                      for key in ("seconds", "first_commit_s", "peak_rss_mb") if rows[0][key] is not None}
               for name, rows in runs.items()}  # fmt: skip
    result = {"records": args.records, "shape": args.shape, "file_mb": file_mb,
              "host": host(), "median": summary, "runs": runs}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
