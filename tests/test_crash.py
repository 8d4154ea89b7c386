"""Crash safety: `qa-app index` and `qa-app remove` killed with SIGKILL at random moments and at every save step.

After each kill the index must open without repair, hold only whole documents (every chunk, every
vector), search consistently, and rebuild any derived file the crash left stale; running the command
again must finish the job. Every save step is a kill point once, each save step seen on disk a kill
trigger once, plus kills at random moments. Most runs are forked from a warm server
(tests/reliability_helpers.py): the child runs the real CLI entry point, `qa_app.cli.main`, and only
`import sentence_transformers` (~7 s) is done once. Two runs are plain `python -m qa_app` subprocesses
(an index and a remove killed right after their commit), to show the server changes nothing.
"""

from __future__ import annotations

import logging
import os
import random
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from qa_app.config import Settings
from qa_app.embedder import SentenceTransformerEmbedder
from qa_app.integrity import check_index
from qa_app.library import Library
from tests.articles import write_articles
from tests.fakes import HashingEmbedder
from tests.reliability_helpers import (
    ROOT,
    ForkServer,
    child_env,
    database_problems,
    doc_ids_of,
    generate_articles,
    search_problems,
    write_corpus,
)

SEED = int(os.environ.get("QA_APP_CRASH_SEED", "20250503"))
ARTICLES = 160  # the killed runs commit about 130 (last run), a finishing run indexes the rest
GROUP_CHUNKS = 16  # forked runs commit every 16 chunks (the CLI's default is 128): more windows to crash in
INDEX_POINTS = ["embed@2", "commit@1", "committed@1", "faiss-tmp@1", "faiss-saved@2", "bm25-tmp@1", "bm25-swap@1"]
RANDOM_INDEX_KILLS = 4  # at least this many kills at random moments, beside one kill per point and per trigger
REMOVE_POINTS = ["commit@1", "committed@1", "faiss-tmp@1", "faiss-saved@1", "bm25-tmp@1", "bm25-swap@1"]
QUESTIONS = ["What did the town council approve?", "How many jobs could the changes affect?",
             "Who chairs the water authority?", "When will the plan be reviewed again?"]  # fmt: skip
_GENERATION = re.compile(r"^\.?(?:vectors|bm25)-(\d+)")


@dataclass
class Tally:
    """What happened to each run: how it was stopped and what the index looked like afterwards."""

    kills: Counter = field(default_factory=Counter)
    finished: Counter = field(default_factory=Counter)
    leftovers: Counter = field(default_factory=Counter)  # derived-file problems seen right after a kill

    @property
    def total(self) -> int:
        return sum(self.kills.values())


def _generations(index_dir: Path) -> set[int]:
    """Generations named by the derived files (and temporary files) in the index folder."""
    try:
        names = os.listdir(index_dir)
    except FileNotFoundError:
        return set()
    return {int(m.group(1)) for m in map(_GENERATION.match, names) if m}


def _temp_files(index_dir: Path, prefix: str) -> set[str]:
    try:
        return {name for name in os.listdir(index_dir) if name.startswith(prefix) and name.endswith(".tmp")}
    except FileNotFoundError:
        return set()


def _trigger(kind: str, index_dir: Path, rng: random.Random) -> Callable[[], bool]:
    """When to kill a run that has no crash point: after a delay, or when a save step shows on disk."""
    before = max(_generations(index_dir), default=-1)
    if kind == "random":  # a forked run of 24 articles takes ~1-2 s here; a later delay finds it finished
        return _delay(rng.uniform(0.2, 1.0))
    if kind == "new-generation":  # a commit happened and its FAISS file is being written or was just written
        return lambda: max(_generations(index_dir), default=-1) > before
    if kind in ("vectors-tmp", "bm25-tmp"):  # a save is writing its temporary file (not one a crash left)
        prefix = "." + kind.removesuffix("tmp")
        old = _temp_files(index_dir, prefix)
        return lambda: bool(_temp_files(index_dir, prefix) - old)
    raise ValueError(kind)


def _kind(problem: str) -> str:
    """A problem without its numbers: `.vectors-N.faiss.N.tmp is left over`."""
    return re.sub(r"(?<=[-.])\d+", "N", problem.split(" (")[0]).replace(
        " from an older generation or an interrupted write", ""
    )


