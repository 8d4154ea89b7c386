"""Web app capacity: N concurrent Chromium sessions against one `qa-app serve`, with and without a CLI writer.

One real server over a copy of the corpus index is started and warmed (one session answers first, so the model
is loaded: this measures capacity, not the cold start of benchmarks/perf_ui.py). Then, for each N, N fresh
browser contexts open the chat at the same moment (Playwright's async API drives them concurrently); each
session records

- page_s    from opening the page to the chat input visible and enabled (the page load)
- answer_s  from pressing Enter to the answer and its first source card drawn (the first answer)

and a session that has neither within `--timeout` seconds counts as failed. Each round also records the
server's CPU seconds (its process tree, psutil) per session: what one reader costs the server, whatever the
browser's speed. "With writer" runs `qa-app index`
on fresh articles into the same index for the whole round (restarted while the round lasts), as the issue's
outside test did. The 1-minute load average is recorded at the start and end of each round: on a shared
machine the figures are upper bounds of what the app costs. `--server-cpu 0 --browser-cpu 1` keeps the server
(and the writer) and Chromium on separate cores, as if the readers' browsers were elsewhere.

    .venv/bin/python -m benchmarks.capacity --sessions 1 5 10 20 --timeout 120 [--server-cpu 0 --browser-cpu 1]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

import psutil
from playwright.async_api import Browser, async_playwright

from benchmarks.perf_ui import (
    _ANSWER_JS,
    _CHAT_READY_JS,
    CHROMIUM,
    CHROMIUM_ARGS,
    POLL_MS,
    QUESTIONS,
    ROOT,
    build_corpus_index,
    free_port,
    running_server,
    server_env,
    wait_healthy,
)
from benchmarks.timing import host
from qa_app.config import DB_NAME

RESULTS = ROOT / "benchmarks" / "results"


async def one_session(browser: Browser, url: str, question: str, timeout_s: float) -> dict:
    """Open the chat, ask one question: page_s and answer_s, or the step that did not finish in time."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    result: dict = {"page_s": None, "answer_s": None, "error": None}
    started = time.perf_counter()
    try:
        page = await context.new_page()
        await page.goto(url, timeout=timeout_s * 1000)
        await page.wait_for_function(_CHAT_READY_JS, polling=POLL_MS, timeout=timeout_s * 1000)
        result["page_s"] = time.perf_counter() - started
        box = page.get_by_test_id("stChatInputTextArea")
        await box.fill(question)
        asked = time.perf_counter()
        await box.press("Enter")
        left = max(1.0, timeout_s - (asked - started))
        handle = await page.wait_for_function(_ANSWER_JS, arg=1, polling=POLL_MS, timeout=left * 1000)
        state = await handle.json_value()
        result["answer_s"] = time.perf_counter() - asked
        if state != "answered":
            result["error"] = state
    except Exception as exc:  # a timeout or a closed page: this session failed, the others go on
        result["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
    finally:
        await context.close()
    return result


async def one_round(browser: Browser, url: str, sessions: int, timeout_s: float) -> list[dict]:
    questions = [QUESTIONS[n % len(QUESTIONS)] for n in range(sessions)]
    return list(await asyncio.gather(*(one_session(browser, url, q, timeout_s) for q in questions)))


# --quick-writer: commits as fast as SQLite, FAISS and BM25 allow (no model: rows of a fixed random matrix under the
# index's model name, in the benchmark's own copy of the index), so lock waits show apart from CPU competition
_QUICK_WRITER = r"""
import sqlite3, sys, time, zlib
import numpy as np
from qa_app.config import Settings
from qa_app.documents import make_document
from qa_app.library import Library

class Cheap:
    dimension = 384
    rows = np.random.default_rng(0).standard_normal((4096, 384)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    def embed(self, texts, batch_size=32):
        return self.rows[[zlib.crc32(t.encode()) % 4096 for t in texts]]

with sqlite3.connect(f"{sys.argv[1]}/library.sqlite") as db:
    Cheap.name = db.execute("SELECT value FROM meta WHERE key = 'model'").fetchone()[0]
library = Library(Settings(index_dir=sys.argv[1]), embedder=Cheap())
while True:
    tag = time.time_ns()
    library.add([make_document(title=f"Quick note {tag}-{i}", text=f"Harbor works note {tag}-{i}: the pier council "
                               "voted again on the works.", source=f"quick-{tag}-{i}") for i in range(5)])
"""


class Writer:
    """`qa-app index` of fresh articles into the index, restarted until stopped (its own process group)."""

    def __init__(self, index_dir: Path, folder: Path, log: Path, quick: bool = False, prefix: list[str] | None = None
                 ) -> None:  # fmt: skip
        self.index_dir, self.folder, self.log, self.quick = index_dir, folder, log, quick
        self.prefix = prefix or []
        self.process: subprocess.Popen | None = None
        self.rounds = 0

    def _articles(self) -> Path:
        tag = time.monotonic_ns()  # unique across writers: every article is new to the index
        batch = self.folder / f"batch-{tag}"
        batch.mkdir(parents=True)
        for n in range(400):  # ~800 chunks: a commit every 128 chunks for the whole round
            words = " ".join(f"harbor{tag}x{n} pier works council vote {m}" for m in range(40))
            (batch / f"story-{n}.txt").write_text(f"Harbor works report {tag}-{n}\n{words}.\n")
        return batch

    def poll(self) -> None:
        """Start the next `qa-app index` when the last one has finished."""
        if self.process is None or self.process.poll() is not None:
            command = [sys.executable, "-m", "qa_app", "index", str(self._articles()), "--index-dir",
                       str(self.index_dir)]  # fmt: skip
            if self.quick:
                command = [sys.executable, "-c", _QUICK_WRITER, str(self.index_dir)]
            with self.log.open("ab") as out:
                self.process = subprocess.Popen([*self.prefix, *command], cwd=ROOT, env=server_env(), stdout=out,
                                                stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
            self.rounds += 1

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            self.process.wait(30)


def stored_documents(index_dir: Path) -> int:
    """Documents committed to the index now (read-only, beside the server and the writer)."""
    with closing(sqlite3.connect(f"file:{index_dir / DB_NAME}?mode=ro", uri=True, timeout=30)) as db:
        return db.execute("SELECT COUNT(*) FROM documents").fetchone()[0]


def generation(index_dir: Path) -> int:
    """The index's generation now: one more per commit."""
    with closing(sqlite3.connect(f"file:{index_dir / DB_NAME}?mode=ro", uri=True, timeout=30)) as db:
        return int(db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0])


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its children so far."""
    process = psutil.Process(pid)
    total = 0.0
    for one in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            times = one.cpu_times()
            total += times.user + times.system
    return total


async def measured_round(
    browser: Browser, url: str, sessions: int, timeout_s: float, writer: Writer | None, index_dir: Path,
    server_pid: int,
) -> dict:  # fmt: skip
    before = stored_documents(index_dir)
    if writer:  # open the sessions once the writer commits (torch imported, embedding), not while it starts
        writer.poll()
        for _ in range(240):
            if stored_documents(index_dir) > before:
                break
            await asyncio.sleep(0.5)
    before, commits, load_start = stored_documents(index_dir), generation(index_dir), os.getloadavg()
    server_cpu = cpu_seconds(server_pid)
    task = asyncio.ensure_future(one_round(browser, url, sessions, timeout_s))
    while not task.done():
        if writer:
            writer.poll()
        await asyncio.sleep(0.5)
    rows = task.result()
    server_cpu = cpu_seconds(server_pid) - server_cpu
    pages = [r["page_s"] for r in rows if r["page_s"] is not None]
    answers = [r["answer_s"] for r in rows if r["answer_s"] is not None and not r["error"]]
    return {"sessions": sessions, "writer": bool(writer), "load_start": load_start, "load_end": os.getloadavg(),
            "documents_written_meanwhile": stored_documents(index_dir) - before,
            "commits_meanwhile": generation(index_dir) - commits,
            "pages_loaded": len(pages), "answered": len(answers),
            "page_s_median": statistics.median(pages) if pages else None, "page_s_max": max(pages, default=None),
            "answer_s_median": statistics.median(answers) if answers else None,
            "answer_s_max": max(answers, default=None), "server_cpu_s": server_cpu,
            "server_cpu_s_per_session": server_cpu / sessions,
            "errors": [r["error"] for r in rows if r["error"]]}  # fmt: skip


async def run(args: argparse.Namespace) -> dict:
    rounds = []
    server_cpus = ["taskset", "-c", str(args.server_cpu)] if args.server_cpu is not None else []
    if args.browser_cpu is not None:  # this process, and so Chromium, which it starts, on its own core
        os.sched_setaffinity(0, {args.browser_cpu})
    with tempfile.TemporaryDirectory(prefix="qa-capacity-") as scratch_name:
        scratch = Path(scratch_name)
        index_dir = scratch / "index"
        if args.index_dir:
            shutil.copytree(args.index_dir, index_dir)
        else:
            build_corpus_index(index_dir)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                with running_server(index_dir, port, scratch / "server.log", server_cpus) as server:
                    wait_healthy(url, server, scratch / "server.log")
                    warm = await one_round(browser, url, 1, 300)  # the model loads on the first question
                    print("warm-up", warm, file=sys.stderr, flush=True)
                    for sessions in args.sessions:
                        for with_writer in (False, True):
                            writer = (
                                Writer(
                                    index_dir,
                                    scratch / "writer",
                                    scratch / "writer.log",
                                    args.quick_writer,
                                    server_cpus,
                                )
                                if with_writer
                                else None
                            )
                            try:
                                row = await measured_round(browser, url, sessions, args.timeout, writer, index_dir,
                                                           server.pid)  # fmt: skip
                                rounds.append(row)
                            finally:
                                if writer:
                                    writer.stop()
                            print(json.dumps(rounds[-1]), file=sys.stderr, flush=True)
            finally:
                await browser.close()
    return {"host": host(), "timeout_s": args.timeout, "quick_writer": args.quick_writer,
            "server_cpu": args.server_cpu, "browser_cpu": args.browser_cpu, "rounds": rounds}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 5, 10, 20])
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds a session may take in all")
    parser.add_argument("--index-dir", type=Path, help="an index to copy (default: corpus/ indexed afresh)")
    parser.add_argument("--quick-writer", action="store_true", help="a model-free writer committing continuously")
    parser.add_argument("--server-cpu", type=int, help="run the server and the writer on this core only")
    parser.add_argument("--browser-cpu", type=int, help="run Chromium (and this driver) on this core only")
    parser.add_argument("--out", type=Path, default=RESULTS / "capacity.json")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for row in result["rounds"]:
        print(json.dumps({k: v for k, v in row.items() if k != "errors"}))


if __name__ == "__main__":
    main()
