"""The int8 ONNX embedding backend for real: onnxruntime's quantiser and runtime, the packaged MiniLM, in .venv."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from qa_app import onnx_model
from qa_app.config import DEFAULT_MODEL, Settings
from qa_app.embedder import SentenceTransformerEmbedder, onnx_export_dir, resolve_model_path
from qa_app.errors import ConfigError
from qa_app.ingest import chunk, embed_chunked, embedding_text
from qa_app.library import Library
from tests.articles import BRIDGE_ARTICLE, write_articles
from tests.articles import ENCODER_TEXTS as TEXTS
from tests.conftest import CORPUS, SEED_TITLE


def _files(cache: Path) -> tuple[Path, Path]:
    source = resolve_model_path(DEFAULT_MODEL)
    fp32 = onnx_export_dir(DEFAULT_MODEL, source, cache, onnx_model.FP32_KIND) / onnx_model.ONNX_FILE
    return fp32, onnx_export_dir(DEFAULT_MODEL, source, cache, onnx_model.INT8_KIND) / onnx_model.INT8_FILE


@pytest.fixture(scope="module")
def int8_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache with the int8 model built once for the module (export + quantisation, ~10 s)."""
    cache = tmp_path_factory.mktemp("int8-cache")
    stale = cache / f".{_files(cache)[1].parent.name}-killed-build"  # what a process killed while building leaves
    stale.mkdir(parents=True)
    source = Path(resolve_model_path(DEFAULT_MODEL))
    packaged = sorted(p.name for p in source.rglob("*"))
    embedder = SentenceTransformerEmbedder(backend="onnx", cache_dir=cache)
    assert embedder.embed(["warm up"]).shape == (1, 384)
    assert all(path.is_file() for path in _files(cache))
    assert not stale.exists() and not [p for p in cache.iterdir() if p.name.startswith(".")]
    assert sorted(p.name for p in source.rglob("*")) == packaged  # nothing written into the model package
    return cache


def test_int8_vectors_are_close_to_torch(int8_cache: Path, model: SentenceTransformerEmbedder) -> None:
    int8 = SentenceTransformerEmbedder(backend="onnx", cache_dir=int8_cache)
    vectors = int8.embed(TEXTS, batch_size=4)  # a padded batch of the longest texts, then the rest
    assert vectors.shape == (len(TEXTS), 384) and vectors.dtype == np.float32 and int8.dimension == 384
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cosine = np.sum(vectors * model.embed(TEXTS), axis=1)
    assert cosine.min() > 0.97 and cosine.mean() > 0.985, cosine
    # dynamic quantisation scales activations per batch, so a text's vector moves a little with its batch-mates
    one_by_one = np.vstack([int8.embed([text]) for text in TEXTS])
    assert np.sum(one_by_one * vectors, axis=1).min() > 0.97
    assert np.abs(int8.embed(TEXTS, batch_size=4) - vectors).max() < 1e-6  # the same batches: the same vectors
    assert int8.embed([]).shape == (0, 384)


