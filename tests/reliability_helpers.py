"""Shared by the crash, concurrency and fuzz tests: generated articles, index checks, a fork server, a reader.

Run as a module for the two processes the tests start:

    python -m tests.reliability_helpers reader INDEX_DIR SECONDS [--stop-file F] [--question Q ...] [--pause S]
    python -m tests.reliability_helpers forkserver

The reader searches and asks in a loop and prints one JSON line per operation. The fork server imports
sentence-transformers once (~7 s) and then forks a child per command that runs the real `qa-app` CLI
entry point, optionally stopping at a named crash point so the test can SIGKILL it exactly there.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import random
import select
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# ---- generated articles ---------------------------------------------------------------------------

_PLACES = ["Port Ellis", "Marlow", "Kessington", "Ashford Vale", "Corran", "Dunmere", "Halvik", "Brennock",
           "Saltmarsh", "Tollgate", "Westerby", "Innisfree", "Calder Cross", "Moorhaven", "Redwater"]  # fmt: skip
_FIRST = ["Dana", "Paolo", "Mira", "Tomas", "Aisha", "Kenji", "Lena", "Omar", "Priya", "Rafael", "Sofia", "Yusuf",
          "Ingrid", "Marcus", "Nadia", "Felix", "Greta", "Hassan", "Iris", "Jonah"]  # fmt: skip
_LAST = ["Whitlock", "Ferri", "Okafor", "Lindqvist", "Haddad", "Moreau", "Tanaka", "Novak", "Reyes", "Brennan",
         "Castillo", "Dubois", "Eriksen", "Farouk", "Gallo", "Hughes"]  # fmt: skip
_SUBJECTS = ["the town council", "the regional transport board", "the school district", "the water authority",
             "the chamber of commerce", "the county hospital", "the fire service",
             "the public library trust"]  # fmt: skip
_ACTIONS = ["approved a budget of {n} million dollars", "delayed a vote on the plan by {m} weeks",
            "hired {m} new staff members", "opened an inquiry into rising costs",
            "published figures showing a {p} percent rise", "announced a review of its safety rules"]  # fmt: skip
_GENERIC = [
    "{person}, who chairs {subject}, said the decision followed months of public meetings in {place}.",
    "Residents of {place} have complained about the delays since early {month}.",
    "Officials expect the work to cost about {n} million dollars over {m} years.",
    "A spokesperson for {subject} declined to comment on the timetable.",
    "The plan will be reviewed again in {month}, when new figures are due.",
    "Local businesses said the changes could affect as many as {k} jobs in the area.",
    "{person} told reporters that the numbers were better than expected.",
    "Critics argue that the money would be better spent on roads and schools.",
    "The proposal passed by {m} votes to {m2} after a long debate.",
    "Independent auditors will publish their report before the end of the year.",
]
_TOPICS = {
    "harbor": [
        "The harbor master in {place} said ferry crossings would run every {m} minutes during the works.",
        "Fishing crews at the {place} harbor unloaded {k} tonnes of mackerel this week.",
        "A new ferry dock at the harbor will open to passengers in {month}.",
    ],
    "orchard": [
        "Apple growers in the {place} orchards picked {k} tonnes of fruit this autumn.",
        "The orchard cooperative in {place} said cider sales rose {p} percent.",
        "Frost damaged blossom in several orchards near {place} in {month}.",
    ],
}
_MONTHS = ["January", "March", "April", "June", "July", "September", "October", "December"]


def _sentence(rng: random.Random, template: str) -> str:
    slots = {
        "place": rng.choice(_PLACES),
        "person": f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
        "subject": rng.choice(_SUBJECTS),
        "month": rng.choice(_MONTHS),
        "n": f"{rng.randint(1, 90)}.{rng.randint(1, 9)}",
        "m": rng.randint(2, 19),
        "m2": rng.randint(1, 9),
        "k": rng.randint(20, 4000),
        "p": rng.randint(2, 40),
    }
    text = template.format(**slots)
    return text[0].upper() + text[1:]


def generate_articles(
    count: int, *, seed: int, topic: str | None = None, long_every: int = 0, words: tuple[int, int] = (60, 120)
) -> dict[str, str]:
    """`count` distinct articles (file name -> text, headline on the first line) of `words` words each.

    Every `long_every`-th article is ~320 words instead, so it makes two chunks; `topic` ("harbor" or
    "orchard") adds topic sentences and a topic word to every headline so a search can find the set.
    """
    rng = random.Random(seed)
    articles: dict[str, str] = {}
    seen: set[str] = set()
    while len(articles) < count:
        number = len(articles)
        place = rng.choice(_PLACES)
        subject = rng.choice(_SUBJECTS)
        action = _sentence(rng, rng.choice(_ACTIONS))
        label = f"{topic} " if topic else ""
        title = f"{place} {label}report {number}: {subject.removeprefix('the ')} {action.split(' ', 1)[0].lower()}"
        lead = f"On {rng.choice(_MONTHS)} {rng.randint(1, 28)}, {subject} in {place} {action[0].lower()}{action[1:]}."
        sentences = [lead]
        long = long_every and number % long_every == long_every - 1
        target = rng.randint(320, 340) if long else rng.randint(*words)
        pool = _GENERIC + _TOPICS.get(topic or "", []) * 2
        while len(" ".join(sentences).split()) < target - 8:
            sentences.append(_sentence(rng, rng.choice(pool)))
        body = " ".join(sentences)
        if body in seen:
            continue
        seen.add(body)
        prefix = f"{topic}-" if topic else "article-"
        articles[f"{prefix}{number:04d}.txt"] = f"{title[0].upper()}{title[1:]}\n\n{body}\n"
    return articles


def write_corpus(folder: Path, articles: dict[str, str]) -> list[Path]:
    """Write `articles` (name -> text) into `folder`; returns the paths in name order."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in articles.items():
        (folder / name).write_text(text, encoding="utf-8")
    return sorted(folder / name for name in articles)