def _check_after_kill(index_dir: Path, model: SentenceTransformerEmbedder, expected: set[str], rng: random.Random,
                      tally: Tally) -> set[str]:  # fmt: skip
    """The index right after a kill: opens, whole documents only, consistent search; returns the listed ids.

    A search repairs what the crash left (missing or stale derived files, leftovers); after it,
    `check_index` must find nothing.
    """
    library = Library(Settings(index_dir=index_dir), embedder=model)
    try:
        assert database_problems(library) == []
        listed = {d.doc_id for d in library.documents()}
        assert listed <= expected, f"unknown documents {listed - expected}"
        for problem in check_index(library).problems:  # derived files the crash left behind, before any search
            tally.leftovers[_kind(problem)] += 1
        assert search_problems(library, rng.choice(QUESTIONS)) == []
        # the search rebuilt whatever was missing or stale; nothing a crash left may still be wrong
        assert check_index(library).problems == []
        return listed
    finally:
        library.close()


def _run_genuine(argv: list[str], log: Path, trigger: Callable[[], bool] | None) -> int:
    """`python -m qa_app ...` as its own process; SIGKILL it when `trigger` fires. Returns the exit code."""
    with log.open("ab") as out:
        process = subprocess.Popen([sys.executable, "-m", "qa_app", *argv], stdout=out, stderr=out, cwd=ROOT,
                                   env=child_env())  # fmt: skip
        while process.poll() is None:
            if trigger is not None and trigger():
                process.kill()
                break
            time.sleep(0.001)
        return process.wait(timeout=60)


def _run_forked(server: ForkServer, argv: list[str], log: Path, markers: Path, *, crash_at: str | None = None,
                trigger: Callable[[], bool] | None = None) -> int:  # fmt: skip
    """A forked CLI run, killed at its crash point or when `trigger` fires. Returns the exit code."""
    pid = server.start(argv, log=log, crash_at=crash_at, marker_dir=markers, group_chunks=GROUP_CHUNKS)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        code = server.poll()
        if code is not None:
            return code
        if (crash_at and any(markers.glob(f"{pid}-*"))) or (trigger is not None and trigger()):
            server.kill()
            return server.wait(30)
        time.sleep(0.001)
    server.kill()
    raise AssertionError(f"qa-app {' '.join(argv)} did not finish in 120 s; see {log}")


def _record(tally: Tally, label: str, code: int, log: Path) -> bool:
    """Count the run; True when it was killed. A run that ended by itself must have succeeded."""
    print(f"  {time.strftime('%H:%M:%S')} {label}: {'SIGKILL' if code == -9 else f'exit {code}'}", flush=True)
    if code == -9:
        tally.kills[label] += 1
        return True
    assert code == 0, f"{label}: exit code {code}; log:\n{log.read_text(errors='replace')[-3000:]}"
    tally.finished[label] += 1
    return False


def _next_batch(index_dir: Path, model: SentenceTransformerEmbedder, files: dict[str, Path], rng: random.Random,
                size: int) -> list[Path]:  # fmt: skip
    """`size` articles not indexed yet, for the next run (removing some first when fewer are left)."""
    library = Library(Settings(index_dir=index_dir), embedder=model)
    try:
        listed = sorted(d.doc_id for d in library.documents())
        for doc_id in rng.sample(listed, max(0, size - (len(files) - len(listed)))):
            library.remove(doc_id)
        pending = sorted(set(files) - {d.doc_id for d in library.documents()})
    finally:
        library.close()
    return sorted(files[doc_id] for doc_id in rng.sample(pending, size))


