"""A document's identity for replacement: files with one base name in two folders never replace each other."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from qa_app.config import Settings
from qa_app.library import Library
from tests.fakes import HashingEmbedder
from tests.old_schema import sentences_per_row


def _write(folder: Path, report: str, records: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.txt").write_text(f"Report\n\n{report}", encoding="utf-8")
    (folder / "feed.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    return folder


def _record(title: str, body: str, **extra: str) -> dict:
    return {"title": title, "body": body, **extra}


def _titles(library: Library) -> list[str]:
    return sorted(d.title for d in library.documents())


def test_same_base_names_in_two_folders_are_two_articles(fake_library: Library, tmp_path: Path):
    d1 = _write(
        tmp_path / "s" / "d1",
        "The council met on Monday about the budget.",
        [_record("Flood", "The river rose two metres."), _record("Wages", "Wages rose 3 percent.")],
    )
    d2 = _write(tmp_path / "s" / "d2", "The school board met on Tuesday about buses.",
                [_record("Fire", "A barn burned down."), _record("Tram", "The tram opens in May.")])  # fmt: skip
    assert {r.status for r in fake_library.add([d1])} == {"indexed"}
    second = fake_library.add([d2])
    assert {r.status for r in second} == {"indexed"}, [(r.source, r.status) for r in second]
    assert fake_library.counts()[0] == 6
    # editing one of them later replaces that one only
    (d2 / "report.txt").write_text("Report\n\nThe school board met on Tuesday about buses and bikes.")
    edited = fake_library.add([tmp_path / "s"])
    assert sorted(r.status for r in edited) == ["already indexed"] * 5 + ["replaced"]
    assert fake_library.counts()[0] == 6
    texts = [fake_library.document(d.doc_id).text for d in fake_library.documents() if d.title == "Report"]
    assert sorted(texts) == ["The council met on Monday about the budget.",
                             "The school board met on Tuesday about buses and bikes."]  # fmt: skip


def test_records_are_known_by_url_or_id_wherever_they_are(fake_library: Library, tmp_path: Path):
    one = _write(tmp_path / "one", "First report.", [_record("Flood", "The river rose.", url="https://x.test/a"),
                                                      _record("Wages", "Wages rose.", id="w-1")])  # fmt: skip
    fake_library.add([one])
    moved = _write(tmp_path / "two", "Second report.",
                   [_record("Flood", "The river rose three metres.", url="https://x.test/a"),
                    _record("Wages", "Wages rose 4 percent.", id="w-1")])  # fmt: skip
    statuses = {r.source: r.status for r in fake_library.add([moved])}
    assert statuses["https://x.test/a"] == "replaced" and statuses["feed.jsonl line 2"] == "replaced"
    assert _titles(fake_library) == ["Flood", "Report", "Report", "Wages"]


def test_uploads_replace_uploads_of_the_same_name_only(fake_library: Library, tmp_path: Path):
    cli = _write(tmp_path / "cli", "Report from disk.", [_record("Flood", "The river rose.")])
    fake_library.add([cli / "report.txt"])
    upload = _write(tmp_path / "tmp-upload-1", "Uploaded report.", [_record("Flood", "x")])
    assert fake_library.add([upload / "report.txt"], uploads=True)[0].status == "indexed"
    again = _write(tmp_path / "tmp-upload-2", "Uploaded report, corrected.", [_record("Flood", "x")])
    assert fake_library.add([again / "report.txt"], uploads=True)[0].status == "replaced"
    texts = sorted(fake_library.document(d.doc_id).text for d in fake_library.documents())
    assert texts == ["Report from disk.", "Uploaded report, corrected."]


def test_an_index_from_before_keeps_its_documents_and_their_old_identity(tmp_path: Path):
    library = Library(Settings(index_dir=tmp_path / "index"), embedder=HashingEmbedder())
    library.add([_write(tmp_path / "d", "Old report.", [_record("Flood", "The river rose.")])])
    library.close()
    db = sqlite3.connect(tmp_path / "index" / "library.sqlite")
    with db:  # back to schema 3: no identity column, as indexes made before this version
        sentences_per_row(db)  # and per-sentence rows (schema 4)
        db.execute("DROP INDEX documents_identity")
        db.execute("ALTER TABLE documents DROP COLUMN identity")
        db.execute("PRAGMA user_version = 3")
    db.close()
    reopened = Library(Settings(index_dir=tmp_path / "index"), embedder=HashingEmbedder())
    assert reopened.counts()[0] == 2
    docs = [reopened.document(d.doc_id) for d in reopened.documents()]
    assert sorted(d.identity for d in docs) == sorted(d.source for d in docs)  # migrated: identity = source
    reopened.close()


def test_an_index_directory_inside_an_indexed_folder_is_skipped(tmp_path: Path):
    folder = _write(tmp_path / "news", "A report.", [_record("Flood", "The river rose.")])
    library = Library(Settings(index_dir=folder / "embeddings"), embedder=HashingEmbedder())
    first = library.add([folder])
    assert sorted(r.status for r in first) == ["indexed", "indexed"]
    again = library.add([folder])  # library.sqlite, -wal and -shm are not articles
    assert sorted(r.status for r in again) == ["already indexed", "already indexed"], [r.source for r in again]
    library.close()
