"""Cold start: `qa-app ask` from process start to printed answer, and the Streamlit first answer after ready.

For the working tree's code and, with `--baseline REV`, for REV's code checked out in a temporary git worktree
(`PYTHONPATH` points the same venv at it), over the same index, the variants' runs interleaved so a swing in the
machine's load hits both. Each figure is the median (min, max) of `--repeats` runs on a warm disk cache (one
untimed run of each variant first, which also makes the query model's ONNX export when it is missing).

- cli_ask_s          `python -m qa_app ask Q --json` from spawning the process to its exit (the answer printed)
- split_*_s          the same work in a fresh interpreter, timed by stage: interpreter start, imports
                     (qa_app.cli), opening the index, the first question's vector (model load included), the
                     answer (scorer and reader load included), and which heavy modules were imported
- streamlit_*_s      benchmarks/perf_ui.py's marks: `qa-app serve` started → healthy, first answer drawn in
                     Chromium; first_after_ready = first answer − healthy (the target's "after the server reports
                     ready"). Off with --no-ui.

The machine (CPU, cores) and the load average at every run are recorded: the machine is shared.
Run: `nice -n 5 .venv/bin/python benchmarks/cold_start.py --baseline 793f310~1 [--repeats 5] [--ui-repeats 3]`.
Writes benchmarks/results/cold_start.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "cold_start.json"
QUESTION = "Who rejected the proposal to send US troops into Mexico?"
HEAVY = ("torch", "sentence_transformers", "transformers", "onnxruntime", "ray", "fastapi", "streamlit")

_SPLIT = """
import json, sys, time
marks = {"started": time.time()}
import qa_app.cli
from qa_app.config import load_settings
from qa_app.library import Library
marks["imported"] = time.time()
library = Library(load_settings(index_dir=sys.argv[2]))
marks["opened"] = time.time()
library.query(sys.argv[1])
marks["question_vector"] = time.time()
answer = library.ask(sys.argv[1])
marks["answered"] = time.time()
print(json.dumps({"marks": marks, "answered": answer.answered, "package": qa_app.__file__,
                  "loaded": [m for m in sys.argv[3].split(",") if m in sys.modules]}))
"""


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def summary(values: Sequence[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": len(values),
            "values": [round(v, 4) for v in values]}  # fmt: skip


READER_ENV: dict[str, str] = {}  # --no-reader: {"QA_APP_ANSWER_READER": "0"}


def variant_env(code_root: Path) -> dict[str, str]:
    """This environment, offline and extractive, importing qa_app from `code_root`."""
    return {**os.environ, "PYTHONPATH": str(code_root), "HF_HUB_OFFLINE": "1", "QA_APP_LLM_BASE_URL": "",
            **READER_ENV}  # fmt: skip


def cli_ask(code_root: Path, index_dir: Path) -> float:
    """Seconds from spawning `python -m qa_app ask --json` to its exit; the answer must be cited."""
    command = [sys.executable, "-m", "qa_app", "ask", QUESTION, "--json", "--index-dir", str(index_dir)]
    started = time.time()
    done = subprocess.run(command, capture_output=True, text=True, cwd=code_root, env=variant_env(code_root))
    seconds = time.time() - started
    if done.returncode or not json.loads(done.stdout)["citations"]:
        raise RuntimeError(f"`qa-app ask` failed ({code_root}): {done.stderr[-800:]}")
    return seconds


def split(code_root: Path, index_dir: Path) -> dict:
    """Stage durations of one cold answer in a fresh interpreter, and the heavy modules it imported."""
    spawned = time.time()
    done = subprocess.run([sys.executable, "-c", _SPLIT, QUESTION, str(index_dir), ",".join(HEAVY)],
                          capture_output=True, text=True, cwd=code_root, env=variant_env(code_root))  # fmt: skip
    if done.returncode:
        raise RuntimeError(f"split probe failed ({code_root}): {done.stderr[-800:]}")
    out = json.loads(done.stdout.splitlines()[-1])
    if not out["package"].startswith(str(code_root)):
        raise RuntimeError(f"the probe imported {out['package']}, not the code under {code_root}")
    m = out["marks"]
    stages = {"interpreter": m["started"] - spawned, "imports": m["imported"] - m["started"],
              "open_index": m["opened"] - m["imported"], "question_vector": m["question_vector"] - m["opened"],
              "answer": m["answered"] - m["question_vector"]}  # fmt: skip
    return {"stages": stages, "loaded": out["loaded"]}


@contextmanager
def checkout(revision: str) -> Iterator[Path]:
    """`revision`'s tree in a temporary git worktree (detached), removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="cold-start-baseline-"))
    subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(folder), revision], cwd=ROOT, check=True)
    try:
        yield folder
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(folder)], cwd=ROOT, check=False)


def build_index(index_dir: Path) -> None:
    """corpus/ indexed with the working tree's code (the index format is the baseline's too)."""
    subprocess.run([sys.executable, "-m", "qa_app", "index", str(ROOT / "corpus"), "--index-dir", str(index_dir)],
                   cwd=ROOT, env=variant_env(ROOT), check=True, capture_output=True)  # fmt: skip


