"""Shared fixtures: every test gets its own index directory; the real model loads once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa_app.config import Settings
from qa_app.embedder import ONNX_CACHE_ENV, SentenceTransformerEmbedder
from qa_app.library import Library
from tests.fakes import HashingEmbedder

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
SEED_TITLE = "Mexican pres. rejects Trump’s proposal to deploy US troops in Mexico"


def pytest_configure(config: pytest.Config) -> None:
    """No Streamlit magic in AppTest runs, wherever pytest starts (see .streamlit/config.toml)."""
    import streamlit

    streamlit.config.set_option("runner.magicEnabled", False)


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ONNX export folder for the whole session (the question model is exported once, not into ~/.cache)."""
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(autouse=True)
def env_setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, onnx_cache: Path) -> None:
    """No test touches the real embeddings/ folder or the user's ONNX cache."""
    monkeypatch.setenv("QA_APP_INDEX_DIR", str(tmp_path / "default-index"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv(ONNX_CACHE_ENV, str(onnx_cache))


@pytest.fixture(scope="session")
def model() -> SentenceTransformerEmbedder:
    """The real packaged MiniLM in float32 (the same on every CPU), loaded once for the whole session."""
    embedder = SentenceTransformerEmbedder(precision="float32")
    assert embedder.dimension == 384
    return embedder


@pytest.fixture
def library(tmp_path: Path, model: SentenceTransformerEmbedder) -> Library:
    lib = Library(Settings(index_dir=tmp_path / "index"), embedder=model)
    yield lib
    lib.close()


@pytest.fixture
def fake_library(tmp_path: Path) -> Library:
    lib = Library(Settings(index_dir=tmp_path / "fake-index"), embedder=HashingEmbedder())
    yield lib
    lib.close()
