"""Bounded work and safe walking for every input (#16): links, undecodable names, record, metadata, HTML, PDF."""

from __future__ import annotations

import io
import json
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from pypdf import PdfWriter
from pypdf.generic import DictionaryObject, NameObject, StreamObject

from qa_app.config import Settings
from qa_app.documents import load_files
from qa_app.documents.bounds import time_limit
from qa_app.library import Library
from tests.fakes import HashingEmbedder

ARTICLE = "Council approves harbor plan\nThe town council approved the harbor plan on Monday by seven votes to two."


def _load(*paths: Path, **limits) -> tuple[list[str], dict[str, str]]:
    documents, failures = load_files(list(paths), max_bytes=50 * 1024 * 1024, **limits)
    return sorted(d.source for d in documents), {f.source: f.reason for f in failures}


def test_links_out_of_the_folder_are_skipped_and_named(tmp_path: Path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("Secret memo\nThe password of the server is swordfish, said the admin.")
    folder = tmp_path / "articles"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "real.txt").write_text(ARTICLE)
    (folder / "passwd.txt").symlink_to(outside / "secret.txt")
    (folder / "elsewhere").symlink_to(outside, target_is_directory=True)
    (folder / "inside.txt").symlink_to(folder / "sub" / "real.txt")  # stays in the folder: followed
    sources, failures = _load(folder)
    assert sources == ["inside.txt", "real.txt"]
    assert set(failures) == {str(folder / "passwd.txt"), str(folder / "elsewhere")}
    assert all("symbolic link" in reason and "QA_APP_FOLLOW_LINKS" in reason for reason in failures.values())
    assert _load(folder, follow_links=True)[0] == ["inside.txt", "passwd.txt", "real.txt", "secret.txt"]


def test_a_file_name_that_is_not_utf8_fails_alone(tmp_path: Path):
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "good.txt").write_text(ARTICLE)
    bad = os.path.join(os.fsencode(folder), b"caf\xe9 report.txt")
    with open(bad, "wb") as handle:
        handle.write(b"Cafe report\nThe cafe on the square reopened on Friday after a long renovation.")
    library = Library(Settings(index_dir=tmp_path / "index"), embedder=HashingEmbedder())
    results = {r.source: r for r in library.add([folder])}
    assert results["good.txt"].status == "indexed"
    failed = results[str(folder / "caf\\xe9 report.txt")]
    assert failed.status == "failed" and "not valid UTF-8" in failed.reason


def test_records_per_file_are_limited(tmp_path: Path):
    records = [{"title": f"Story {n}", "body": f"Story number {n} tells of the harbor works."} for n in range(12)]
    listed = tmp_path / "many.json"
    listed.write_text(json.dumps(records))
    lines = tmp_path / "many.jsonl"
    lines.write_text("\n".join(json.dumps(r) for r in records))
    for path in (listed, lines):
        sources, failures = _load(path, max_records=10)
        assert sources == [] and "12 records, over the limit of 10" in failures[str(path)]
        assert len(_load(path, max_records=12)[0]) == 12


def test_metadata_size_is_limited_per_record(tmp_path: Path):
    path = tmp_path / "feed.jsonl"
    big = {"title": "Big", "body": "A short body about the harbor works.", "extra": "x" * 100_000}
    small = {"title": "Small", "body": "Another short body about the council vote.", "author": "Dana Whitlock"}
    path.write_text(json.dumps(big) + "\n" + json.dumps(small) + "\n")
    sources, failures = _load(path)
    assert sources == ["feed.jsonl line 2"]
    assert "metadata" in failures["feed.jsonl line 1"] and "QA_APP_MAX_METADATA_CHARS" in failures["feed.jsonl line 1"]


def test_deeply_nested_html_says_so(tmp_path: Path):
    path = tmp_path / "deep.html"
    depth = 100_000
    path.write_text("<html><body>" + "<div>" * depth + "<p>" + ARTICLE + "</p>" + "</div>" * depth + "</body></html>")
    _, failures = _load(path)
    assert "nested" in failures[str(path)], failures
    shallow = tmp_path / "shallow.html"
    shallow.write_text("<html><body>" + "<div>" * 50 + "<p>" + ARTICLE + "</p>" + "</div>" * 50 + "</body></html>")
    assert _load(shallow)[0] == ["shallow.html"]


