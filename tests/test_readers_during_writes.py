"""A reader beside a writer that has committed but not yet saved its FAISS and BM25 files.

Before, each reader rebuilt both indexes from SQLite in that window (once per commit and per reader): under a
continuously committing writer every answer paid a rebuild. Now it keeps serving the newest generation whose
files are saved, and moves on when the writer's files are there.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest
from filelock import Timeout

from qa_app.config import Settings
from qa_app.documents import make_document
from qa_app.errors import ReadOnlyIndexError
from qa_app.index_files import lexical_file, vector_file
from qa_app.indexes import DerivedIndexes
from qa_app.lexical import LexicalIndex
from qa_app.library import Library
from qa_app.writelock import WriteLock
from tests.fakes import HashingEmbedder

HARBOR = make_document(title="Harbor works", text="The harbor council voted to rebuild the pier. Work starts in May.",
                       source="harbor.txt")  # fmt: skip
ORCHARD = make_document(title="Orchard harvest", text="The orchards picked nine tonnes of apples. Cider sales rose.",
                        source="orchard.txt")  # fmt: skip


def _rebuilds(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("built a ")]


def test_a_reader_serves_the_saved_generation_while_a_writer_saves_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(index_dir=tmp_path / "index")
    writer, reader = Library(settings, embedder=HashingEmbedder()), Library(settings, embedder=HashingEmbedder())
    writer.add([HARBOR])
    saved = writer.store.generation()
    assert [p.title for p in reader.search("harbor pier council")] == ["Harbor works"]

    committed, go_on = threading.Event(), threading.Event()
    real_apply = DerivedIndexes.apply

    def apply_later(self: DerivedIndexes, change: object) -> None:  # the window between COMMIT and the saves
        committed.set()
        assert go_on.wait(30)
        real_apply(self, change)

    monkeypatch.setattr(DerivedIndexes, "apply", apply_later)
    adding = threading.Thread(target=writer.add, args=([ORCHARD],))
    adding.start()
    try:
        assert committed.wait(30)
        assert writer.store.generation() > saved and not vector_file(settings.index_dir, saved + 1).exists()
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="qa_app"):
            served = reader.search("orchards apples harbor pier")
        assert _rebuilds(caplog) == []  # before: "built a flat vector index over 4 chunks", once per reader
        assert [p.title for p in served] == ["Harbor works"]  # the saved generation: the orchard is not in it yet
    finally:
        go_on.set()
        adding.join(30)
    assert not adding.is_alive()
    new = writer.store.generation()
    assert vector_file(settings.index_dir, new).exists() and lexical_file(settings.index_dir, new).exists()
    assert not vector_file(settings.index_dir, saved).exists()  # older files went once both new ones were saved
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="qa_app"):
        assert {p.title for p in reader.search("orchards apples harbor pier")} == {"Harbor works", "Orchard harvest"}
    assert _rebuilds(caplog) == []  # loaded from the writer's files
    writer.close()
    reader.close()


def test_without_a_writer_missing_files_are_still_rebuilt(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(index_dir=tmp_path / "index")
    writer = Library(settings, embedder=HashingEmbedder())
    writer.add([HARBOR])
    reader = Library(settings, embedder=HashingEmbedder())
    reader.search("harbor")
    writer.add([ORCHARD])
    generation = writer.store.generation()
    vector_file(settings.index_dir, generation).unlink()
    with caplog.at_level(logging.INFO, logger="qa_app"):
        assert "Orchard harvest" in {p.title for p in reader.search("orchards apples")}
    assert len(_rebuilds(caplog)) == 1
    writer.close()
    reader.close()


def test_loading_a_generation_reuses_the_main_bm25_segment_it_names(tmp_path: Path) -> None:
    settings = Settings(index_dir=tmp_path / "index")
    library = Library(settings, embedder=HashingEmbedder())
    library.add([HARBOR])
    first = LexicalIndex.load(lexical_file(settings.index_dir, library.store.generation()))
    library.add([ORCHARD])  # a small write: the delta grows, the main segment stays
    path = lexical_file(settings.index_dir, library.store.generation())
    again = LexicalIndex.load(path, first)
    assert again.main_name == first.main_name and again.main is first.main
    assert len(again) == library.store.counts()[1] > len(first)
    fresh = LexicalIndex.load(path)
    assert fresh.main is not first.main and sorted(fresh.ids.tolist()) == sorted(again.ids.tolist())
    library.close()


def test_a_busy_write_lock_is_a_timeout_not_a_read_only_directory(tmp_path: Path) -> None:
    """filelock's Timeout is an OSError: it was reported as "the index directory is read-only"."""
    held, probe = WriteLock(tmp_path, 1), WriteLock(tmp_path, 1)
    caught: list[BaseException] = []

    def try_it() -> None:
        try:
            with probe.acquire(timeout=0):
                pass
        except BaseException as exc:  # what was raised is the point
            caught.append(exc)

    with held:
        other = threading.Thread(target=try_it)
        other.start()
        other.join(10)
    assert len(caught) == 1 and isinstance(caught[0], Timeout) and not isinstance(caught[0], ReadOnlyIndexError)
