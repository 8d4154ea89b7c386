"""The embedding backend setting: torch (default) and the int8-quantised ONNX export."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from qa_app import embedder as embedder_module
from qa_app.config import DEFAULT_MODEL, Settings, load_settings
from qa_app.embedder import (
    ONNX_CACHE_ENV,
    SentenceTransformerEmbedder,
    onnx_cache_root,
    onnx_export_dir,
    onnx_file_name,
    quantization_config,
    resolve_model_path,
)
from qa_app.errors import ConfigError
from qa_app.library import Library
from tests.articles import write_articles
from tests.conftest import CORPUS, SEED_TITLE

SENTENCES = [
    "Mexico's president rejected the proposal to deploy American troops.",
    "The Harbor Street bridge will close for eight weeks of repairs.",
    "Farmers harvested a record 3.1 million tonnes of wheat this season.",
    "Who won the national chess championship?",
]


@pytest.mark.parametrize("backend", ["tensorrt", "", "openvino"])
def test_unknown_backend_names_the_choices(backend: str) -> None:
    with pytest.raises(ConfigError, match=r"unknown; set QA_APP_EMBEDDING_BACKEND to one of torch, onnx"):
        SentenceTransformerEmbedder(backend=backend)


def test_unknown_backend_from_the_environment_stops_the_library(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("QA_APP_EMBEDDING_BACKEND", "cuda")
    with pytest.raises(ConfigError, match="'cuda' is unknown"):
        Library(load_settings(index_dir=tmp_path / "index"))


@pytest.mark.parametrize("missing", [("onnxruntime",), ("optimum", "optimum.onnxruntime")])
def test_onnx_without_its_packages_says_what_to_install(missing: tuple[str, ...], tmp_path: Path, monkeypatch) -> None:
    for name in missing:
        monkeypatch.setitem(sys.modules, name, None)  # importing it now raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'qa-app\[onnx\]'"):
        SentenceTransformerEmbedder(backend="onnx")
    with pytest.raises(ConfigError, match="QA_APP_EMBEDDING_BACKEND=torch"):
        Library(Settings(index_dir=tmp_path / "index", embedding_backend="onnx"))


def test_backend_name_is_case_insensitive_and_torch_by_default() -> None:
    assert SentenceTransformerEmbedder().backend == "torch"
    assert SentenceTransformerEmbedder(backend=" Torch ").backend == "torch"


@pytest.mark.parametrize(
    ("machine", "flags", "expected"),
    [
        ("x86_64", "fpu sse2 avx avx2 avx512f avx512bw avx512_vnni", "avx512_vnni"),
        ("x86_64", "fpu sse2 avx avx2 avx512f avx512bw", "avx512"),
        ("x86_64", "fpu sse2 avx avx2", "avx2"),
        ("x86_64", None, "avx2"),
        ("aarch64", "fp asimd", "arm64"),
    ],
)
def test_quantization_config_follows_cpu_flags(machine: str, flags: str | None, expected: str, tmp_path: Path,
                                               monkeypatch) -> None:  # fmt: skip
    monkeypatch.setattr(embedder_module.platform, "machine", lambda: machine)
    cpuinfo = tmp_path / "cpuinfo"
    if flags is not None:
        cpuinfo.write_text(f"processor\t: 0\nmodel name\t: test\nflags\t\t: {flags}\n\nprocessor\t: 1\n")
    assert quantization_config(cpuinfo) == expected


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


@pytest.mark.onnx  # `make test-onnx`: needs the onnx extra, which has its own venv (README, "Faster encoder")
def test_onnx_backend_exports_once_offline_and_matches_torch(
    tmp_path: Path, model: SentenceTransformerEmbedder, monkeypatch
) -> None:
    import sentence_transformers

    cache = tmp_path / "onnx-cache"
    source = resolve_model_path(DEFAULT_MODEL)
    packaged_files = sorted(p.name for p in Path(source).rglob("*"))
    folder = onnx_export_dir(DEFAULT_MODEL, source, cache)
    stale = cache / f".{folder.name}-killed-export"  # what a process killed while exporting leaves behind
    stale.mkdir(parents=True)

    first = SentenceTransformerEmbedder(backend="onnx", cache_dir=cache)
    assert first.dimension == 384 and first.name == model.name
    quantised = folder / onnx_file_name(quantization_config())
    assert quantised.is_file()
    assert not (folder / "onnx" / "model.onnx").exists()  # the fp32 export is not kept
    assert not stale.exists() and sorted(p.name for p in cache.iterdir() if p.name.startswith(".")) == []
    assert sorted(p.name for p in Path(source).rglob("*")) == packaged_files  # nothing written into the package

    def no_export(*args, **kwargs):
        raise AssertionError("exported again instead of loading the cache")

    monkeypatch.setattr(sentence_transformers, "export_dynamic_quantized_onnx_model", no_export)
    modified = quantised.stat().st_mtime_ns
    second = SentenceTransformerEmbedder(backend="onnx", cache_dir=cache)
    vectors = second.embed(SENTENCES)
    assert quantised.stat().st_mtime_ns == modified
    assert vectors.shape == (len(SENTENCES), 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cosine = np.sum(vectors * model.embed(SENTENCES), axis=1)
    assert cosine.min() > 0.98, cosine


@pytest.mark.onnx  # `make test-onnx`: needs the onnx extra, which has its own venv (README, "Faster encoder")
def test_index_built_with_torch_answers_onnx_questions(tmp_path: Path, model: SentenceTransformerEmbedder) -> None:
    settings = Settings(index_dir=tmp_path / "index")
    with_torch = Library(settings, embedder=model)
    with_torch.add([CORPUS, *write_articles(tmp_path / "articles")])
    with_torch.close()
    with_onnx = Library(settings, embedder=SentenceTransformerEmbedder(backend="onnx", cache_dir=tmp_path / "cache"))
    assert with_onnx.search("Did Mexico accept American troops?", k=1)[0].title == SEED_TITLE
    assert with_onnx.ask("When does the bridge in Port Ellis close?").answered
    with_onnx.close()
