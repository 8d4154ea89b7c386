"""The registry of derived index files (index_files.py): what `qa-app check` counts as an index file."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from qa_app.config import DB_NAME
from qa_app.index_files import is_index_file, lexical_file, main_segment_name, temporary_files, vector_file
from qa_app.lexical import LexicalIndex


def test_names_of_each_kind_are_index_files_and_nothing_else_is(tmp_path: Path) -> None:
    names = [vector_file(tmp_path, 7).name, lexical_file(tmp_path, 7).name, main_segment_name(3)]
    assert names == ["vectors-7.faiss", "bm25-7", "bm25main-3"]
    assert all(is_index_file(n) for n in [*names, ".vectors-8.faiss.tmp", ".bm25-8.tmp"])
    assert not any(is_index_file(n) for n in (DB_NAME, f"{DB_NAME}-wal", "notes.txt", ".write.lock"))


def test_temporary_files_are_those_of_killed_saves(tmp_path: Path) -> None:
    (tmp_path / ".vectors-2.faiss.tmp").write_bytes(b"")
    (tmp_path / ".bm25-2.tmp").mkdir()
    vector_file(tmp_path, 1).write_bytes(b"")
    assert sorted(p.name for p in temporary_files(tmp_path)) == [".bm25-2.tmp", ".vectors-2.faiss.tmp"]


def test_a_saved_bm25_state_names_its_main_segment(tmp_path: Path) -> None:
    index = LexicalIndex.build(np.arange(2), ["Harbor bridge closes", "Wheat harvest record"],
                               main_name=main_segment_name(4))  # fmt: skip
    index.save(tmp_path, lexical_file(tmp_path, 4).name)
    assert LexicalIndex.named_main(lexical_file(tmp_path, 4)) == "bm25main-4"
    assert (tmp_path / "bm25main-4").is_dir()
    assert LexicalIndex.named_main(lexical_file(tmp_path, 5)) == ""  # no such state
