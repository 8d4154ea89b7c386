"""Sentence vectors pooled from the chunk's forward pass (`QA_APP_SENTENCE_VECTORS_FROM=chunks`), real model."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from qa_app.config import Settings, load_settings
from qa_app.documents import make_document
from qa_app.embedder import SentenceTransformerEmbedder
from qa_app.errors import ConfigError, IndexMismatchError
from qa_app.ingest import chunk, embed_chunked, embedding_text
from qa_app.library import Library
from qa_app.reader import packaged_judge
from qa_app.store import Store
from tests.articles import BRIDGE_ARTICLE as ARTICLE
from tests.fakes import HashingEmbedder

CHUNKS = Settings(index_dir=Path("unused"), sentence_vectors_from="chunks")


def _sentences(doc, prepared) -> list[str]:
    return [doc.text[s:e] for s, e in prepared.sentences]


def test_chunk_vectors_are_unchanged_and_sentences_carry_their_chunk(model: SentenceTransformerEmbedder) -> None:
    chunked = chunk([ARTICLE], CHUNKS)
    alone = embed_chunked(chunked, model, 32)[0]
    pooled = embed_chunked(chunked, model, 32, sentences_from="chunks")[0]
    assert pooled.sentences == alone.sentences and len(pooled.sentences) == 4
    texts = [embedding_text(ARTICLE.title, ARTICLE.text[c.start : c.end]) for c in pooled.chunks]
    np.testing.assert_allclose(pooled.vectors, model.embed(texts), atol=1e-5)  # one pass gives both
    np.testing.assert_allclose(pooled.title_vector, model.embed([ARTICLE.title])[0], atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(pooled.sentence_vectors, axis=1), 1.0, atol=1e-5)
    same = np.sum(pooled.sentence_vectors * alone.sentence_vectors, axis=1)
    assert np.all(same < 0.999) and np.all(same > 0.3)  # not the vectors of sentences alone, but like them
    question = model.embed(["How much will the bridge repairs cost?"])[0]
    assert int(np.argmax(pooled.sentence_vectors @ question)) == 1


def test_a_sentence_past_the_models_window_is_embedded_alone(model: SentenceTransformerEmbedder) -> None:
    filler = " ".join(f"The harbor board met on day {n} and discussed the schedule." for n in range(40))
    doc = make_document(title="Long minutes", text=f"{filler} The last sentence names the tide tables.", source="l")
    settings = replace(CHUNKS, chunk_words=800, max_chunk_words=1000)
    chunked = chunk([doc], settings)
    assert len(chunked[0][1]) == 1  # one chunk, far past 256 tokens
    pooled = embed_chunked(chunked, model, 32, sentences_from="chunks")[0]
    sentences = _sentences(doc, pooled)
    last = sentences.index("The last sentence names the tide tables.")
    np.testing.assert_allclose(pooled.sentence_vectors[last], model.embed([sentences[last]])[0], atol=1e-5)
    first_alone = model.embed([sentences[0]])[0]
    assert float(pooled.sentence_vectors[0] @ first_alone) < 0.999  # inside the window: pooled


def test_an_embedder_without_token_vectors_embeds_sentences_alone(caplog: pytest.LogCaptureFixture) -> None:
    chunked = chunk([ARTICLE], CHUNKS)
    fake = HashingEmbedder()
    with caplog.at_level(logging.WARNING, logger="qa_app"):
        pooled = embed_chunked(chunked, fake, 32, sentences_from="chunks")[0]
    assert any("gives no token vectors" in r.getMessage() for r in caplog.records)
    np.testing.assert_array_equal(pooled.sentence_vectors, embed_chunked(chunked, fake, 32)[0].sentence_vectors)


def test_a_library_indexing_with_pooled_sentences_answers_with_the_right_quote(
    tmp_path: Path, model: SentenceTransformerEmbedder
) -> None:
    library = Library(Settings(index_dir=tmp_path / "index", sentence_vectors_from="chunks"), embedder=model)
    progress = []
    library.add([ARTICLE], progress=progress.append)
    answer = library.ask("How much will the repairs of the harbor bridge cost?")
    assert answer.answered and "4.2 million dollars" in answer.citations[0].quote
    assert progress[-1].docs_done == 1 and progress[-1].chunks_done == progress[-1].chunks_total
    library.close()


def test_the_setting_takes_only_known_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_APP_SENTENCE_VECTORS_FROM", "chunks")
    assert load_settings().sentence_vectors_from == "chunks"
    monkeypatch.setenv("QA_APP_SENTENCE_VECTORS_FROM", "paragraphs")
    with pytest.raises(ConfigError, match="QA_APP_SENTENCE_VECTORS_FROM"):
        load_settings()


def test_the_index_keeps_the_way_its_sentence_vectors_were_made(
    tmp_path: Path, model: SentenceTransformerEmbedder
) -> None:
    pooled = Library(Settings(index_dir=tmp_path / "pooled", sentence_vectors_from="chunks"), embedder=model)
    pooled.add([ARTICLE])
    pooled.close()
    reopened = Library(Settings(index_dir=tmp_path / "pooled", sentence_vectors_from="sentences"), embedder=model)
    assert reopened.settings.sentence_vectors_from == "chunks"  # the index decides, not the setting
    assert reopened.composer.judge.scorer is packaged_judge(True, "chunks").scorer
    reopened.close()
    fake = HashingEmbedder()  # gives no token vectors: a new index embeds its sentences alone, whatever the setting
    fake_index = Library(Settings(index_dir=tmp_path / "fake", sentence_vectors_from="chunks"), embedder=fake)
    assert fake_index.settings.sentence_vectors_from == "sentences"
    fake_index.close()
    alone = Library(Settings(index_dir=tmp_path / "alone", sentence_vectors_from="sentences"), embedder=fake)
    assert alone.composer.judge.scorer is packaged_judge(True, "sentences").scorer
    assert alone.composer.judge.scorer is not packaged_judge(True, "chunks").scorer
    assert alone.composer.judge.threshold != packaged_judge(True, "chunks").threshold  # each its own blend
    alone.close()


def test_an_index_from_before_the_record_counts_as_sentences_embedded_alone(tmp_path: Path) -> None:
    store = Store(tmp_path / "library.sqlite")
    assert store.sentence_vectors_from("chunks") == "chunks"  # empty: the setting chooses
    store.check_sentence_vectors("sentences")
    assert store.meta("sentence_vectors_from") == "sentences"
    with pytest.raises(IndexMismatchError, match=r"made from sentences, not chunks.*QA_APP_SENTENCE_VECTORS_FROM"):
        store.check_sentence_vectors("chunks")
    store.close()
    library = Library(Settings(index_dir=tmp_path / "old"), embedder=HashingEmbedder())
    library.add([ARTICLE])
    with library._store._transaction() as db:  # as written before the record existed
        db.execute("DELETE FROM meta WHERE key = 'sentence_vectors_from'")
    library.close()
    old = Library(Settings(index_dir=tmp_path / "old", sentence_vectors_from="chunks"), embedder=HashingEmbedder())
    assert old.settings.sentence_vectors_from == "sentences"
    old.close()
