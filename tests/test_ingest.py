"""ingest.prepare without an index directory, Library.write as the one writer, and JSONL line ranges."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from qa_app import ingest
from qa_app.config import Settings
from qa_app.documents import jsonl_parts, load_files, load_jsonl_part, make_document
from qa_app.library import Library
from tests.articles import write_articles
from tests.fakes import HashingEmbedder


def test_prepare_needs_no_index_directory_and_is_what_add_stores(tmp_path: Path) -> None:
    settings = Settings(index_dir=tmp_path / "never-created")
    documents, failures = ingest.load(write_articles(tmp_path / "articles"), settings)
    prepared = ingest.prepare(documents, HashingEmbedder(), settings)
    assert failures == [] and not settings.index_dir.exists()
    for item in prepared:
        doc = item.document
        assert [(c.start, c.end) for c in item.chunks] and all(doc.text[c.start : c.end] for c in item.chunks)
        assert len(item.vectors) == len(item.chunks) and len(item.sentence_vectors) == len(item.sentences)
        assert np.allclose(item.title_vector, HashingEmbedder().embed([doc.title])[0])
    library = Library(Settings(index_dir=tmp_path / "index"), embedder=HashingEmbedder())
    try:
        assert [r.status for r in library.write(prepared)] == ["indexed"] * 3
        ids, matrix = library.store.vectors()
        stored = np.vstack([item.vectors for item in prepared]).astype(np.float16).astype(np.float32)
        assert np.array_equal(matrix, stored)  # chunk vectors are stored as float16
        assert set(library.indexes.current()[0].ids().tolist()) == set(ids.tolist())
        assert library.search("chess champion", k=1)[0].title == "Teenager wins national chess title"
    finally:
        library.close()


def test_write_reports_a_document_given_twice_or_already_stored_as_already_indexed(fake_library: Library,
                                                                                  tmp_path: Path) -> None:  # fmt: skip
    documents, _ = ingest.load(write_articles(tmp_path / "articles"), fake_library.settings)
    prepared = ingest.prepare(documents, fake_library.embedder, fake_library.settings)
    statuses = [r.status for r in fake_library.write([*prepared, prepared[0]])]
    assert statuses == ["indexed", "indexed", "indexed", "already indexed"]
    generation = fake_library.store.generation()
    assert [r.status for r in fake_library.write(prepared)] == ["already indexed"] * 3
    assert fake_library.store.generation() == generation


def test_prepare_groups_bound_each_write_and_report_progress(tmp_path: Path) -> None:
    settings = Settings(index_dir=tmp_path / "unused")
    documents, _ = ingest.load(write_articles(tmp_path / "articles"), settings)
    progress: list[ingest.Progress] = []
    groups = list(ingest.prepare_groups(documents, HashingEmbedder(), settings, progress.append, group_chunks=1))
    assert [len(group) for group in groups] == [1, 1, 1]
    assert progress[-1] == ingest.Progress(3, 3, 3, 3)
    assert [p.chunks_done for p in progress] == sorted(p.chunks_done for p in progress)


@pytest.mark.parametrize("part_bytes", [1, 300, 10_000])
def test_jsonl_line_ranges_load_as_the_whole_file_does(tmp_path: Path, part_bytes: int) -> None:
    lines = [json.dumps({"title": f"Article {n}", "body": f"Body {n} " * 20}, ensure_ascii=False) for n in range(6)]
    lines[2] = "{not json"
    lines.insert(4, "")
    path = tmp_path / "feed.jsonl"
    path.write_text("\ufeff" + "\n".join(lines) + "\n", encoding="utf-8")
    whole_docs, whole_failures = load_files([path], max_bytes=10**6)
    parts = jsonl_parts(path, part_bytes)
    assert parts[0][0] == 0 and parts[-1][1] == path.stat().st_size
    assert (len(parts) == 1) == (part_bytes >= path.stat().st_size)
    docs, failures = [], []
    for part in parts:
        loaded, bad = load_jsonl_part(path, *part)
        docs += loaded
        failures += bad
    assert docs == whole_docs
    assert failures == whole_failures and failures[0].source == "feed.jsonl line 3"


def test_a_library_that_read_the_empty_index_then_writes_searches_what_it_wrote(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Fresh install: the Chat page's warm-up searches the empty index, then the Library page uploads.
    library = Library(Settings(index_dir=tmp_path / "index"), embedder=HashingEmbedder())
    try:
        assert library.search("anything") == [] and library.counts() == (0, 0)
        with caplog.at_level(logging.WARNING, logger="qa_app.indexes"):
            results = library.add([make_document(title="Harbour", text="The harbour reopened. Boats came back.",
                                                 source="harbour.txt")])  # fmt: skip
        assert [r.status for r in results] == ["indexed"]
        assert caplog.records == []  # updated in place, not rebuilt from SQLite as if a file were stale
        vectors, lexical = library.indexes.current()
        assert vectors.dimension == HashingEmbedder().dimension and len(vectors) == len(lexical) == 1
        assert library.search("harbour boats", k=1)[0].title == "Harbour"
    finally:
        library.close()
    reopened = Library(Settings(index_dir=tmp_path / "index"), embedder=HashingEmbedder())
    try:
        assert reopened.search("harbour boats", k=1)[0].title == "Harbour"
    finally:
        reopened.close()
