"""Tokenizing for BM25 prints nothing and builds no progress bar (bm25s makes three per call unless told not to)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from qa_app import lexical
from tests.conftest import ROOT

TEXTS = ["Who rejected the proposal to send US troops into Mexico?", "The council met on Tuesday."]


def test_tokenize_writes_nothing_to_the_terminal(capfd: pytest.CaptureFixture[str]) -> None:
    assert lexical.tokenize(TEXTS)[1] == ["council", "met", "tuesday"]
    lexical.terms("storm damage")
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_a_fresh_process_tokenizes_and_searches_without_tqdm() -> None:
    """tqdm is never imported, so no bar (not even a disabled one) can be built on the question path."""
    code = (
        "import json, sys\n"
        "import numpy as np\n"
        "from qa_app import lexical\n"
        f"index = lexical.LexicalIndex.build(np.arange(2), {TEXTS!r})\n"
        "scores, ids = index.search('troops Mexico', 5)\n"
        "print(json.dumps({'ids': ids.tolist(), 'tqdm': sorted(m for m in sys.modules if m.startswith('tqdm'))}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DISABLE_TQDM"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    result = json.loads(done.stdout)
    assert result == {"ids": [0], "tqdm": []}
