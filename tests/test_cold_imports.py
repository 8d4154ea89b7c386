"""What a cold `qa-app ask` and the web app's first page import: nothing that only indexing or fetching needs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

# loaders, fetching and splitting text: used when indexing, never to answer from an index
INDEXING_ONLY = ("trafilatura", "pypdf", "httpx", "feedparser", "pysbd", "tqdm", "torch", "sentence_transformers")


def _imported_after(statement: str) -> list[str]:
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(set(m.split('.')[0] for m in sys.modules))))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.parametrize(
    "statement",
    [
        "import qa_app.cli",
        "from qa_app.app import state, widgets, render, export, answer_view, cards, article_view, page_assets",
    ],
)
def test_the_answer_path_imports_no_indexing_only_library(statement: str) -> None:
    imported = _imported_after(statement)
    assert "qa_app" in imported and "numpy" in imported  # the probe saw the package load
    assert [name for name in INDEXING_ONLY if name in imported] == []


def test_the_loaders_still_import_what_they_use_when_called(tmp_path) -> None:
    page = tmp_path / "page.html"
    page.write_text("<html><head><title>Harbour</title></head><body><p>The harbour reopened on Monday after "
                    "the storm, and ferries sail again.</p></body></html>")  # fmt: skip
    code = (
        "import json, sys\nfrom pathlib import Path\nfrom qa_app.documents import load_file\n"
        f"doc = load_file(Path({str(page)!r}), max_bytes=1_000_000)\n"
        "print(json.dumps([doc[0].title, 'trafilatura' in sys.modules]))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == ["Harbour", True]
