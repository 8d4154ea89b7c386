"""Streamlit cold start as a reader feels it: from starting `qa-app serve` to the first answer drawn in Chromium.

Each run starts the real `qa-app serve` on a free 127.0.0.1 port over one index (its own process group) and
opens a fresh context in Chromium (Playwright). Marks, in seconds from starting the server process:

- healthy_s       `/_stcore/health` answers 200
- chat_ready_s    the chat input is visible and enabled in the browser
- first_answer_s  the first question, typed as soon as the input shows, has its answer and first source card drawn

Then, in the same page, warm_answer_s: from pressing Enter to the answer and its first source card drawn, for
every further question. The server and the browser are stopped on every path, errors included.

Run: `python benchmarks/perf_ui.py [--index-dir DIR] [--repeats 3]`. Without --index-dir, corpus/ is indexed
into a temporary folder first (~30 s with the real model). Prints median, min and max per mark, the split of the
first answer, and the load average (other jobs share the machine).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Locator, Page, sync_playwright

from qa_app.config import load_settings
from qa_app.library import Library

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
QUESTIONS = (  # about corpus/'s article, so the default index answers all three with citations
    "Who rejected the proposal to send US troops into Mexico?",
    "When did Trump make the troop offer?",
    "How many US troops were deployed to the southern border?",
)
MARKS = ("healthy_s", "chat_ready_s", "first_answer_s", "warm_answer_s")
HEALTHY_TIMEOUT_S = 120.0
READY_TIMEOUT_MS = 120_000
FIRST_ANSWER_TIMEOUT_MS = 180_000  # the server imports torch and loads the model on the first question
WARM_ANSWER_TIMEOUT_MS = 60_000
POLL_MS = 20  # page polling interval: a fraction of the shortest figure (warm answers take a few hundred ms)

_CHAT_READY_JS = """() => {
  const box = document.querySelector('[data-testid="stChatInputTextArea"]');
  return !!box && !box.disabled && box.checkVisibility() && box.getBoundingClientRect().height > 0;
}"""
# the assistant message `index`: "answered" once its answer and first source card are drawn; the alert's text when
# it abstains or fails (an answered turn draws .qa-answer before any note, so an alert alone means no answer)
_ANSWER_JS = """(index) => {
  const message = document.querySelectorAll('[data-testid="stChatMessage"]')[index];
  if (!message) return null;
  const shown = (el) => !!el && el.checkVisibility() && el.getBoundingClientRect().height > 0;
  if (shown(message.querySelector('.qa-answer')) && shown(message.querySelector('.qa-card'))) return "answered";
  const alert = message.querySelector('[data-testid="stAlert"]');
  if (shown(alert) && !message.querySelector('.qa-answer')) return "no answer: " + alert.innerText;
  return null;
}"""
_RUN_DONE = '[data-testid="stApp"][data-test-script-state="notRunning"]'

# Run in a fresh interpreter: where the first question's extra time goes. The server has already imported
# Streamlit, pandas, altair and the library (FAISS, bm25s) when the first question comes; torch has not.
_SPLIT_PROBE = """
import json, time
import altair, pandas, streamlit, qa_app.library
from qa_app.embedder import SentenceTransformerEmbedder
marks = [time.perf_counter()]
import torch
marks.append(time.perf_counter())
import sentence_transformers
marks.append(time.perf_counter())
model = SentenceTransformerEmbedder()
model.dimension  # loads the weights
marks.append(time.perf_counter())
model.embed(["Who rejected the proposal to send US troops into Mexico?"])
marks.append(time.perf_counter())
model.embed(["When did Trump make the troop offer?"])
marks.append(time.perf_counter())
names = ["import_torch_s", "import_sentence_transformers_s", "model_load_s", "first_embed_s", "warm_embed_s"]
print(json.dumps({n: b - a for n, a, b in zip(names, marks, marks[1:])}))
"""


# ---- the server ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve_command(port: int, index_dir: Path) -> list[str]:
    """The installed `qa-app serve` beside this interpreter (`python -m qa_app` when there is no script)."""
    script = Path(sys.executable).with_name("qa-app")
    prefix = [str(script)] if script.exists() else [sys.executable, "-m", "qa_app"]
    return [*prefix, "serve", "--port", str(port), "--host", "127.0.0.1", "--index-dir", str(index_dir)]


def server_env() -> dict[str, str]:
    """The caller's environment, offline, with generative answers off (the figures are the extractive path)."""
    return {**os.environ, "HF_HUB_OFFLINE": "1", "QA_APP_LLM_BASE_URL": ""}