def test_index_and_remove_survive_sigkill(tmp_path: Path, model: SentenceTransformerEmbedder) -> None:
    rng = random.Random(SEED)
    corpus, index_dir, markers, log = tmp_path / "corpus", tmp_path / "index", tmp_path / "markers", tmp_path / "log"
    markers.mkdir()
    write_corpus(corpus, generate_articles(ARTICLES, seed=SEED, long_every=30))
    files = {doc_id: corpus / name for doc_id, name in doc_ids_of(corpus).items()}
    expected = set(files)
    index_argv = ["index", str(corpus), "--index-dir", str(index_dir)]
    tally = Tally()
    started = time.monotonic()
    server = ForkServer()  # imports sentence-transformers while the first plain subprocess runs
    try:
        # 1. a plain `python -m qa_app index` process killed right after its first commit (the CLI commits every
        # 128 chunks, so at the end of these 24 articles' chunks)
        batch = _next_batch(index_dir, model, files, rng, size=24)
        argv = ["index", *map(str, batch), "--index-dir", str(index_dir)]
        code = _run_genuine(argv, log, _trigger("new-generation", index_dir, rng))
        if _record(tally, "python -m qa_app index, new-generation", code, log):
            _check_after_kill(index_dir, model, expected, rng, tally)

        # 2. forked runs: every save step once, each save step seen on disk once, and random moments
        plan = [("point", p) for p in INDEX_POINTS] + [("trigger", "random")] * RANDOM_INDEX_KILLS
        plan += [("trigger", t) for t in ("new-generation", "vectors-tmp", "bm25-tmp")]
        rng.shuffle(plan)
        wanted = len(plan)  # kills: runs that finish before their kill are made up by spare random runs
        spares = 12
        plan += [("trigger", "random")] * spares
        for n, (how, what) in enumerate(plan):
            if n >= len(plan) - spares and tally.total >= wanted:
                break
            # a run reaches the BM25 save only at its end, so give those few articles; others two write groups
            batch = _next_batch(index_dir, model, files, rng, size=6 if "bm25" in what else 24)
            trigger = _trigger(what, index_dir, rng) if how == "trigger" else None
            crash_at = what if how == "point" else None
            argv = ["index", *map(str, batch), "--index-dir", str(index_dir)]
            code = _run_forked(server, argv, log, markers, crash_at=crash_at, trigger=trigger)
            if _record(tally, f"index, {what}", code, log):
                _check_after_kill(index_dir, model, expected, rng, tally)

        # 3. a run left to finish: it indexes whatever the killed runs did not commit
        unfinished = len(expected - _listed(index_dir, model))
        assert _run_forked(server, index_argv, log, markers) == 0, log.read_text(errors="replace")[-3000:]
        assert _check_after_kill(index_dir, model, expected, rng, tally) == expected
        index_kills = tally.total

        # 4. `qa-app remove`, killed inside each write step, at save steps seen on disk and at random moments
        remove_plan = [("point", p) for p in REMOVE_POINTS] + [("trigger", "new-generation"), ("trigger", "bm25-tmp")]
        remove_plan += [("random", "random-short")] * 2 + [("genuine", "new-generation")]
        targets = rng.sample(sorted(expected), len(remove_plan))
        for n, ((how, what), doc_id) in enumerate(zip(remove_plan, targets, strict=True)):
            argv = ["remove", doc_id, "--index-dir", str(index_dir)]
            if how == "genuine":
                code = _run_genuine(argv, log, _trigger(what, index_dir, rng))
            else:
                trigger = _delay(rng.uniform(0.005, 0.1)) if how == "random" else None
                trigger = _trigger(what, index_dir, rng) if how == "trigger" else trigger
                crash_at = what if how == "point" else None
                code = _run_forked(server, argv, log, markers, crash_at=crash_at, trigger=trigger)
            if _record(tally, f"remove, {what}", code, log):
                listed = _check_after_kill(index_dir, model, expected, rng, tally)
                assert expected - listed <= set(targets[: n + 1]), "a remove run lost another document"
        for doc_id in sorted(_listed(index_dir, model) & set(targets)):  # the kill came before the commit
            assert _run_forked(server, ["remove", doc_id, "--index-dir", str(index_dir)], log, markers) == 0
    finally:
        server.close()

    elapsed = time.monotonic() - started
    print(f"\ncrash test: {tally.total} SIGKILLs survived ({index_kills} index, {tally.total - index_kills} remove) "
          f"in {elapsed:.0f} s; {sum(tally.finished.values())} runs finished by themselves; the finishing run "
          f"indexed {unfinished} of {len(expected)} articles")  # fmt: skip
    for label, n in sorted(tally.kills.items()):
        print(f"  killed {n} x  {label}")
    for problem, n in sorted(tally.leftovers.items()):
        print(f"  found by check_index right after a kill, {n} x: {problem}")
    assert index_kills >= wanted and tally.total - index_kills >= 6
    final = _check_after_kill(index_dir, model, expected, rng, tally)
    assert final == expected - set(targets)


def _delay(seconds: float) -> Callable[[], bool]:
    start = time.monotonic()
    return lambda: time.monotonic() - start >= seconds


def _listed(index_dir: Path, model: SentenceTransformerEmbedder) -> set[str]:
    library = Library(Settings(index_dir=index_dir), embedder=model)
    try:
        return {d.doc_id for d in library.documents()}
    finally:
        library.close()


# ---- leftovers of an interrupted save (fast, in-process, fake embedder) ---------------------------