def doc_ids_of(folder: Path) -> dict[str, str]:
    """doc_id -> file name for every article in `folder`, as the loader will see them."""
    from qa_app.documents import load_files

    documents, failures = load_files([folder], max_bytes=10 * 1024 * 1024)
    assert not failures, failures
    return {doc.doc_id: doc.source for doc in documents}


# ---- checking an index --------------------------------------------------------------------------


def database_problems(library: Any) -> list[str]:
    """What is wrong in SQLite: `check_index`'s database checks, plus ordinals, duplicates and sources."""
    from qa_app.integrity import check_index

    problems = [p for p in check_index(library).problems if p.startswith("database:")]
    documents = library.documents()
    ids = [d.doc_id for d in documents]
    problems += [f"doc {doc_id} listed {n} times" for doc_id, n in Counter(ids).items() if n > 1]
    problems += [f"source {s} held by {n} documents" for s, n in Counter(d.source for d in documents).items() if n > 1]
    ordinals: dict[str, list[int]] = defaultdict(list)
    for doc_id, ordinal in library._store._query("SELECT doc_id, ordinal FROM chunks"):
        ordinals[doc_id].append(ordinal)
    for d in documents:
        found = sorted(ordinals.get(d.doc_id, []))
        if not found or found != list(range(len(found))) or len(found) != d.chunks:
            problems.append(f"doc {d.doc_id} has chunk ordinals {found[:10]} (listed with {d.chunks} chunks)")
    return problems


def search_problems(library: Any, question: str, k: int = 8) -> list[str]:
    """Search once, then check what came back and what the Library loaded against SQLite."""
    listed = {d.doc_id for d in library.documents()}
    problems = []
    for p in library.search(question, k=k):
        if p.doc_id not in listed:
            problems.append(f"search returned unlisted doc {p.doc_id}")
        elif library.document(p.doc_id).text[p.start : p.end] != p.text:
            problems.append(f"passage {p.chunk_id} text is not its document's text[{p.start}:{p.end}]")
    chunk_ids = {row[0] for row in library._store._query("SELECT id FROM chunks")}
    vectors, lexical = library._indexes()
    if set(vectors.ids().tolist()) != chunk_ids:
        problems.append(f"loaded FAISS holds {len(vectors)} ids, the database {len(chunk_ids)} chunks")
    if set(lexical.ids.tolist()) != chunk_ids:
        problems.append(f"loaded BM25 holds {len(lexical)} ids, the database {len(chunk_ids)} chunks")
    return problems


# ---- crash points, for the forked CLI runs ------------------------------------------------------

CRASH_POINTS = {
    "embed": "before embedding a group of chunks",
    "commit": "inside the SQLite write transaction, just before COMMIT",
    "committed": "after COMMIT, before the FAISS file is saved",
    "faiss-tmp": "FAISS written to its temporary file, not yet renamed",
    "faiss-saved": "new FAISS file renamed into place, older generations not yet deleted",
    "bm25-tmp": "BM25 written to its temporary folder, not yet renamed",
    "bm25-swap": "old BM25 folder of this generation deleted, the new one not yet renamed in",
}


