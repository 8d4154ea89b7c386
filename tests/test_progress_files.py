"""Files count as they finish embedding (all their vectors made), then as they are saved (#12)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from qa_app import ingest
from qa_app.app.uploads import progress_text
from qa_app.config import Settings
from qa_app.documents import make_document
from qa_app.library import Library, Progress
from tests.fakes import HashingEmbedder

TOPICS = ("harbour ferry", "tram depot", "night market")


def _article(topic: str, sentences: int = 30) -> str:
    return " ".join(f"Officials said the {topic} plan reached stage {n} after a vote of {n + 3} members."
                    for n in range(sentences))  # fmt: skip


def _write_files(folder: Path) -> list[Path]:
    paths = []
    for n, topic in enumerate(TOPICS):
        path = folder / f"{n}-{topic.replace(' ', '-')}.md"
        path.write_text(f"# The {topic} plan\n\n{_article(topic)}\n", encoding="utf-8")
        paths.append(path)
    return paths


def test_three_small_files_count_as_embedded_one_by_one_before_their_commit(library: Library, tmp_path: Path) -> None:
    paths = _write_files(tmp_path)
    progress: list[Progress] = []
    results = library.add(paths, progress=progress.append)
    assert [r.status for r in results] == ["indexed"] * 3
    assert sum(r.chunks for r in results) < ingest.WRITE_GROUP_CHUNKS  # one write group: one commit at the end
    before_end = progress[:-1]
    embedded = [p.docs_embedded for p in before_end]
    assert 1 in embedded and 2 in embedded, embedded  # used to jump from 0/3 to 3/3 at the commit
    assert embedded == sorted(embedded) and all(p.docs_done == 0 for p in before_end)
    first = next(p for p in before_end if p.docs_embedded == 1)
    assert first.chunks_done < first.chunks_total
    assert "1/3 files embedded, 0/3 saved" in progress_text(first, 2.0)
    assert progress[-1] == Progress(3, 3, first.chunks_total, first.chunks_total)
    assert progress[-1].docs_embedded == 3 and "3/3 files saved" in progress_text(progress[-1], 2.0)
    passages = library.search("tram depot plan stage 7", k=1)
    assert passages and "tram depot" in passages[0].text


def test_batches_are_full_of_one_kind_and_documents_finish_in_order(tmp_path: Path) -> None:
    batches: list[list[str]] = []

    class Recording(HashingEmbedder):
        def embed(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
            batches.append(list(texts))
            return super().embed(texts, batch_size)

    settings = Settings(index_dir=tmp_path / "unused", chunk_words=40, max_chunk_words=60, embed_batch_size=8)
    documents = [make_document(title=f"T{n}", text=_article(topic, 12 + 9 * n), source=f"{n}.txt")
                 for n, topic in enumerate(TOPICS)]  # fmt: skip
    reports: list[tuple[float, int]] = []
    prepared = ingest.prepare(documents, Recording(), settings, lambda share, docs: reports.append((share, docs)))
    kinds = [{"\n" in text for text in batch} for batch in batches]  # chunk texts are "title\nchunk"
    assert all(len(kind) == 1 for kind in kinds)
    chunk_batches = [b for b, k in zip(batches, kinds, strict=True) if k == {True}]
    other_batches = [b for b, k in zip(batches, kinds, strict=True) if k == {False}]
    assert all(len(b) == 8 for b in chunk_batches[:-1]) and all(len(b) == 8 for b in other_batches[:-1])
    assert [docs for _, docs in reports] == sorted(docs for _, docs in reports)
    assert {1, 2} <= {docs for _, docs in reports[:-1]} and reports[-1] == (1.0, 3)
    check = HashingEmbedder()  # every vector is its own text's, wherever its batch put it
    for item in prepared:
        doc = item.document
        texts = [ingest.embedding_text(doc.title, doc.text[c.start : c.end]) for c in item.chunks]
        assert np.allclose(item.vectors, check.embed(texts))
        assert np.allclose(item.sentence_vectors, check.embed([doc.text[a:b] for a, b in item.sentences]))
        assert np.allclose(item.title_vector, check.embed([doc.title])[0])


def test_no_documents_embed_nothing(tmp_path: Path) -> None:  # a Ray batch of only stored documents or failures
    assert ingest.prepare([], HashingEmbedder(), Settings(index_dir=tmp_path / "unused")) == []


def test_files_text_says_embedded_and_saved() -> None:
    assert Progress(1, 3, 4, 9, docs_embedded=2).files_text() == "2/3 files embedded, 1/3 saved"
    assert Progress(2, 3, 4, 9, docs_embedded=2).files_text() == "2/3 files saved"
    assert Progress(1, 1, 4, 4).files_text() == "1/1 file saved"
    assert Progress(4, 0, 9, 0, docs_embedded=6).files_text() == "6 files embedded, 4 saved"  # totals not known