@pytest.mark.parametrize("prefix", [".vectors-", ".bm25-"])
def test_temporary_files_of_a_killed_save_are_cleaned_by_the_next_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefix: str
) -> None:
    """A save killed before its rename leaves `.vectors-*.tmp` / `.bm25-*.tmp`; the next writer must delete it.

    Both savers write to a temporary name and rename it (index.py, lexical.py); a process killed in
    between leaves the temporary file. Only `rebuild_derived` (`qa-app check --repair`) deletes such
    files, so after any such crash `qa-app check` reports a problem until someone repairs by hand.
    """
    paths = write_articles(tmp_path / "articles")
    settings = Settings(index_dir=tmp_path / "index")
    _close(Library(settings, embedder=HashingEmbedder()), add=paths[:1])
    replace = os.replace

    def killed_before_rename(src: str | Path, dst: str | Path) -> None:
        if Path(src).name.startswith(prefix):
            raise KeyboardInterrupt("simulated SIGKILL between writing the temporary file and renaming it")
        replace(src, dst)

    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", killed_before_rename)
        with pytest.raises(KeyboardInterrupt):
            _close(Library(settings, embedder=HashingEmbedder()), add=paths[1:2])
    leftovers = list(settings.index_dir.glob(f"{prefix}*.tmp"))
    assert leftovers, "the simulated crash left no temporary file"
    for path in leftovers:  # as a killed process leaves them: named by another pid than ours
        path.rename(path.with_name(re.sub(r"\.\d+\.tmp$", ".4194304.tmp", path.name)))
    library = Library(settings, embedder=HashingEmbedder())
    library.add(paths[2:])  # a later writer holds the write lock: no other save can be in progress
    library.search("chess champion")
    assert [p.name for p in settings.index_dir.glob(".*.tmp")] == []
    assert check_index(library).problems == []
    library.close()


def _close(library: Library, *, add: list[Path]) -> None:
    try:
        library.add(add)
    finally:
        library.close()


def test_an_index_killed_before_its_first_commit_passes_check(tmp_path: Path) -> None:
    """A writer killed before its first commit leaves an empty index; `qa-app check` must not call it broken.

    Library writes no vector file until the first commit (and a search of an empty index saves none),
    but check_index reports `vectors-0.faiss is missing` whenever the file is absent, even with no chunks
    (for BM25 it already skips that case).
    """
    library = Library(Settings(index_dir=tmp_path / "index"), embedder=HashingEmbedder())
    assert library.search("anything") == []
    assert check_index(library).problems == []
    library.close()


def test_files_of_an_older_generation_left_by_a_kill_are_deleted_when_the_index_is_opened(tmp_path: Path) -> None:
    """Killed between renaming the new FAISS file in and deleting the old one, a writer leaves both.

    Opening and searching loads the current file and never looks at the old one, so it stays (and
    `qa-app check` fails) until the next write; a reader that can take the write lock should delete it.
    """
    paths = write_articles(tmp_path / "articles")
    settings = Settings(index_dir=tmp_path / "index")
    library = Library(settings, embedder=HashingEmbedder())
    library.add(paths[:2])
    old = {p.name: p.read_bytes() for p in settings.index_dir.glob("vectors-*.faiss")}
    library.add(paths[2:])
    library.close()
    for name, data in old.items():  # the state a kill right after the rename leaves
        (settings.index_dir / name).write_bytes(data)
    reopened = Library(settings, embedder=HashingEmbedder())
    assert reopened.search("chess champion")
    assert check_index(reopened).problems == []
    reopened.close()


def test_remove_in_a_new_process_updates_the_saved_vectors_instead_of_rebuilding_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`qa-app remove` (a fresh Library) must load the current FAISS file, not rebuild it from SQLite.

    Library.remove commits first and only then loads vectors, so `_apply` finds no file for the new
    generation, rebuilds every vector from SQLite and logs "vector file ... rebuilt from" on every
    CLI remove; `_write_new` avoids this by calling `_current_vectors()` before its write.
    """
    paths = write_articles(tmp_path / "articles")
    settings = Settings(index_dir=tmp_path / "index")
    _close(Library(settings, embedder=HashingEmbedder()), add=paths)
    library = Library(settings, embedder=HashingEmbedder())
    with caplog.at_level(logging.WARNING, logger="qa_app.library"):
        library.remove(library.documents()[0].doc_id)
    library.close()
    assert "rebuilt from" not in caplog.text
