"""Answer time while another process commits continuously: what a reader pays for each new generation.

One index (corpus/ plus generated articles, the real model; built once by each tree's own code) is copied for every
run. In a fresh interpreter of the tree under test, a Library answers the questions once with no writer ("quiet"),
then again while a model-free writer (benchmarks/capacity.py's quick writer) commits five short notes at a time as
fast as SQLite, FAISS and BM25 allow ("writer"). Each run records every answer's time, the commits made meanwhile,
and how often the reader rebuilt a search index from SQLite (a `built a … vector index` log line). With `--baseline
REV` the same runs alternate with REV's tree (a git worktree), so both see the same machine.

    .venv/bin/python -m benchmarks.answers_under_writer --runs 3 --baseline HEAD
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.capacity import _QUICK_WRITER
from benchmarks.perf_data import generate, write_jsonl
from benchmarks.perf_ui import CORPUS, QUESTIONS, ROOT
from benchmarks.timing import host, interleaved, tree_env

RESULTS = ROOT / "benchmarks" / "results"

# Runs in the tree under test (cwd and PYTHONPATH), so a baseline's own code answers: argv = index, writer, questions
_READER = r"""
import json, logging, os, signal, subprocess, sys, time
from qa_app.config import load_settings
from qa_app.library import Library

index, writer, questions = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
rebuilds = []

class Rebuilds(logging.Handler):
    def emit(self, record):
        if record.getMessage().startswith("built a "):
            rebuilds.append(record.created)

logging.getLogger("qa_app").addHandler(Rebuilds())
logging.getLogger("qa_app").setLevel(logging.INFO)
library = Library(load_settings(index_dir=index))
library.ask(questions[0])  # the models load

def phase():
    start, times = library.store.generation(), []
    rebuilds.clear()
    for question in questions:
        began = time.perf_counter()
        library.ask(question)
        times.append(time.perf_counter() - began)
    return {"ask_s": times, "commits": library.store.generation() - start, "rebuilds": len(rebuilds)}

quiet = phase()
process = subprocess.Popen([sys.executable, "-c", writer, index], start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    first = library.store.generation()
    for _ in range(600):  # the writer has started committing (imports done)
        if library.store.generation() > first + 1:
            break
        time.sleep(0.1)
    busy = phase()
finally:
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(30)
print(json.dumps({"quiet": quiet, "writer": busy, "load": os.getloadavg()}))
"""


_BUILD = r"""
import sys
from pathlib import Path
from qa_app.config import load_settings
from qa_app.library import Library
library = Library(load_settings(index_dir=sys.argv[1]))
library.add([Path(p) for p in sys.argv[2:]])
library.close()
"""


def build_template(tree: Path, folder: Path, articles: Path) -> Path:
    """corpus/ and the generated articles indexed by `tree`'s code (its own schema), the real model."""
    index = folder / "index"
    subprocess.run([sys.executable, "-c", _BUILD, str(index), str(CORPUS), str(articles)], cwd=tree,
                   env=tree_env(tree), capture_output=True, text=True, check=True)  # fmt: skip
    return index


def one_run(tree: Path, templates: dict[Path, Path], questions: list[str], scratch: Path, articles: Path) -> dict:
    """A copy of `tree`'s template answered by `tree`'s code: quiet, then beside the quick writer."""
    if tree not in templates:
        templates[tree] = build_template(tree, Path(tempfile.mkdtemp(dir=scratch)), articles)
    with tempfile.TemporaryDirectory(prefix="qa-under-writer-") as run:
        index = Path(run) / "index"
        shutil.copytree(templates[tree], index)
        done = subprocess.run([sys.executable, "-c", _READER, str(index), _QUICK_WRITER, json.dumps(questions)],
                              cwd=tree, env=tree_env(tree), capture_output=True, text=True, check=True)  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def summary(runs: list[dict]) -> dict:
    """Median answer time (ms) per phase over all runs' answers, with commits and rebuilds per run."""
    row = {}
    for phase in ("quiet", "writer"):
        times = sorted(t * 1000 for run in runs for t in run[phase]["ask_s"])
        row[phase] = {"p50_ms": statistics.median(times), "p95_ms": times[int(0.95 * (len(times) - 1))],
                      "commits_per_run": [run[phase]["commits"] for run in runs],
                      "rebuilds_per_run": [run[phase]["rebuilds"] for run in runs]}  # fmt: skip
    row["writer_over_quiet_p50"] = row["writer"]["p50_ms"] / row["quiet"]["p50_ms"]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--articles", type=int, default=30, help="generated articles besides corpus/")
    parser.add_argument("--passes", type=int, default=10, help="times each question is asked per phase")
    parser.add_argument("--baseline", help="a git revision measured beside the working tree")
    parser.add_argument("--out", type=Path, default=RESULTS / "answers_under_writer.json")
    args = parser.parse_args()
    questions = list(QUESTIONS) * args.passes
    with tempfile.TemporaryDirectory(prefix="qa-under-writer-templates-") as folder:
        scratch, templates = Path(folder), {}
        articles = write_jsonl(generate(args.articles), scratch / "articles.jsonl")
        runs = interleaved(ROOT, args.baseline, args.runs,
                           lambda tree: one_run(tree, templates, questions, scratch, articles))  # fmt: skip
    result = {"benchmark": "answers_under_writer", "host": host(), "articles": args.articles + 1,
              "questions_per_phase": len(questions), "runs": runs,
              "summary": {name: summary(tree_runs) for name, tree_runs in runs.items()}}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'tree':<22} {'quiet p50':>10} {'writer p50':>11} {'ratio':>6} {'writer p95':>11} commits  rebuilds")
    for name, row in result["summary"].items():
        quiet, busy = row["quiet"], row["writer"]
        print(
            f"{name:<22} {quiet['p50_ms']:>8.0f}ms {busy['p50_ms']:>9.0f}ms {row['writer_over_quiet_p50']:>6.2f} "
            f"{busy['p95_ms']:>9.0f}ms {busy['commits_per_run']} {busy['rebuilds_per_run']}"
        )


if __name__ == "__main__":
    main()