def _shared_stream_pdf(pages: int, stream_bytes: int) -> bytes:
    """`pages` pages that all draw one content stream of `stream_bytes` (a small file, much work to read)."""
    writer = PdfWriter()
    font = writer._add_object(DictionaryObject({NameObject("/Type"): NameObject("/Font"),
                                                NameObject("/Subtype"): NameObject("/Type1"),
                                                NameObject("/BaseFont"): NameObject("/Helvetica")}))  # fmt: skip
    operator = b"BT /F1 12 Tf 72 720 Td (word) Tj ET\n"
    stream = StreamObject()
    stream.set_data(operator * (stream_bytes // len(operator)))
    shared = writer._add_object(stream)
    resources = DictionaryObject({NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})})
    for _ in range(pages):
        page = writer.add_blank_page(612, 792)
        page[NameObject("/Contents")] = shared
        page[NameObject("/Resources")] = resources
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_a_pdf_whose_pages_decode_to_too_much_content_is_refused_before_reading(tmp_path: Path):
    path = tmp_path / "bomb.pdf"
    path.write_bytes(_shared_stream_pdf(pages=300, stream_bytes=1_000_000))  # 300 MB of content to read
    started = time.monotonic()
    _, failures = _load(path)
    assert "QA_APP_MAX_PDF_CONTENT_MB" in failures[str(path)] and time.monotonic() - started < 60


def test_pdf_text_extraction_time_is_bounded_between_pages_off_the_main_thread(tmp_path: Path):
    """In a thread (the web app, the API) no alarm can interrupt a page: the bound is checked between pages."""
    path = tmp_path / "slow.pdf"
    path.write_bytes(_shared_stream_pdf(pages=20, stream_bytes=300_000))
    with ThreadPoolExecutor(1) as pool:
        _, failures = pool.submit(_load, path, max_pdf_seconds=0.2).result(timeout=300)
    assert "QA_APP_MAX_PDF_SECONDS" in failures[str(path)] and "stopped at page" in failures[str(path)]


def test_the_time_limit_stops_the_block_even_when_its_first_interruption_is_swallowed():
    """An alarm that lands where Python ignores exceptions (a gc callback, as hypothesis installs, or a parser's
    bare `except`) was lost and the block ran on (a flake of the test below); the alarm repeats until it stops it."""
    swallowed = []
    started = time.monotonic()
    with pytest.raises(TimeoutError), time_limit(0.1):
        try:
            while time.monotonic() - started < 3:
                pass
        except BaseException as exc:  # the first interruption, lost
            swallowed.append(type(exc).__name__)
        while time.monotonic() - started < 3:
            pass
    assert swallowed == ["_Overran"] and time.monotonic() - started < 1.5
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_one_slow_page_is_stopped_inside_the_page(tmp_path: Path):
    """The time bound interrupts a page's extraction (CLI and other main-thread loads), not only between pages."""
    path = tmp_path / "one-slow-page.pdf"
    path.write_bytes(_shared_stream_pdf(pages=1, stream_bytes=600_000))  # one page: several seconds to read
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0), "another interval timer is pending in this process"
    started = time.monotonic()
    _, failures = _load(path, max_pdf_seconds=0.2)
    assert str(path) in failures, f"loaded in {time.monotonic() - started:.2f} s without being stopped"
    assert "QA_APP_MAX_PDF_SECONDS" in failures[str(path)] and "during page 1 of 1" in failures[str(path)]
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)  # the alarm is put back
    assert signal.getsignal(signal.SIGALRM) is signal.SIG_DFL
    sources, _ = _load(path, max_pdf_seconds=600)  # a bound that is not reached leaves the PDF alone
    assert sources == ["one-slow-page.pdf"]
