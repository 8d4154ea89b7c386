"""`qa-app index --ray` on a real Ray: a local instance, and a two-node cluster on this machine losing a node.

Each Ray job builds an index that must equal the one in-process indexing builds from the same files: the same
documents, chunk offsets and sentence spans, vectors within 1e-5, and the same answers.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psutil
import pytest

from qa_app import distributed
from qa_app.config import Settings
from qa_app.distributed import RayOptions, index_with_ray
from qa_app.embedder import SentenceTransformerEmbedder
from qa_app.integrity import check_index
from qa_app.library import Library
from tests.articles import write_articles
from tests.conftest import CORPUS
from tests.ray_cluster import LOOPBACK, Cluster, listening_addresses, node_processes, stop, two_node_cluster

QA_APP = Path(sys.executable).with_name("qa-app")
QUESTIONS = ["When does the Harbor Street bridge close?", "Who won the national chess championship?",
             "What did Sheinbaum say about US troops?", "How much wheat was harvested?"]  # fmt: skip


def _corpus(folder: Path) -> Path:
    """Four articles, a JSONL feed of five records (one bad line), and two bad files."""
    write_articles(folder)
    shutil.copy(next(CORPUS.glob("*.md")), folder)
    records = [{"title": f"Council vote {n}", "body": f"The council of Brookfield voted {n} times on the {n}th "
                "budget line. " * 6, "url": f"https://news.example/vote-{n}"} for n in range(1, 5)]  # fmt: skip
    lines = [json.dumps(r) for r in records[:2]] + ["{broken"] + [json.dumps(r) for r in records[2:]]
    (folder / "feed.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "scan.pdf").write_bytes(b"%PDF-1.4 not really")
    (folder / "empty.txt").write_text("", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _corpus(tmp_path_factory.mktemp("ray-corpus") / "articles")


@pytest.fixture(scope="module")
def reference(corpus: Path, tmp_path_factory: pytest.TempPathFactory, model: SentenceTransformerEmbedder):
    """The index `qa-app index` builds in-process, and its results."""
    library = Library(Settings(index_dir=tmp_path_factory.mktemp("in-process")), embedder=model)
    results = library.add([corpus])
    yield library, results
    library.close()


def _failures(results) -> set[tuple[str, str]]:
    return {(Path(r.source).name, r.reason) for r in results if r.status == "failed"}


def _index_facts(library: Library) -> tuple[dict, dict, dict, dict]:
    """Documents, chunk vectors by (doc, start, end), sentence vectors by span, title vectors by doc."""
    documents = {d.doc_id: (d.title, d.source, d.published_at, d.chunks) for d in library.documents()}
    ids, matrix = library.store.vectors()
    rows = library.store.chunks(ids.tolist())
    chunks = {(rows[i].chunk.doc_id, rows[i].chunk.start, rows[i].chunk.end, rows[i].chunk.sentences): vector
              for i, vector in zip(ids.tolist(), matrix, strict=True)}  # fmt: skip
    sentences, titles = library.store.sentence_vectors(sorted(documents))
    return documents, chunks, sentences, titles


def assert_same_index(built: Library, reference: Library) -> None:
    """Same documents, chunk offsets, sentence spans; vectors within a step of how they are stored; the same answers.

    Vectors made in other batches (Ray's workers group documents their own way) differ by ~1e-6 before they are
    stored, so a float16 or int8 rounding can land one step apart: chunk vectors (float16) are compared to 1e-3
    relative, sentence and title vectors (int8, a scale per vector) to one step, max |component| / 127.
    """
    got, want = _index_facts(built), _index_facts(reference)
    assert got[0] == want[0]
    chunks, sentences, titles = zip(got[1:], want[1:], strict=True)
    for found, expected in (chunks, sentences, titles):
        assert found.keys() == expected.keys()
    assert all(np.allclose(chunks[0][key], vector, rtol=1e-3, atol=1e-5) for key, vector in chunks[1].items())
    for found, expected in (sentences, titles):
        for key, vector in expected.items():
            step = float(np.abs(vector).max()) / 127
            assert np.allclose(found[key], vector, rtol=0, atol=step * 1.01 + 1e-5), key
    for question in QUESTIONS:
        a, b = built.ask(question), reference.ask(question)
        assert (a.text, a.answered, a.citations) == (b.text, b.answered, b.citations)
    assert check_index(built).problems == []


def test_local_ray_builds_the_index_in_process_indexing_builds(corpus: Path, reference, tmp_path: Path,
                                                               model: SentenceTransformerEmbedder,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """A new local Ray (no address, no RAY_ADDRESS); the JSONL feed is read by several tasks."""
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(distributed, "JSONL_PART_BYTES", 300)
    assert len(distributed.plan([corpus], Settings())[0]) > len(list(corpus.iterdir()))
    library = Library(Settings(index_dir=tmp_path / "ray-index"), embedder=model)
    try:
        results = index_with_ray(library, [corpus], RayOptions())
        expected, ref_results = reference[0], reference[1]
        assert sorted(r.status for r in results) == sorted(r.status for r in ref_results)
        assert _failures(results) == _failures(ref_results)
        assert {"scan.pdf", "empty.txt", "feed.jsonl line 3"} <= {name for name, _ in _failures(results)}
        assert_same_index(library, expected)
    finally:
        library.close()


# ---- a two-node cluster on this machine ------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """A head and a second node on 127.0.0.1, 1 CPU each (tests/ray_cluster.py); the last test kills the second."""
    with two_node_cluster(cpus_per_node=1) as running:
        for node in (running.head, running.worker):
            assert listening_addresses(node) and listening_addresses(node) <= LOOPBACK
        yield running


JOB_PROCESSES = ("FlatMap(load_and_chunk)", "EmbedActor")  # Ray's titles for a read task and an embedding actor


def _wait_for_job_work_on(node: subprocess.Popen, job: subprocess.Popen, timeout: float = 240) -> str:
    """The title of a process of the job (a read task or an embedding actor) once one runs on `node`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and job.poll() is None:
        with contextlib.suppress(psutil.Error):
            titles = [" ".join(p.cmdline()) for p in node_processes(node)]
            working = [t.strip() for t in titles if any(name in t for name in JOB_PROCESSES)]
            if working:
                return working[0]
        time.sleep(0.2)
    raise AssertionError(f"no read task or embedding actor of the job ran on the second node (exit {job.poll()})")


def test_two_node_cluster_indexes_through_its_address(corpus: Path, reference, cluster: Cluster, tmp_path: Path,
                                                      model: SentenceTransformerEmbedder) -> None:  # fmt: skip
    """`qa-app index --ray ADDRESS` uses both nodes and builds the in-process index."""
    index_dir = tmp_path / "cluster-index"
    argv = [str(QA_APP), "index", str(corpus), "--index-dir", str(index_dir), "--json", "--ray", cluster.address]
    job = subprocess.Popen(argv, env=cluster.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_job_work_on(cluster.worker, job)
        out, err = job.communicate(timeout=300)
    finally:
        job.kill()
    assert job.returncode == 0, err
    assert _failures_json(json.loads(out)["results"]) == _failures(reference[1])
    library = Library(Settings(index_dir=index_dir), embedder=model)
    try:
        assert_same_index(library, reference[0])
    finally:
        library.close()


def test_two_node_cluster_losing_its_worker_node_mid_job(corpus: Path, reference, cluster: Cluster, tmp_path: Path,
                                                         model: SentenceTransformerEmbedder) -> None:  # fmt: skip
    """Index through the cluster's address; SIGKILL the second node while a read task or an embedding actor of the
    job runs on it. The job completes on the head node with every file indexed, and a rerun finds nothing to do."""
    index_dir = tmp_path / "cluster-index"
    argv = [str(QA_APP), "index", str(corpus), "--index-dir", str(index_dir), "--json", "--ray", cluster.address]
    job = subprocess.Popen(argv, env=cluster.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        working = _wait_for_job_work_on(cluster.worker, job)
        stop(cluster.worker)
        assert job.poll() is None, "the job ended before the node was killed"
        out, err = job.communicate(timeout=300)
    finally:
        job.kill()
    print(f"\nkilled the second node while {working!r} ran on it; the job exited {job.returncode}")
    assert job.returncode == 0, err  # the actor pool goes on with the head's actor; Ray retries the lost tasks
    results = json.loads(out)["results"]
    assert _failures_json(results) == _failures(reference[1])
    library = Library(Settings(index_dir=index_dir), embedder=model)
    try:
        assert_same_index(library, reference[0])
    finally:
        library.close()
    again = subprocess.run(argv, env=cluster.env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    rerun = json.loads(again.stdout)["results"]
    assert {r["status"] for r in rerun} == {"already indexed", "failed"}
    assert _failures_json(rerun) == _failures(reference[1])


def _failures_json(results: list[dict]) -> set[tuple[str, str]]:
    return {(Path(r["source"]).name, r["reason"]) for r in results if r["status"] == "failed"}
