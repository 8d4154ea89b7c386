"""The ONNX query encoder: the same vectors as sentence-transformers, and questions answered without torch."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qa_app.config import Settings
from qa_app.embedder import ONNX_CACHE_ENV, SentenceTransformerEmbedder, resolve_model_path
from qa_app.library import Library
from qa_app.query_encoder import QueryEncoder, pipeline
from tests.conftest import CORPUS, ROOT

TEXTS = [
    "Who rejected the proposal to send US troops into Mexico?",
    "  padded question with spaces  ",
    "",
    "Ünïcödé, emoji 🙂 and «quotes» — in one line",
    "When?",
    " ".join(["A long paragraph that runs past the model's window of 256 tokens."] * 40),
]


@pytest.fixture(scope="module")
def exported(model: SentenceTransformerEmbedder, tmp_path_factory: pytest.TempPathFactory) -> QueryEncoder:
    """One export for the module (the real MiniLM, ~5 s)."""
    encoder = QueryEncoder(model, cache_dir=tmp_path_factory.mktemp("onnx-cache"))
    assert not encoder.export_path.exists()
    encoder.export()
    assert encoder.export_path.is_file()
    return encoder


def test_vectors_match_sentence_transformers(exported: QueryEncoder, model: SentenceTransformerEmbedder) -> None:
    ours = exported.embed(TEXTS, batch_size=4)  # a padded batch, then a shorter one
    reference = model.embed(TEXTS)
    assert ours.shape == reference.shape == (len(TEXTS), 384)
    assert ours.dtype == np.float32
    assert np.abs(ours - reference).max() < 1e-5
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    one_by_one = np.vstack([exported.embed([t]) for t in TEXTS])
    assert np.abs(one_by_one - ours).max() < 1e-5  # padding does not change a text's vector


def test_first_question_without_export_is_answered_by_torch_then_exported(
    model: SentenceTransformerEmbedder, exported: QueryEncoder, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    encoder = QueryEncoder(model, cache_dir=cache)
    vector = encoder.embed([TEXTS[0]])
    assert np.abs(vector - model.embed([TEXTS[0]])).max() < 1e-6
    assert encoder.export_path.is_file()
    assert [p.name for p in cache.iterdir() if p.name.startswith(".")] == []  # no half-written export left
    again = QueryEncoder(model, cache_dir=cache)
    assert np.abs(again.embed([TEXTS[0]]) - vector).max() < 1e-5


def test_export_failure_is_logged_and_torch_answers(
    model: SentenceTransformerEmbedder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    encoder = QueryEncoder(model, cache_dir=blocked / "cache")
    with caplog.at_level(logging.WARNING, logger="qa_app.query_encoder"):
        first = encoder.embed([TEXTS[0]])
        encoder.embed([TEXTS[1]])
    assert np.abs(first - model.embed([TEXTS[0]])).max() < 1e-6
    warnings = [r.getMessage() for r in caplog.records if "keep using torch" in r.getMessage()]
    assert len(warnings) == 1 and str(blocked) in warnings[0]  # tried once per process, not per question


def _model_copy(tmp_path: Path) -> Path:
    """The packaged model's configuration files (not its weights) in a folder of their own."""
    source = Path(resolve_model_path("all-MiniLM-L6-v2"))
    folder = tmp_path / "model"
    shutil.copytree(source, folder, ignore=shutil.ignore_patterns("*.safetensors", "*.bin"))
    return folder


def test_only_the_mean_pooling_pipeline_is_reproduced(tmp_path: Path) -> None:
    folder = _model_copy(tmp_path)
    assert pipeline(str(folder)) == (256, 384)
    pooling = folder / "1_Pooling" / "config.json"
    config = json.loads(pooling.read_text())
    pooling.write_text(json.dumps({**config, "pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True}))
    assert pipeline(str(folder)) is None
    pooling.write_text(json.dumps(config))
    modules = folder / "modules.json"
    modules.write_text(json.dumps(json.loads(modules.read_text())[:2]))  # no Normalize: vectors not unit length
    assert pipeline(str(folder)) is None
    assert pipeline(str(tmp_path / "missing")) is None
    assert pipeline("sentence-transformers/some-hub-name") is None


_ASK = """
import json, sys
from qa_app import Library
from qa_app.config import load_settings
answer = Library(load_settings()).ask(sys.argv[1])
print(json.dumps({"text": answer.text, "quotes": [c.quote for c in answer.citations],
                  "loaded": sorted(m for m in ("torch", "sentence_transformers", "transformers") if m in sys.modules)}))
"""


def test_a_fresh_process_answers_without_torch(
    model: SentenceTransformerEmbedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "onnx-cache"
    monkeypatch.setenv(ONNX_CACHE_ENV, str(cache))
    settings = Settings(index_dir=tmp_path / "index", answer_reader=False)
    library = Library(settings, embedder=model)
    library.add([CORPUS])  # the add exports the query model (torch is loaded)
    assert list(cache.glob("*-fp32-eager/model.onnx"))
    question = "Who rejected the proposal to send US troops into Mexico?"
    expected = library.ask(question)
    library.close()
    env = {**os.environ, "QA_APP_INDEX_DIR": str(settings.index_dir), "QA_APP_ANSWER_READER": "0"}
    run = subprocess.run([sys.executable, "-c", _ASK, question], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300, check=True)  # fmt: skip
    got = json.loads(run.stdout)
    assert got["loaded"] == []
    assert expected.answered and got["text"] == expected.text
    assert got["quotes"] == [c.quote for c in expected.citations]
