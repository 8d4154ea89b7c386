"""`qa-app index --ray` on a real Ray: a local instance, and a two-node cluster on this machine losing a node.

Each Ray job builds an index that must equal the one in-process indexing builds from the same files: the same
documents, chunk offsets and sentence spans, vectors within 1e-5, and the same answers.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from qa_app import distributed
from qa_app.config import Settings
from qa_app.distributed import RayOptions, index_with_ray
from qa_app.embedder import SentenceTransformerEmbedder
from qa_app.integrity import check_index
from qa_app.library import Library
from tests.articles import write_articles
from tests.conftest import CORPUS

RAY = Path(sys.executable).with_name("ray")
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
    """Same documents, chunk offsets, sentence spans; vectors within 1e-5; the same answers."""
    got, want = _index_facts(built), _index_facts(reference)
    assert got[0] == want[0]
    for found, expected in zip(got[1:], want[1:], strict=True):
        assert found.keys() == expected.keys()
        assert all(np.allclose(found[key], expected[key], atol=1e-5) for key in expected)
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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _node(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    """`ray start ARGS` in its own process group, so the test can kill the node and all it started."""
    quiet = subprocess.DEVNULL
    return subprocess.Popen([str(RAY), "start", *args], env=env, stdout=quiet, stderr=quiet, start_new_session=True)


def _stop(process: subprocess.Popen) -> None:
    """End a `ray start --block` node and everything it started (they share its process group)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def _wait_for_nodes(address: str, env: dict[str, str], count: int) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        status = subprocess.run([str(RAY), "status", "--address", address], env=env, capture_output=True, text=True)
        if status.returncode == 0 and status.stdout.split("Active:")[-1].split("Pending:")[0].count("node_") >= count:
            return
        time.sleep(1)
    raise AssertionError(f"the Ray cluster at {address} did not reach {count} nodes:\n{status.stdout}{status.stderr}")


@pytest.fixture
def cluster() -> Iterator[tuple[str, dict[str, str], subprocess.Popen]]:
    """`ray start --head` plus a second `ray start --address` node, 1 CPU each, with their own token and folder."""
    temp = Path(tempfile.mkdtemp(prefix="qa-ray-", dir="/tmp"))  # short: Ray's socket paths must fit 107 bytes
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32),
           "RAY_USAGE_STATS_ENABLED": "0"}  # fmt: skip
    env.pop("RAY_ADDRESS", None)
    port = _free_port()
    address = f"127.0.0.1:{port}"
    common = ["--num-cpus", "1", "--block", "--disable-usage-stats"]
    head = ["--head", "--port", str(port), "--node-ip-address", "127.0.0.1", "--include-dashboard", "false",
            "--temp-dir", str(temp)]  # fmt: skip
    nodes = [_node([*head, *common], env)]
    try:
        _wait_for_nodes(address, env, 1)
        nodes.append(_node(["--address", address, *common], env))
        _wait_for_nodes(address, env, 2)
        yield address, env, nodes[1]
    finally:
        for node in reversed(nodes):
            _stop(node)
        shutil.rmtree(temp, ignore_errors=True)


def test_two_node_cluster_losing_its_worker_node_mid_job(corpus: Path, reference, cluster, tmp_path: Path,
                                                         model: SentenceTransformerEmbedder) -> None:  # fmt: skip
    """Index through the cluster's address; kill the second node once the job runs. The job completes on the
    head node, or fails with one clear line and a consistent index; rerunning completes it either way."""
    address, env, worker = cluster
    index_dir = tmp_path / "cluster-index"
    argv = [str(QA_APP), "index", str(corpus), "--index-dir", str(index_dir), "--json", "--ray", address]
    job = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(12)  # Ray Data has started its read tasks and the embedding actors on both nodes
    _stop(worker)
    try:
        out, err = job.communicate(timeout=300)
    finally:
        job.kill()
    if job.returncode == 0:
        statuses = {r["status"] for r in json.loads(out)["results"]}
        assert statuses <= {"indexed", "failed"}
    else:
        assert err.strip().splitlines()[-1].startswith("error: "), err
        assert "Traceback" not in err
    library = Library(Settings(index_dir=index_dir), embedder=model)
    try:
        assert check_index(library).problems == []
        assert {d.doc_id for d in library.documents()} <= {d.doc_id for d in reference[0].documents()}
    finally:
        library.close()
    again = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    rerun = json.loads(again.stdout)["results"]
    assert _failures_json(rerun) == _failures(reference[1])
    library = Library(Settings(index_dir=index_dir), embedder=model)
    try:
        assert_same_index(library, reference[0])
    finally:
        library.close()


def _failures_json(results: list[dict]) -> set[tuple[str, str]]:
    return {(Path(r["source"]).name, r["reason"]) for r in results if r["status"] == "failed"}
