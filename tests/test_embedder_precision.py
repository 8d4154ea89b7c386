"""The torch backend in bfloat16 (`QA_APP_EMBEDDING_PRECISION`), real model: vectors like float32's, on any CPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qa_app import embedder as embedder_module
from qa_app.config import Settings, load_settings
from qa_app.embedder import SentenceTransformerEmbedder, resolve_precision
from qa_app.errors import ConfigError
from qa_app.ingest import chunk, embed_chunked
from qa_app.library import Library
from qa_app.onnx_model import export_fp32
from qa_app.query_encoder import QueryEncoder
from tests.articles import BRIDGE_ARTICLE
from tests.articles import ENCODER_TEXTS as TEXTS


@pytest.fixture(scope="module")
def bfloat16() -> SentenceTransformerEmbedder:
    embedder = SentenceTransformerEmbedder(precision="bfloat16")
    assert embedder.precision == "bfloat16" and embedder.dimension == 384
    return embedder


def test_bfloat16_vectors_are_float32_unit_vectors_close_to_float32s(
    bfloat16: SentenceTransformerEmbedder, model: SentenceTransformerEmbedder
) -> None:
    vectors = bfloat16.embed(TEXTS, batch_size=2)
    assert vectors.dtype == np.float32 and vectors.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)  # pooled and normalised in float32
    cosine = np.sum(vectors * model.embed(TEXTS, batch_size=2), axis=1)
    assert cosine.min() > 0.999, cosine
    assert np.abs(vectors - model.embed(TEXTS, batch_size=2)).max() > 1e-6  # really computed in bfloat16


def test_pooled_sentence_vectors_in_bfloat16(bfloat16: SentenceTransformerEmbedder, model) -> None:
    chunked = chunk([BRIDGE_ARTICLE], Settings(index_dir=Path("unused")))
    ours = embed_chunked(chunked, bfloat16, 32, sentences_from="chunks")[0]
    reference = embed_chunked(chunked, model, 32, sentences_from="chunks")[0]
    assert ours.sentences == reference.sentences
    assert np.sum(ours.sentence_vectors * reference.sentence_vectors, axis=1).min() > 0.999
    assert np.sum(ours.vectors * reference.vectors, axis=1).min() > 0.999


def test_the_question_export_of_a_bfloat16_embedder_is_float32(
    bfloat16: SentenceTransformerEmbedder, model: SentenceTransformerEmbedder, tmp_path: Path
) -> None:
    encoder = QueryEncoder(bfloat16, cache_dir=tmp_path / "cache")
    encoder.export()
    assert np.abs(encoder.embed(TEXTS) - model.embed(TEXTS)).max() < 1e-5  # float32's vectors, not bfloat16's
    assert str(next(bfloat16._loaded().parameters()).dtype) == "torch.bfloat16"  # the embedder still bfloat16
    with pytest.raises(ValueError, match="needs a float32 model"):
        export_fp32(bfloat16._loaded(), tmp_path / "rounded" / "model.onnx")


def test_auto_is_bfloat16_only_where_the_cpu_computes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedder_module, "native_bfloat16", lambda: True)
    assert resolve_precision("auto") == "bfloat16" and SentenceTransformerEmbedder().precision == "bfloat16"
    monkeypatch.setattr(embedder_module, "native_bfloat16", lambda: False)
    assert resolve_precision("auto") == "float32" and SentenceTransformerEmbedder().precision == "float32"
    assert resolve_precision(" BFloat16 ") == "bfloat16"
    assert SentenceTransformerEmbedder(backend="onnx", precision="auto").precision == "int8"


def test_an_unknown_precision_names_the_choices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="QA_APP_EMBEDDING_PRECISION to one of auto, float32, bfloat16"):
        SentenceTransformerEmbedder(precision="fp8")
    monkeypatch.setenv("QA_APP_EMBEDDING_PRECISION", "half")
    with pytest.raises(ConfigError, match="'half' is unknown"):
        Library(load_settings(index_dir=tmp_path / "index"))


def test_a_library_indexes_and_answers_in_bfloat16(bfloat16: SentenceTransformerEmbedder, tmp_path: Path) -> None:
    library = Library(Settings(index_dir=tmp_path / "index"), embedder=bfloat16)
    library.add([BRIDGE_ARTICLE])
    answer = library.ask("How much will the repairs of the harbor bridge cost?")
    assert answer.answered and "4.2 million dollars" in answer.citations[0].quote
    library.close()