def stop_server(server: subprocess.Popen) -> None:
    """SIGTERM the server's process group (start_new_session: group id = its pid), SIGKILL if it lingers."""
    for sig, grace in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(server.pid, sig)
        except ProcessLookupError:
            break
        try:
            server.wait(grace)
        except subprocess.TimeoutExpired:
            continue
        try:
            os.killpg(server.pid, 0)  # a child still alive in the group: next signal
        except ProcessLookupError:
            break
    server.wait(5)


@contextmanager
def running_server(index_dir: Path, port: int, log: Path, prefix: Sequence[str] = ()) -> Iterator[subprocess.Popen]:
    """`qa-app serve` started on entry (the caller times from just before entering), stopped on exit; `prefix`
    runs it under another command (`taskset -c 0`)."""
    with log.open("wb") as out:
        server = subprocess.Popen(
            [*prefix, *serve_command(port, index_dir)],
            cwd=ROOT,
            env=server_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield server
    finally:
        stop_server(server)


def log_tail(log: Path, chars: int = 2000) -> str:
    return log.read_text(encoding="utf-8", errors="replace")[-chars:]


def wait_healthy(url: str, server: subprocess.Popen, log: Path) -> None:
    """Poll /_stcore/health until it answers 200; fail fast if the server exits."""
    deadline = time.perf_counter() + HEALTHY_TIMEOUT_S
    while time.perf_counter() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"qa-app serve exited with {server.returncode}:\n{log_tail(log)}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"qa-app serve not healthy within {HEALTHY_TIMEOUT_S:.0f} s:\n{log_tail(log)}")


# ---- the page ------------------------------------------------------------------------------------


def type_question(page: Page, question: str) -> Locator:
    """Type a question into the chat input (not sent yet); returns the input."""
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(question)
    return box


def wait_answer(page: Page, index: int, question: str, timeout_ms: int) -> None:
    """Wait until assistant message `index` shows its answer and first source card; fail on an abstention."""
    handle = page.wait_for_function(_ANSWER_JS, arg=index, polling=POLL_MS, timeout=timeout_ms)
    state = handle.json_value()
    if state != "answered":
        raise RuntimeError(f"{question!r} got no cited answer ({state}); choose questions the index answers")


def ask_timed(page: Page, question: str, turn: int) -> float:
    """Seconds from pressing Enter to the answer drawn, once the previous script run has finished."""
    page.wait_for_selector(_RUN_DONE, timeout=WARM_ANSWER_TIMEOUT_MS)  # a rerun mid-run would drop the last turn
    box = type_question(page, question)
    started = time.perf_counter()
    box.press("Enter")
    wait_answer(page, 2 * turn + 1, question, WARM_ANSWER_TIMEOUT_MS)
    return time.perf_counter() - started


def one_run(browser: Browser, index_dir: Path, questions: Sequence[str], log: Path) -> dict[str, list[float]]:
    """A fresh server and browser context: the three cold marks, then the warm answers."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    try:
        page = context.new_page()
        started = time.perf_counter()
        with running_server(index_dir, port, log) as server:
            wait_healthy(url, server, log)
            healthy = time.perf_counter() - started
            page.goto(url, timeout=READY_TIMEOUT_MS)
            page.wait_for_function(_CHAT_READY_JS, polling=POLL_MS, timeout=READY_TIMEOUT_MS)
            ready = time.perf_counter() - started
            type_question(page, questions[0]).press("Enter")
            wait_answer(page, 1, questions[0], FIRST_ANSWER_TIMEOUT_MS)
            first = time.perf_counter() - started
            warm = [ask_timed(page, question, turn) for turn, question in enumerate(questions[1:], start=1)]
    except Exception as exc:
        exc.add_note(f"server log ({log.name}), last lines:\n{log_tail(log)}")
        raise
    finally:
        context.close()
    return {"healthy_s": [healthy], "chat_ready_s": [ready], "first_answer_s": [first], "warm_answer_s": warm}


def streamlit_first_answer(index_dir: Path, questions: Sequence[str], repeats: int) -> dict[str, list[float]]:
    """Per mark (see MARKS), the values of `repeats` runs in seconds; each run has its own server and context.

    `warm_answer_s` holds len(questions) - 1 values per run; `load_1m` the 1-minute load average at each
    run's start. Every question must be answered with a citation (an abstention raises).
    """
    if not questions:
        raise ValueError("give at least one question")
    results: dict[str, list[float]] = {mark: [] for mark in (*MARKS, "load_1m")}
    with tempfile.TemporaryDirectory(prefix="perf-ui-") as logs, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            for run in range(repeats):
                results["load_1m"].append(os.getloadavg()[0])
                log = Path(logs) / f"server-{run}.log"
                for mark, values in one_run(browser, Path(index_dir), questions, log).items():
                    results[mark] += values
                latest = ", ".join(f"{mark} {results[mark][-1]:.2f}" for mark in MARKS)
                print(f"  run {run + 1}/{repeats}: {latest}", file=sys.stderr)
        finally:
            browser.close()
    return results


# ---- where the first answer's time goes ----------------------------------------------------------


def model_cold_split(repeats: int) -> dict[str, list[float]]:
    """Imports, model load and embeddings timed in a fresh interpreter (what the first question pays for)."""
    runs: dict[str, list[float]] = {}
    for _ in range(repeats):
        done = subprocess.run(
            [sys.executable, "-c", _SPLIT_PROBE], capture_output=True, text=True, cwd=ROOT, env=server_env()
        )
        if done.returncode:
            raise RuntimeError(f"model split probe failed: {done.stderr[-1000:]}")
        for name, seconds in json.loads(done.stdout.splitlines()[-1]).items():
            runs.setdefault(name, []).append(seconds)
    return runs


# ---- main ----------------------------------------------------------------------------------------


def build_corpus_index(index_dir: Path) -> Path:
    """Index corpus/ into `index_dir` with the real model (the environment's model setting, as the server uses)."""
    library = Library(load_settings(index_dir=index_dir))
    try:
        library.add([CORPUS])
    finally:
        library.close()
    return index_dir


def print_row(name: str, values: Sequence[float]) -> None:
    """Median, min, max, count, then every value in run order."""
    each = " ".join(f"{v:.2f}" for v in values)
    print(f"{name:<34}{statistics.median(values):>8.2f}{min(values):>8.2f}{max(values):>8.2f}{len(values):>6}  {each}")


def print_report(results: dict[str, list[float]], split: dict[str, list[float]], loads: dict[str, tuple]) -> None:
    print(f"{'mark (s)':<34}{'median':>8}{'min':>8}{'max':>8}{'runs':>6}  values")
    for mark in MARKS:
        print_row(mark, results[mark])
    pairs = zip(results["chat_ready_s"], results["healthy_s"], results["first_answer_s"], strict=True)
    page_load, first_wait = zip(*((ready - healthy, first - ready) for ready, healthy, first in pairs), strict=True)
    print("\nsplit of the first answer (per run)")
    print_row("healthy -> chat input (page load)", page_load)
    print_row("chat input -> first answer", first_wait)
    warm = statistics.median(results["warm_answer_s"])
    print_row("  of which one-off (minus warm)", [w - warm for w in first_wait])
    if split:
        print("\nfresh interpreter, same model (what the one-off part pays for)")
        for name, values in split.items():
            print_row(name, values)
    print(
        "\nload average (1, 5, 15 min): " + "; ".join(f"{k} {v[0]:.2f} {v[1]:.2f} {v[2]:.2f}" for k, v in loads.items())
    )
    print("load (1 min) at each run's start: " + ", ".join(f"{v:.2f}" for v in results["load_1m"]))
    print(f"machine: {os.cpu_count()} cores, Chromium and the server on the same machine")


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index-dir", type=Path, help="index to serve (default: index corpus/ into a temp folder)")
    parser.add_argument("--repeats", type=int, default=3, help="runs, each with a fresh server (default 3)")
    parser.add_argument(
        "--question", action="append", dest="questions", help="repeatable; the first is the cold one (default: 3)"
    )
    parser.add_argument("--no-split", action="store_true", help="skip the fresh-interpreter model timing")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments(argv)
    questions = args.questions or list(QUESTIONS)
    loads = {"start": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="perf-ui-index-") as tmp:
        index_dir = args.index_dir
        if index_dir is None:
            print(f"indexing {CORPUS} into a temporary folder", file=sys.stderr)
            index_dir = build_corpus_index(Path(tmp))
        print(f"{args.repeats} runs of `qa-app serve` + Chromium over {index_dir}", file=sys.stderr)
        results = streamlit_first_answer(index_dir, questions, args.repeats)
    loads["after runs"] = os.getloadavg()
    split = {} if args.no_split else model_cold_split(args.repeats)
    loads["end"] = os.getloadavg()
    print_report(results, split, loads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
