"""Two `qa-app index` writers and two reader processes on one index directory at the same time.

Nothing may be lost or duplicated, no process may fail, every passage a reader gets must be its
document's text, and readers must see the writers' documents without being restarted.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from qa_app.config import Settings
from qa_app.embedder import SentenceTransformerEmbedder
from qa_app.integrity import check_index
from qa_app.library import Library
from tests.reliability_helpers import (
    ROOT,
    child_env,
    database_problems,
    doc_ids_of,
    generate_articles,
    search_problems,
    write_corpus,
)

ARTICLES_PER_WRITER = 130  # with 5 two-chunk articles: 135 chunks, two commits each (the CLI commits every 128)
READERS = 2  # each reader process imports the model; two show what four did (see README, "Concurrency")
QUESTIONS = {
    "harbor": ["How often do ferries cross from the harbor during the works?", "When will the new ferry dock open?"],
    "orchard": ["How many tonnes of apples did the orchards pick?", "Did cider sales rise at the orchard cooperative?"],
}
# operations every reader must finish after both writers are done: any three in a row ask of both topics
AFTER_WRITERS = 3


class _Lines:
    """Collect a process's stdout JSON lines on a thread, with the time each arrived."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.lines: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._thread.start()

    def _read(self, process: subprocess.Popen) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.raw.append(line)
            if line.startswith("{"):
                self.lines.append(json.loads(line))

    def join(self) -> None:
        self._thread.join(timeout=30)


def _start(argv: list[str], log: Path) -> subprocess.Popen:
    # four processes share two cores: one compute thread each, or torch's thread pools spin against each other
    env = {**child_env(), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, *argv], stdout=subprocess.PIPE, stderr=log.open("wb"), cwd=ROOT,
                            env=env, text=True)  # fmt: skip


def test_two_writers_and_two_readers_share_one_index(tmp_path: Path, model: SentenceTransformerEmbedder) -> None:
    index_dir, stop = tmp_path / "index", tmp_path / "stop-readers"
    sets = {}
    for n, topic in enumerate(QUESTIONS):
        folder = tmp_path / topic
        articles = generate_articles(ARTICLES_PER_WRITER, seed=100 + n, topic=topic, long_every=26, words=(25, 40))
        write_corpus(folder, articles)
        sets[topic] = set(doc_ids_of(folder))
    assert not sets["harbor"] & sets["orchard"]

    started = time.monotonic()
    readers = []
    for n in range(READERS):
        questions = [q for qs in QUESTIONS.values() for q in qs]
        questions = questions[n:] + questions[:n]  # each reader asks in another order
        argv = ["-m", "tests.reliability_helpers", "reader", str(index_dir), "240", "--stop-file", str(stop),
                "--pause", "0.6"]  # fmt: skip
        argv += [arg for q in questions for arg in ("--question", q)]
        process = _start(argv, tmp_path / f"reader-{n}.log")
        readers.append((process, _Lines(process)))
    writers = []
    for topic in QUESTIONS:
        process = _start(["-m", "qa_app", "index", str(tmp_path / topic), "--index-dir", str(index_dir), "--json"],
                         tmp_path / f"writer-{topic}.log")  # fmt: skip
        writers.append((topic, process, _Lines(process)))

    try:
        for topic, process, _ in writers:
            code = process.wait(timeout=240)
            assert code == 0, (tmp_path / f"writer-{topic}.log").read_text(errors="replace")[-3000:]
        writers_done = time.time()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # readers keep going, without a restart, past the writers' end
            if all(process.poll() is not None for process, _ in readers):
                break
            late = [sum(1 for line in lines.lines if line.get("t", 0) > writers_done and "op" in line)
                    for _, lines in readers]  # fmt: skip
            if min(late) >= AFTER_WRITERS:
                break
            time.sleep(0.2)
    finally:
        stop.touch()
        for process, _ in readers:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
        for _, process, _ in writers:
            if process.poll() is None:
                process.kill()
    elapsed = time.monotonic() - started

    # the writers: every article of its own set reported indexed (or already indexed, never twice)
    for topic, _, lines in writers:
        lines.join()
        (report,) = lines.lines
        statuses = {r["doc_id"]: r["status"] for r in report["results"]}
        assert set(statuses) == sets[topic] and set(statuses.values()) == {"indexed"}

    # the readers: no error, every result consistent, and both sets seen after the writers finished
    operations = during = 0
    listed_sets = sets["harbor"] | sets["orchard"]
    for n, (process, lines) in enumerate(readers):
        lines.join()
        log = (tmp_path / f"reader-{n}.log").read_text(errors="replace")
        errors = [line["error"] for line in lines.lines if "error" in line]
        assert errors == [] and process.returncode == 0, (errors[:2], log[-3000:], "".join(lines.raw)[-2000:])
        ops = [line for line in lines.lines if "op" in line]
        operations += len(ops)
        assert [line["bad"] for line in ops if line["bad"]] == []
        returned = {doc_id for line in ops for doc_id in line["docs"]}
        assert returned <= sets["harbor"] | sets["orchard"]
        during += sum(1 for line in ops if line["t"] <= writers_done and 0 < line["listed"] < len(listed_sets))
        late = [line for line in ops if line["t"] > writers_done]
        assert len(late) >= AFTER_WRITERS, f"reader {n} did only {len(late)} operations after the writers"
        seen_late = {doc_id for line in late for doc_id in line["docs"]}
        assert seen_late & sets["harbor"] and seen_late & sets["orchard"], f"reader {n} missed a writer's articles"
        assert late[-1]["listed"] == 2 * ARTICLES_PER_WRITER

    # the index: exactly the union, nothing duplicated, every derived file current
    library = Library(Settings(index_dir=index_dir), embedder=model)
    try:
        listed = [d.doc_id for d in library.documents()]
        assert sorted(listed) == sorted(sets["harbor"] | sets["orchard"])
        assert database_problems(library) == []
        assert search_problems(library, "ferry dock at the harbor") == []
        assert check_index(library).problems == []
    finally:
        library.close()
    print(f"\nconcurrency: 2 writers x {ARTICLES_PER_WRITER} articles, {READERS} readers, {elapsed:.0f} s, "
          f"{operations} reader operations ({during} while the index was half written), "
          f"{len(listed)} documents at the end, none lost or duplicated")  # fmt: skip
    assert during > 0, "no reader ran while the writers were writing"
