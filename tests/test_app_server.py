"""`qa-app serve`'s process: Streamlit starts, and the chat page's modules and models are loaded beside it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from qa_app import onnx_model
from qa_app.app import server
from qa_app.embedder import ONNX_CACHE_ENV, SentenceTransformerEmbedder
from qa_app.query_encoder import QueryEncoder
from tests.conftest import ROOT


def test_prewarm_loads_the_page_modules_and_the_question_model(
    model: SentenceTransformerEmbedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "onnx-cache"
    monkeypatch.setenv(ONNX_CACHE_ENV, str(cache))
    monkeypatch.setenv("QA_APP_ANSWER_READER", "0")
    QueryEncoder(model, cache_dir=cache).export()
    onnx_model.runtime.cache_clear()
    server.prewarm()
    assert onnx_model.runtime.cache_info().currsize == 1  # the page's Library finds the session loaded
    assert "qa_app.app.widgets" in sys.modules


def test_prewarm_without_an_export_leaves_the_question_model_to_the_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ONNX_CACHE_ENV, str(tmp_path / "empty-cache"))
    monkeypatch.setenv("QA_APP_ANSWER_READER", "0")
    onnx_model.runtime.cache_clear()
    server.prewarm()
    assert onnx_model.runtime.cache_info().currsize == 0
    assert not (tmp_path / "empty-cache").exists()  # no torch load, no export from the server's start


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_serve_starts_streamlit_through_the_prewarming_entry_point(tmp_path: Path) -> None:
    port = _free_port()
    command = [sys.executable, "-m", "qa_app", "serve", "--port", str(port), "--index-dir", str(tmp_path / "index")]
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                               env={**os.environ, "QA_APP_ANSWER_READER": "0"})  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        healthy = False
        while time.monotonic() < deadline and process.poll() is None and not healthy:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as response:
                    healthy = response.status == 200
            except OSError:
                time.sleep(0.2)
        assert healthy, (tmp_path / "server.log").read_text()
        cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes().split(b"\0")
        assert b"qa_app.app.server" in cmdline  # `serve` became this process (execve), not a child
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
        log.close()
    assert "pre-loading the chat page failed" not in (tmp_path / "server.log").read_text()
