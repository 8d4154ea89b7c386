"""JSON and JSONL files of many records (#16): loaded and written a batch at a time, the record limit kept."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from qa_app import library as library_module
from qa_app.ingest import Progress
from qa_app.library import Library


def _records(count: int) -> list[dict[str, str]]:
    return [{"title": f"Harbor story {n}", "body": f"Story number {n} tells of the harbor works on pier {n}."}
            for n in range(count)]  # fmt: skip


def _write(path: Path, records: list[dict[str, str]], shape: str) -> Path:
    if shape == "jsonl":
        path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    else:
        path.write_text(json.dumps({"articles": records} if shape == "wrapped" else records))
    return path


@pytest.mark.parametrize("shape", ["list", "wrapped", "jsonl"])
def test_many_records_are_committed_before_the_whole_file_is_loaded(
    fake_library: Library, tmp_path: Path, monkeypatch, shape
):
    """The first commit comes after one batch of records is loaded, not after the whole file (and its documents)."""
    monkeypatch.setattr(library_module, "_LOAD_BATCH_DOCUMENTS", 10)
    path = _write(tmp_path / f"feed.{'jsonl' if shape == 'jsonl' else 'json'}", _records(25), shape)
    first_commit: list[tuple[Progress, int]] = []

    def report(progress: Progress) -> None:
        if progress.docs_done and not first_commit:
            first_commit.append((progress, fake_library.counts()[0]))

    results = fake_library.add([path], progress=report)
    assert [r.status for r in results] == ["indexed"] * 25
    progress, stored = first_commit[0]
    assert progress.docs_total <= 10, progress  # only the first batch was loaded when its records were written
    assert 1 <= stored <= 10
    label = "line 25" if shape == "jsonl" else "record 25"
    assert results[-1].source == f"{path.name} {label}" and fake_library.counts()[0] == 25


@pytest.mark.parametrize("shape", ["list", "wrapped", "jsonl"])
def test_the_record_limit_still_refuses_the_whole_file_before_any_commit(
    fake_library: Library, tmp_path: Path, monkeypatch, shape
):
    monkeypatch.setattr(library_module, "_LOAD_BATCH_DOCUMENTS", 3)
    fake_library.settings = replace(fake_library.settings, max_records=10)
    path = _write(tmp_path / f"feed.{'jsonl' if shape == 'jsonl' else 'json'}", _records(11), shape)
    [result] = fake_library.add([path])
    assert result.status == "failed" and "11 records, over the limit of 10" in result.reason
    assert fake_library.counts()[0] == 0


def test_records_yajl_cannot_stream_are_loaded_whole_as_before(fake_library: Library, tmp_path: Path):
    """Integers beyond 64 bits, surrogate escapes, a BOM: json.loads reads them, as it always did."""
    records = _records(3)
    records[0]["views"] = 10**30
    records[1]["body"] += " \\ud800"
    path = tmp_path / "odd.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(records).encode())
    results = fake_library.add([path])
    assert [r.status for r in results] == ["indexed"] * 3
    deep = tmp_path / "deep.json"
    deep.write_bytes(b"[" * 100_000)  # yajl would build ever longer prefixes: refused as json.loads words it
    [result] = fake_library.add([deep])
    assert result.status == "failed" and "invalid JSON (nested too deeply)" in result.reason