def streamlit(code_root: Path, index_dir: Path, repeats: int) -> dict[str, dict]:
    """perf_ui's marks for the code under `code_root` (the server is `qa-app serve` with PYTHONPATH set)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import perf_ui

    saved = os.environ.get("PYTHONPATH"), perf_ui.ROOT
    os.environ.update(PYTHONPATH=str(code_root), **READER_ENV)  # perf_ui's server inherits this environment
    perf_ui.ROOT = code_root  # the server's cwd: `python -m streamlit` puts it first on sys.path
    try:
        ui = perf_ui.streamlit_first_answer(index_dir, perf_ui.QUESTIONS[:2], repeats)
    finally:
        os.environ.pop("PYTHONPATH") if saved[0] is None else os.environ.update(PYTHONPATH=saved[0])
        perf_ui.ROOT = saved[1]
    after = [first - healthy for first, healthy in zip(ui["first_answer_s"], ui["healthy_s"], strict=True)]
    return {"streamlit_healthy_s": summary(ui["healthy_s"]), "streamlit_first_answer_s": summary(ui["first_answer_s"]),
            "streamlit_first_after_ready_s": summary(after), "streamlit_load_1m": summary(ui["load_1m"])}  # fmt: skip


def measure(variants: dict[str, Path], index_dir: Path, repeats: int, ui_repeats: int) -> dict[str, dict]:
    results: dict[str, dict] = {name: {"cli": [], "stages": {}, "loaded": [], "load_1m": []} for name in variants}
    for root in variants.values():  # warm the disk cache; makes the ONNX export if missing
        cli_ask(root, index_dir)
    for run in range(repeats):  # 0 with --ui-only
        for name, root in variants.items():
            results[name]["load_1m"].append(os.getloadavg()[0])
            results[name]["cli"].append(cli_ask(root, index_dir))
            probe = split(root, index_dir)
            for stage, seconds in probe["stages"].items():
                results[name]["stages"].setdefault(stage, []).append(seconds)
            results[name]["loaded"] = probe["loaded"]
            print(f"  run {run + 1}/{repeats} {name}: ask {results[name]['cli'][-1]:.2f} s, load "
                  f"{results[name]['load_1m'][-1]:.1f}", file=sys.stderr)  # fmt: skip
    figures = {}
    for name, r in results.items():
        figures[name] = {}
        if r["cli"]:
            figures[name] = {"cli_ask_s": summary(r["cli"]), "load_1m": summary(r["load_1m"]),
                             "heavy_imported": r["loaded"],
                             **{f"split_{stage}_s": summary(v) for stage, v in r["stages"].items()}}  # fmt: skip
        if ui_repeats:
            figures[name].update(streamlit(variants[name], index_dir, ui_repeats))
    return figures


def print_table(figures: dict[str, dict]) -> None:
    names = list(figures)
    print(f"{'figure':<34}" + "".join(f"{n:>28}" for n in names))
    for key in figures[names[0]]:
        if key == "heavy_imported":
            print(f"{key:<34}" + "".join(f"{','.join(figures[n][key]) or '-':>28}" for n in names))
            continue
        cells = [figures[n].get(key) for n in names]
        print(f"{key:<34}" + "".join(f"{c['median']:>10.2f} ({c['min']:.2f}-{c['max']:.2f})".rjust(28) if c else
                                     f"{'':>28}" for c in cells))  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", help="a git revision to measure beside the working tree (e.g. HEAD~3)")
    parser.add_argument("--index-dir", type=Path, help="index to answer from (default: corpus/ in a temp folder)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--ui-repeats", type=int, default=3, help="Streamlit runs per variant (0: none)")
    parser.add_argument("--no-ui", action="store_true", help="skip the Streamlit figures")
    parser.add_argument("--ui-only", action="store_true", help="skip the CLI figures")
    parser.add_argument("--no-reader", action="store_true", help="QA_APP_ANSWER_READER=0: the scorer alone answers")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.no_reader:
        READER_ENV["QA_APP_ANSWER_READER"] = "0"
    info = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "machine": platform.platform(),
            "processor": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
            "python": platform.python_version(), "question": QUESTION, "uptime_at_start": uptime(),
            "baseline": args.baseline, "answer_reader": not args.no_reader}  # fmt: skip
    ui_repeats = 0 if args.no_ui else args.ui_repeats
    repeats = 0 if args.ui_only else args.repeats
    with tempfile.TemporaryDirectory(prefix="cold-start-") as tmp:
        index_dir = args.index_dir or Path(tmp) / "index"
        if args.index_dir is None:
            build_index(index_dir)
        if args.baseline:
            with checkout(args.baseline) as old:
                figures = measure({"baseline": old, "now": ROOT}, index_dir, repeats, ui_repeats)
        else:
            figures = measure({"now": ROOT}, index_dir, repeats, ui_repeats)
    info["uptime_at_end"] = uptime()
    print_table(figures)
    print(f"start: {info['uptime_at_start']}\nend:   {info['uptime_at_end']}")
    args.out.write_text(json.dumps({"info": info, "figures": figures}, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