def test_a_second_load_uses_the_cache_without_exporting(int8_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_build(*args, **kwargs):
        raise AssertionError("built again instead of loading the cache")

    monkeypatch.setattr(onnx_model, "export_fp32", no_build)
    monkeypatch.setattr(onnx_model, "quantise_int8", no_build)
    onnx_model.runtime.cache_clear()  # as a new process: the session is made from the file
    fp32, int8 = _files(int8_cache)
    modified = fp32.stat().st_mtime_ns, int8.stat().st_mtime_ns
    vectors = SentenceTransformerEmbedder(backend="onnx", cache_dir=int8_cache).embed(TEXTS[:2])
    assert vectors.shape == (2, 384)
    assert (fp32.stat().st_mtime_ns, int8.stat().st_mtime_ns) == modified


def test_the_int8_model_is_quantised_from_the_question_models_export(
    model: SentenceTransformerEmbedder, int8_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    fp32, int8 = _files(cache)
    onnx_model.export_fp32(model.torch_model(), fp32)  # what an `add` with the torch backend leaves

    def no_export(*args, **kwargs):
        raise AssertionError("exported again: the float32 export was there")

    monkeypatch.setattr(onnx_model, "export_fp32", no_export)
    vectors = SentenceTransformerEmbedder(backend="onnx", cache_dir=cache).embed(TEXTS)
    assert int8.is_file()
    reference = SentenceTransformerEmbedder(backend="onnx", cache_dir=int8_cache).embed(TEXTS)
    assert np.abs(vectors - reference).max() < 1e-5  # the same build from the same export


def test_a_damaged_cache_file_is_built_again(
    int8_cache: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = tmp_path / "cache"
    _, int8 = _files(cache)
    for source, target in zip(_files(int8_cache), _files(cache), strict=True):
        target.parent.mkdir(parents=True)
        target.write_bytes(source.read_bytes())
    int8.write_bytes(int8.read_bytes()[: int8.stat().st_size // 3])  # a truncated copy, as a full disk leaves
    onnx_model.runtime.cache_clear()
    with caplog.at_level(logging.WARNING, logger="qa_app.embedder"):
        vectors = SentenceTransformerEmbedder(backend="onnx", cache_dir=cache).embed(TEXTS)
    assert "did not load" in caplog.text and str(int8.parent) in caplog.text
    reference = SentenceTransformerEmbedder(backend="onnx", cache_dir=int8_cache).embed(TEXTS)
    assert np.abs(vectors - reference).max() < 1e-5
    assert int8.stat().st_size == _files(int8_cache)[1].stat().st_size


def test_an_unwritable_cache_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    settings = Settings(index_dir=tmp_path / "index", embedding_backend="onnx")
    library = Library(settings, embedder=SentenceTransformerEmbedder(backend="onnx", cache_dir=blocker / "onnx"))
    with pytest.raises(ConfigError, match=r"cannot write the ONNX export .* set QA_APP_ONNX_CACHE_DIR"):
        library.add([CORPUS])
    assert library.status().documents == 0
    library.close()


def test_a_model_the_backend_cannot_run_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="QA_APP_EMBEDDING_BACKEND=torch"):
        SentenceTransformerEmbedder(str(tmp_path), backend="onnx").embed(["text"])


def test_ingest_with_the_onnx_backend_indexes_and_answers(int8_cache: Path, tmp_path: Path) -> None:
    settings = Settings(index_dir=tmp_path / "index", embedding_backend="onnx")
    library = Library(settings, embedder=SentenceTransformerEmbedder(backend="onnx", cache_dir=int8_cache))
    results = library.add([CORPUS, *write_articles(tmp_path / "articles")])
    assert results and all(r.status == "indexed" for r in results)
    assert library.search("Did Mexico accept American troops?", k=1)[0].title == SEED_TITLE
    answer = library.ask("When does the bridge in Port Ellis close?")
    assert answer.answered and "June 2" in answer.text
    library.close()


def test_an_index_built_by_torch_grows_and_answers_with_int8(
    model: SentenceTransformerEmbedder, int8_cache: Path, tmp_path: Path
) -> None:
    """The two backends record the same model name (declared compatible): one index takes vectors from both."""
    settings = Settings(index_dir=tmp_path / "index")
    with_torch = Library(settings, embedder=model)
    with_torch.add([CORPUS])
    with_torch.close()
    with_int8 = Library(settings, embedder=SentenceTransformerEmbedder(backend="onnx", cache_dir=int8_cache))
    assert all(r.status == "indexed" for r in with_int8.add(write_articles(tmp_path / "articles")))
    assert with_int8.search("Did Mexico accept American troops?", k=1)[0].title == SEED_TITLE
    assert with_int8.ask("Who won the national chess championship?").answered
    with_int8.close()


def test_pooled_sentence_vectors_come_from_the_int8_chunk_pass(
    int8_cache: Path, model: SentenceTransformerEmbedder
) -> None:

    int8 = SentenceTransformerEmbedder(backend="onnx", cache_dir=int8_cache)
    chunked = chunk([BRIDGE_ARTICLE], Settings(index_dir=Path("unused")))
    pooled = embed_chunked(chunked, int8, 32, sentences_from="chunks")[0]
    texts = [embedding_text(BRIDGE_ARTICLE.title, BRIDGE_ARTICLE.text[c.start : c.end]) for c in pooled.chunks]
    np.testing.assert_allclose(pooled.vectors, int8.embed(texts), atol=1e-5)  # the same pass gives both
    np.testing.assert_allclose(np.linalg.norm(pooled.sentence_vectors, axis=1), 1.0, atol=1e-5)
    torch_pooled = embed_chunked(chunked, model, 32, sentences_from="chunks")[0]
    assert pooled.sentences == torch_pooled.sentences
    assert np.sum(pooled.sentence_vectors * torch_pooled.sentence_vectors, axis=1).min() > 0.97
    question = int8.embed(["How much will the bridge repairs cost?"])[0]
    assert int(np.argmax(pooled.sentence_vectors @ question)) == 1
