"""The embedding backend setting: torch and the int8-quantised ONNX export (run for real in test_onnx_int8.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from qa_app.config import Settings, load_settings
from qa_app.embedder import ONNX_CACHE_ENV, SentenceTransformerEmbedder, onnx_cache_root, onnx_export_dir
from qa_app.errors import ConfigError
from qa_app.library import Library


@pytest.mark.parametrize("backend", ["tensorrt", "", "openvino"])
def test_unknown_backend_names_the_choices(backend: str) -> None:
    with pytest.raises(ConfigError, match=r"unknown; set QA_APP_EMBEDDING_BACKEND to one of torch, onnx"):
        SentenceTransformerEmbedder(backend=backend)


def test_unknown_backend_from_the_environment_stops_the_library(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("QA_APP_EMBEDDING_BACKEND", "cuda")
    with pytest.raises(ConfigError, match="'cuda' is unknown"):
        Library(load_settings(index_dir=tmp_path / "index"))


@pytest.mark.parametrize("missing", [("onnxruntime",), ("tokenizers",), ("onnx",)])
def test_onnx_without_its_packages_says_what_to_install(missing: tuple[str, ...], tmp_path: Path, monkeypatch) -> None:
    for name in missing:
        monkeypatch.setitem(sys.modules, name, None)  # importing it now raises ImportError
    with pytest.raises(ConfigError, match=rf"needs {missing[0]}: reinstall qa-app"):
        SentenceTransformerEmbedder(backend="onnx")
    with pytest.raises(ConfigError, match="QA_APP_EMBEDDING_BACKEND=torch"):
        Library(Settings(index_dir=tmp_path / "index", embedding_backend="onnx"))


def test_backend_name_is_case_insensitive_and_torch_by_default() -> None:
    assert SentenceTransformerEmbedder().backend == "torch"
    assert SentenceTransformerEmbedder(backend=" Torch ").backend == "torch"


def test_cache_root_from_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(ONNX_CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert onnx_cache_root() == tmp_path / "xdg" / "qa_app" / "onnx"
    monkeypatch.setenv(ONNX_CACHE_ENV, str(tmp_path / "mine"))
    assert onnx_cache_root() == tmp_path / "mine"


def test_export_folder_is_named_for_the_model_and_its_files(tmp_path: Path) -> None:
    one, two = tmp_path / "one" / "model", tmp_path / "two" / "model"
    for folder in (one, two):
        folder.mkdir(parents=True)
        (folder / "config.json").write_text("{}")
    root = tmp_path / "cache"
    first = onnx_export_dir(str(one), str(one), root)
    assert first.parent == root and first.name.startswith("model-") and first.name.endswith("-int8")
    assert onnx_export_dir(str(one), str(one), root) == first
    assert onnx_export_dir(str(two), str(two), root) != first  # same folder name, other model
    assert onnx_export_dir("sentence-transformers/all-MiniLM-L6-v2", "x", root).name.startswith("all-MiniLM-L6-v2-")
