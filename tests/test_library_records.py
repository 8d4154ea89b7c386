"""`Library.add_records`: JSON article records sent without a file (the API's `{"records": [...]}`)."""

from __future__ import annotations

from qa_app.library import Library

STRIKE = "Dock workers in Port Ellis ended a nine-day strike on Friday."
FERRY = "The Harbor Line ferry resumed its morning crossing after repairs to the pier."
LIBRARY_VOTE = "The council voted to keep the branch library open on Sundays."


def test_records_are_known_by_url_then_own_id_then_text(library: Library) -> None:
    records = [
        ("record 1", {"title": "Port strike ends", "body": STRIKE, "url": "https://gazette.test/strike"}),
        ("record 2", {"title": "Ferry returns", "body": FERRY, "id": 42}),
        ("record 3", {"title": "Library stays open", "body": LIBRARY_VOTE}),
        ("record 4", {"title": "No body here"}),
    ]
    first = library.add_records(records)
    assert [(r.source, r.status) for r in first] == [
        ("record 4", "failed"),  # failures first, named by their label
        ("https://gazette.test/strike", "indexed"),
        ("record 2", "indexed"),
        ("record 3", "indexed"),
    ]
    assert first[0].reason == "missing 'body' (or 'text')" and first[0].file is None

    changed = [(label, {**value, "body": value["body"] + " More follows."}) for label, value in records[:3]]
    again = library.add_records(changed)
    # the URL and the own id name the same article, so its new text replaces the old; a record with neither is
    # known by its text, so changed text is another article
    assert [r.status for r in again] == ["replaced", "replaced", "indexed"]
    assert len(library.documents()) == 4


def test_records_already_indexed_are_reported_not_added_twice(library: Library) -> None:
    record = ("record 1", {"title": "Ferry returns", "body": FERRY, "id": "ferry-1"})
    assert [r.status for r in library.add_records([record])] == ["indexed"]
    assert [r.status for r in library.add_records([record])] == ["already indexed"]
    assert len(library.documents()) == 1