def install_crash_point(spec: str, marker_dir: Path) -> None:
    """Stop this process at `spec` ("point" or "point@N" for the N-th time) and tell the test by a marker file.

    The test SIGKILLs the process once the marker appears; the patches wrap the real code, they never
    replace what it does.
    """
    import bm25s
    import faiss

    from qa_app import embedder, index, store

    point, _, nth = spec.partition("@")
    if point not in CRASH_POINTS:
        raise ValueError(f"unknown crash point {point!r}; one of {', '.join(CRASH_POINTS)}")
    remaining = [int(nth or 1)]

    def reached() -> None:
        remaining[0] -= 1
        if remaining[0] == 0:
            (marker_dir / f"{os.getpid()}-{point}").write_text(point)
            time.sleep(120)  # the test kills us long before this ends
            os._exit(99)

    def after(function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            result = function(*args, **kwargs)
            reached()
            return result

        return wrapper

    def before(function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            reached()
            return function(*args, **kwargs)

        return wrapper

    if point == "embed":
        embedder.SentenceTransformerEmbedder.embed = before(embedder.SentenceTransformerEmbedder.embed)
    elif point == "commit":
        _stop_before_commit(store.Store, reached)
    elif point == "committed":
        store.Store.write = after(store.Store.write)
    elif point == "faiss-tmp":
        faiss.write_index = after(faiss.write_index)
    elif point == "faiss-saved":
        index.VectorIndex.save = after(index.VectorIndex.save)
    elif point == "bm25-tmp":
        bm25s.BM25.save = after(bm25s.BM25.save)
    elif point == "bm25-swap":
        replace = os.replace

        def swap(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
            if Path(src).name.startswith(".bm25-"):
                reached()
            replace(src, dst, *args, **kwargs)

        os.replace = swap


class _Connection:
    """A sqlite3 connection that calls `hook` before a COMMIT issued by `Store.write`."""

    def __init__(self, connection: Any, hook: Callable[[], None], writing: threading.local) -> None:
        self._connection, self._hook, self._writing = connection, hook, writing

    def execute(self, sql: str, *args: Any) -> Any:
        if sql == "COMMIT" and getattr(self._writing, "active", False):
            self._hook()
        return self._connection.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)


def _stop_before_commit(store_class: Any, hook: Callable[[], None]) -> None:
    writing = threading.local()
    init, write = store_class.__init__, store_class.write

    def patched_init(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self._db = _Connection(self._db, hook, writing)

    def patched_write(self: Any, *args: Any, **kwargs: Any) -> Any:
        writing.active = True
        try:
            return write(self, *args, **kwargs)
        finally:
            writing.active = False

    store_class.__init__, store_class.write = patched_init, patched_write


# ---- the fork server ----------------------------------------------------------------------------


def _send(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


class _LineReader:
    """Lines from a file descriptor with a timeout (select), without Python's read-ahead buffering."""

    def __init__(self, fd: int) -> None:
        self.fd, self.buffer = fd, b""

    def next(self, timeout: float | None) -> str | None:
        """The next line; None on timeout, "" at end of input."""
        while b"\n" not in self.buffer:
            ready, _, _ = select.select([self.fd], [], [], timeout)
            if not ready:
                return None
            data = os.read(self.fd, 65536)
            if not data:
                return ""
            self.buffer += data
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.decode()


def _run_child(command: dict[str, Any]) -> None:
    """In the forked child: run the qa-app CLI with `command["argv"]`; never returns."""
    code = 70
    try:
        log = os.open(command["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        import qa_app.cli
        import qa_app.library

        if command.get("group_chunks"):  # smaller write groups: more commits, so more windows to crash in
            qa_app.library._WRITE_GROUP_CHUNKS = int(command["group_chunks"])
        if command.get("crash_at"):
            install_crash_point(command["crash_at"], Path(command["marker_dir"]))
        sys.argv = ["qa-app", *command["argv"]]
        try:
            qa_app.cli.main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _serve() -> int:
    """Import the heavy modules once, then fork one child per "run" command and report how it ended."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import sentence_transformers  # noqa: F401  (the slow import every child then skips)

    import qa_app.cli  # noqa: F401

    lines = _LineReader(sys.stdin.fileno())
    _send({"ready": True})
    while True:
        line = lines.next(None)
        if not line:
            return 0
        command = json.loads(line)
        if command["cmd"] == "quit":
            return 0
        if command["cmd"] == "kill":  # sent as the last child exited by itself: nothing left to kill
            continue
        pid = os.fork()
        if pid == 0:
            _run_child(command)
        _send({"started": pid})
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            line = lines.next(0.01)
            if line == "" or (line and json.loads(line)["cmd"] == "kill"):
                os.kill(pid, signal.SIGKILL)  # our own child, not yet reaped: the pid cannot be reused
        _send({"exited": pid, "returncode": os.waitstatus_to_exitcode(status)})


def child_env() -> dict[str, str]:
    """Environment for a qa-app subprocess: offline model, the repository importable."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    env.pop("QA_APP_INDEX_DIR", None)
    return env


class ForkServer:
    """Test side of the fork server: start CLI runs, kill them, read how they ended."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability_helpers", "forkserver"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT, env=child_env(), text=True, bufsize=1,
        )  # fmt: skip
        self._messages: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.ready = False

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self._messages.put(json.loads(line))
        self._messages.put({"closed": True})

    def _next(self, timeout: float) -> dict[str, Any]:
        message = self._messages.get(timeout=timeout)
        if message.get("closed"):
            raise RuntimeError(f"fork server exited with {self._process.wait()}")
        return message

    def _write(self, message: dict[str, Any]) -> None:
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps(message) + "\n")
        self._process.stdin.flush()

    def wait_ready(self, timeout: float = 180) -> None:
        if not self.ready:
            assert self._next(timeout) == {"ready": True}
            self.ready = True

    def start(self, argv: list[str], *, log: Path, crash_at: str | None = None, marker_dir: Path | None = None,
              group_chunks: int | None = None) -> int:  # fmt: skip
        """Fork a child running `qa-app *argv`; returns its pid."""
        self.wait_ready()
        self._write({"cmd": "run", "argv": argv, "log": str(log), "crash_at": crash_at,
                     "marker_dir": str(marker_dir) if marker_dir else None, "group_chunks": group_chunks})  # fmt: skip
        return int(self._next(60)["started"])

    def kill(self) -> None:
        self._write({"cmd": "kill"})

    def wait(self, timeout: float) -> int:
        """The child's return code (negative: killed by that signal)."""
        return int(self._next(timeout)["returncode"])

    def poll(self) -> int | None:
        try:
            return int(self._next(0)["returncode"])
        except queue.Empty:
            return None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._write({"cmd": "quit"})
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


# ---- the reader loop ----------------------------------------------------------------------------

DEFAULT_QUESTIONS = (
    "How often do ferries cross from the harbor during the works?",
    "How many tonnes of apples did the orchards pick?",
    "What did the town council approve?",
    "When will the new ferry dock open?",
    "Did cider sales rise at the orchard cooperative?",
)


def _check_passages(library: Any, passages: Any, listed: set[str]) -> list[str]:
    from qa_app.errors import NotFoundError

    bad = []
    for p in passages:
        try:
            text = library.document(p.doc_id).text
        except NotFoundError:
            bad.append(f"{p.doc_id}: returned but not in the database")
            continue
        if text[p.start : p.end] != p.text:
            bad.append(f"{p.doc_id}: passage {p.chunk_id} is not text[{p.start}:{p.end}]")
        if p.doc_id not in listed:
            bad.append(f"{p.doc_id}: returned but listed neither before nor after the search")
    return bad


def reader(
    index_dir: Path, seconds: float, stop_file: Path | None, questions: tuple[str, ...], pause: float = 0.05
) -> int:
    """Search and ask in a loop on one Library; one JSON line per operation; exit 1 after any error."""
    import torch

    from qa_app.config import load_settings
    from qa_app.library import Library

    torch.set_num_threads(1)  # six processes share two cores
    library = Library(load_settings(index_dir=index_dir))
    errors = operations = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not (stop_file and stop_file.exists()):
        question = questions[operations % len(questions)]
        op = "ask" if operations % 4 == 3 else "search"
        try:
            before = {d.doc_id for d in library.documents()}
            if op == "ask":
                answer = library.ask(question)
                passages = answer.passages
                bad = [f"citation [{c.n}] is not its document's text[{c.start}:{c.end}]" for c in answer.citations
                       if library.document(c.doc_id).text[c.start : c.end] != c.quote]  # fmt: skip
            else:
                passages, bad = library.search(question, k=5), []
            after = {d.doc_id for d in library.documents()}
            bad += _check_passages(library, passages, before | after)
            _send({"t": time.time(), "op": op, "question": question, "docs": [p.doc_id for p in passages],
                   "listed": len(after), "bad": bad})  # fmt: skip
        except Exception:
            errors += 1
            _send({"t": time.time(), "op": op, "error": traceback.format_exc()})
        operations += 1
        time.sleep(pause)
    library.close()
    _send({"t": time.time(), "done": True, "operations": operations, "errors": errors})
    return 1 if errors else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability_helpers")
    commands = parser.add_subparsers(dest="command", required=True)
    read = commands.add_parser("reader", help="search and ask in a loop, printing JSON lines")
    read.add_argument("index_dir", type=Path)
    read.add_argument("seconds", type=float)
    read.add_argument("--stop-file", type=Path, help="stop early once this file exists")
    read.add_argument("--question", action="append", help="question to ask (repeatable)")
    read.add_argument("--pause", type=float, default=0.05, help="seconds to sleep between operations")
    commands.add_parser("forkserver", help="fork qa-app CLI runs on request (JSON lines on stdin)")
    args = parser.parse_args(argv)
    if args.command == "reader":
        questions = tuple(args.question or DEFAULT_QUESTIONS)
        return reader(args.index_dir, args.seconds, args.stop_file, questions, args.pause)
    return _serve()


if __name__ == "__main__":
    sys.exit(main())
