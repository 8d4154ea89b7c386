"""Sentence and title vectors stored as int8 (default) or float16 (QA_APP_SENTENCE_VECTORS=float16)."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from qa_app import vector_codec
from qa_app.config import DB_NAME, Settings, load_settings
from qa_app.embedder import SentenceTransformerEmbedder
from qa_app.errors import ConfigError
from qa_app.library import Library
from tests.articles import titled_document
from tests.conftest import CORPUS
from tests.fakes import HashingEmbedder

QUESTION = "Who rejected the proposal to send US troops into Mexico?"


def _unit(seed: int, dimension: int = 384) -> np.ndarray:
    vector = np.random.default_rng(seed).normal(size=dimension).astype(np.float32)
    return vector / np.linalg.norm(vector)


@pytest.mark.parametrize("seed", range(5))
def test_round_trips(seed: int) -> None:
    vector = _unit(seed)
    half = vector_codec.encode(vector)
    assert len(half) == 768 and np.array_equal(vector_codec.decode(half, 384), vector.astype(np.float16))
    small = vector_codec.encode(vector, "int8")
    assert len(small) == 386
    back = vector_codec.decode(small, 384)
    step = float(np.abs(vector).max()) / 127
    assert np.abs(back - vector).max() <= step * 0.51
    assert float(back @ vector / np.linalg.norm(back)) > 0.9999


def test_a_zero_vector_stays_zero() -> None:
    zero = np.zeros(384, dtype=np.float32)
    assert not vector_codec.decode(vector_codec.encode(zero, "int8"), 384).any()


def test_unknown_format_names_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_APP_SENTENCE_VECTORS", "int4")
    with pytest.raises(ConfigError, match=r"QA_APP_SENTENCE_VECTORS='int4' is unknown; use one of float16, int8"):
        Library(load_settings(index_dir=tmp_path / "index"), embedder=HashingEmbedder())


def _blob_lengths(index_dir: Path) -> set[int]:
    with sqlite3.connect(index_dir / DB_NAME) as db:
        rows = db.execute("SELECT LENGTH(vectors) / (LENGTH(spans) / 8) FROM sentence_vectors")  # bytes per vector
        return {row[0] for row in rows}


def test_one_index_reads_vectors_written_under_both_settings(tmp_path: Path) -> None:
    settings = Settings(index_dir=tmp_path / "index", sentence_vectors="float16")
    first = titled_document("Harbour reopens", "The harbour reopened on Monday. Ferries sail again at dawn.")
    second = titled_document("Bridge closes", "The old bridge closed for repairs. Traffic goes by the ring road.")
    with_float16 = Library(settings, embedder=HashingEmbedder())
    with_float16.add([first])
    with_float16.close()
    with_int8 = Library(replace(settings, sentence_vectors="int8"), embedder=HashingEmbedder())
    with_int8.add([second])
    assert _blob_lengths(settings.index_dir) == {2 * 64, 64 + 2}
    sentences, titles = with_int8.store.sentence_vectors([first.doc_id, second.doc_id])
    assert {key[0] for key in sentences} == set(titles) == {first.doc_id, second.doc_id}
    embedder = HashingEmbedder()
    for (doc_id, start, end), vector in sentences.items():
        text = with_int8.document(doc_id).text[start:end]
        expected = embedder.embed([text])[0]
        assert vector.shape == (64,) and float(vector @ expected) > 0.999 * float(np.linalg.norm(vector))
    with_int8.close()


def test_int8_index_answers_as_float16_does(model: SentenceTransformerEmbedder, tmp_path: Path) -> None:
    answers = {}
    for fmt in vector_codec.SENTENCE_FORMATS:
        settings = Settings(index_dir=tmp_path / fmt, sentence_vectors=fmt, answer_reader=False)
        library = Library(settings, embedder=model)
        library.add([CORPUS])
        answers[fmt] = library.ask(QUESTION)
        assert _blob_lengths(settings.index_dir) == {768 if fmt == "float16" else 386}
        library.close()
    assert answers["int8"].answered and answers["float16"].answered
    assert [c.quote for c in answers["int8"].citations] == [c.quote for c in answers["float16"].citations]


def test_a_new_index_stores_int8_sentence_and_title_vectors_by_default(tmp_path: Path) -> None:
    library = Library(load_settings(index_dir=tmp_path / "index"), embedder=HashingEmbedder())
    library.add([titled_document("Harbour reopens", "The harbour reopened on Monday. Ferries sail again at dawn.")])
    assert _blob_lengths(library.index_dir) == {64 + 2}
    with sqlite3.connect(library.index_dir / DB_NAME) as db:
        assert {row[0] for row in db.execute("SELECT LENGTH(title_vector) FROM documents")} == {64 + 2}
    library.close()


@pytest.mark.parametrize("fmt", vector_codec.SENTENCE_FORMATS)
def test_vectors_stored_one_after_another_read_back_as_one_by_one(fmt: str) -> None:
    vectors = np.random.default_rng(3).standard_normal((5, 384)).astype(np.float32)
    blob = vector_codec.encode_many(vectors, fmt)
    one_by_one = np.stack([vector_codec.decode(vector_codec.encode(v, fmt), 384) for v in vectors])
    assert np.array_equal(vector_codec.decode_many(blob, 5, 384), one_by_one)
    assert vector_codec.decode_many(b"", 0, 384).shape == (0, 384)
    with pytest.raises(ValueError, match="do not hold 2 vectors"):
        vector_codec.decode_many(blob[:-1], 2, 384)
    spans = [(0, 31), (32, 60), (61, 70000)]
    assert vector_codec.unpack_spans(vector_codec.pack_spans(spans)) == spans
