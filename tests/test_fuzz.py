"""Hostile input: a few hundred broken, odd and malicious files of every supported type, plus hypothesis.

No exception may escape `Library.add` or `load_files`; each input is indexed or rejected with a
message naming the file; a rejected file leaves the index exactly as it was. Input handling only,
so the fake embedder is enough.
"""

from __future__ import annotations

import io
import json
import os
import random
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pypdf
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reportlab.pdfgen import canvas

from qa_app import chunking
from qa_app.config import DEFAULT_MAX_PDF_PAGES, DEFAULT_MAX_TEXT_CHARS, SUPPORTED_SUFFIXES, Settings, load_settings
from qa_app.documents import load_files, safe_upload_name
from qa_app.errors import LoadError
from qa_app.integrity import check_index
from qa_app.library import Library
from qa_app.records import Document, text_doc_id
from tests.articles import ARTICLES
from tests.fakes import HashingEmbedder
from tests.reliability_helpers import database_problems, search_problems

MB = 1024 * 1024
MAX = 50 * MB
STATUSES = {"indexed", "already indexed", "replaced", "failed"}
GOOD = "Harbor bridge closes for repairs\n\nThe Harbor Street bridge will close for eight weeks from June 2."
FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
                derandomize=True)  # fmt: skip


# ---- building hostile files ------------------------------------------------------------------------


def _pdf(pages: list[str]) -> bytes:
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    for text in pages:
        pdf.drawString(72, 720, text)
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def _raw_pdf(objects: list[bytes]) -> bytes:
    """A PDF from object bodies (object 1 is the catalog) with a correct xref table."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


_CATALOG = b"<< /Type /Catalog /Pages 2 0 R >>"
_PAGE = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>"


def _blank_pages(pages: int, declared: int | None = None) -> bytes:
    """One page object per page, all blank: the plain page bomb (optionally with a lying /Count)."""
    kids = b" ".join(b"%d 0 R" % (3 + n) for n in range(pages))
    count = pages if declared is None else declared
    return _raw_pdf([_CATALOG, b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, count), *[_PAGE] * pages])


def _shared_page(pages: int, declared: int | None = None) -> bytes:
    """`pages` references to one page object: 6 bytes a page."""
    count = pages if declared is None else declared
    return _raw_pdf([_CATALOG, b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b"3 0 R " * pages, count), _PAGE])


def _page_tree_bomb(depth: int, declared: int | None = None) -> bytes:
    """Each level of the page tree lists the next level twice: 2**depth pages in a file of a few KB."""
    objects = [_CATALOG]
    for level in range(depth):
        count = 2 ** (depth - level) if declared is None else declared
        objects.append(b"<< /Type /Pages /Kids [%d 0 R %d 0 R] /Count %d >>" % (level + 3, level + 3, count))
    objects.append(_PAGE.replace(b"/Parent 2 0 R", b"/Parent %d 0 R" % (depth + 1)))
    return _raw_pdf(objects)


def _encrypted(data: bytes, password: str, algorithm: str) -> bytes:
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=password, owner_password="owner", algorithm=algorithm)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def _flip(data: bytes, rng: random.Random, count: int) -> bytes:
    mutable = bytearray(data)
    for _ in range(count):
        mutable[rng.randrange(len(mutable))] = rng.randrange(256)
    return bytes(mutable)


def _pdf_files(rng: random.Random) -> Iterator[tuple[str, bytes, str | None]]:
    """(name, content, reason expected in the rejection or None when indexing is fine too)."""
    base = _pdf(["Harbor bridge closes for repairs.", "Ferries will run every twenty minutes."])
    for n in range(20):
        yield f"truncated-{n}.pdf", base[: int(len(base) * n / 20)] or b"%", None
    xref = base.rindex(b"xref")
    startxref = base.rindex(b"startxref")
    yield "xref-offset-wrong.pdf", base[:startxref] + b"startxref\n999999\n%%EOF\n", None
    yield "xref-offset-zero.pdf", base[:startxref] + b"startxref\n0\n%%EOF\n", None
    yield "xref-offset-negative.pdf", base[:startxref] + b"startxref\n-5\n%%EOF\n", None
    yield "xref-missing.pdf", base[:xref] + base[startxref:], None
    yield "xref-no-trailer.pdf", base[: base.rindex(b"trailer")], None
    for n in range(8):
        yield f"xref-garbage-{n}.pdf", base[:xref] + _flip(base[xref:], rng, 4 + n), None
    yield "objects-mangled.pdf", base.replace(b" obj", b" jbo"), None
    for n in range(15):
        yield f"flipped-{n}.pdf", _flip(base, rng, 1 + n * 3), None
    for n in range(5):
        yield f"header-then-noise-{n}.pdf", b"%PDF-1.7\n" + rng.randbytes(200 * (n + 1)), None
    yield "header-only.pdf", b"%PDF-1.4\n", None
    yield "zero-bytes.pdf", b"", "empty file"
    for algorithm in ("RC4-40", "RC4-128"):
        yield f"encrypted-{algorithm}.pdf", _encrypted(base, "secret", algorithm), "encrypted"
        yield f"copy-protected-{algorithm}.pdf", _encrypted(base, "", algorithm), None  # opens with ""
    limit = DEFAULT_MAX_PDF_PAGES
    yield "page-bomb-blank-pages.pdf", _blank_pages(limit + 1), "page limit"
    yield "page-bomb-blank-pages-lying-count.pdf", _blank_pages(limit + 500, declared=1), "page limit"
    yield "page-bomb-shared-page.pdf", _shared_page(100_000), "page limit"
    yield "page-bomb-shared-page-lying-count.pdf", _shared_page(200_000, declared=3), "too large"
    yield "page-bomb-tree.pdf", _page_tree_bomb(40), "page limit"
    yield "page-bomb-tree-lying-count.pdf", _page_tree_bomb(40, declared=1), "too large"
    yield "page-count-absurd.pdf", _shared_page(3, declared=10**15), "page limit"
    yield "blank-pages-under-limit.pdf", _blank_pages(50), "no extractable text"


def _text_files(rng: random.Random) -> Iterator[tuple[str, bytes, str | None]]:
    yield "zero-bytes.txt", b"", "empty file"
    for n in range(15):
        yield f"binary-{n}.txt", rng.randbytes(rng.randint(1, 5000)), None
    yield "elf-binary.txt", b"\x7fELF\x02\x01\x01\x00" + rng.randbytes(400), None
    yield "png-renamed.txt", b"\x89PNG\r\n\x1a\n" + rng.randbytes(300), None
    invalid_utf8 = [b"\xc3\x28", b"\xa0\xa1", b"\xe2\x28\xa1", b"\xe2\x82\x28", b"\xf0\x28\x8c\xbc", b"\xc0\xaf",
                    b"\xed\xa0\x80", b"\xff\xfe\xfd", b"\xf8\x88\x80\x80\x80", b"caf\xe9"]  # fmt: skip
    for n, bad in enumerate(invalid_utf8):
        yield f"invalid-utf8-{n}.txt", GOOD.encode() + b" " + bad + b" more text.", "UTF-8"
    yield "truncated-multibyte.txt", GOOD.encode() + b" \xe2\x82", "UTF-8"
    utf16 = "Harbor bridge closes\n\nThe bridge will close for eight weeks, said Dana Whitlock."
    yield "utf16-le.txt", b"\xff\xfe" + utf16.encode("utf-16-le"), None
    yield "utf16-be.txt", b"\xfe\xff" + utf16.encode("utf-16-be"), None
    yield "utf16-odd-length.txt", b"\xff\xfe" + utf16.encode("utf-16-le")[:-1], "UTF-16"
    yield "utf16-lone-surrogate.txt", b"\xff\xfe" + "ab".encode("utf-16-le") + b"\x00\xd8" + b"c\x00", "UTF-16"
    yield "utf16-bom-only.txt", b"\xff\xfe", "no text"
    yield "utf16-nuls.txt", b"\xff\xfe" + b"\x00\x00" * 50, None
    yield "utf8-bom-only.txt", b"\xef\xbb\xbf", "no text"
    yield "nul-bytes.txt", b"Harbor\x00bridge\x00closes", "NUL"
    yield "whitespace.txt", b" \t\n\r\n   \n", "no text"
    yield "invisible-only.txt", "\u200b\u200c\u200d\ufeff\u2060\u00ad".encode() * 100, "no text"
    yield "control-chars.txt", bytes(range(1, 32)) * 20, "no text"
    yield "combining-marks.txt", ("a" + "\u0301" * 2000).encode(), None
    yield "bidi-override.txt", "Headline \u202egnp.exe\u202c\n\nBody text here.".encode(), None
    yield "line-separators.txt", "Title\u2028\u2029Body\u0085text\u000bmore\u000cend.".encode(), None
    sentence = " ".join(f"word{n % 97}" for n in range(15_000))[:100_000]
    yield "one-sentence-100k-chars.txt", f"Headline\n\n{sentence}.".encode(), None
    yield "one-word-100k-chars.txt", ("x" * 100_000).encode(), None
    yield "long-line-of-sentences.txt", ("The ferry left the harbor at noon. " * 3000).encode(), None
    yield "many-short-lines.txt", ("Short line.\n" * 20_000).encode(), None
    yield "spaces-run.txt", ("a" + " " * 200_000 + "b").encode(), None
    yield "over-text-limit.txt", ("word " * (DEFAULT_MAX_TEXT_CHARS // 5 + 10)).encode(), "character limit"


def _markdown_files(rng: random.Random) -> Iterator[tuple[str, bytes, str | None]]:
    laughs = "---\na: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + n)}: &{chr(98 + n)} [{', '.join([f'*{chr(97 + n)}'] * 9)}]\n" for n in range(8)
    ) + "---\nBody text.\n"  # fmt: skip
    yield "yaml-billion-laughs.md", laughs.encode(), "aliases"
    yield "yaml-deep-nesting.md", ("---\na: " + "[" * 20_000 + "\n---\nBody.\n").encode(), "front matter"
    yield "yaml-deep-closed.md", ("---\na: " + "[" * 40 + "]" * 40 + "\n---\nBody.\n").encode(), "nested"
    yield "yaml-nan.md", b"---\nscore: .nan\n---\nBody text.\n", "NaN"
    yield "yaml-infinity.md", b"---\nscore: -.inf\n---\nBody text.\n", "NaN"
    yield "yaml-surrogate-escape.md", b'---\nauthor: "\\ud800x"\n---\nBody text.\n', None
    yield "yaml-python-object.md", b"---\nx: !!python/object/apply:os.system ['echo hacked']\n---\nBody.\n", "YAML"
    yield "yaml-binary.md", b"---\nblob: !!binary aGVsbG8=\n---\nBody text.\n", None
    yield "yaml-list.md", b"---\n- a\n- b\n---\nBody text.\n", "mapping"
    yield "yaml-unterminated.md", b"---\ntitle: x\nBody text without a closing line.\n", None
    yield "yaml-tabs.md", b"---\ntitle:\t\tx\n\tbad: [\n---\nBody.\n", "YAML"
    yield "front-matter-only.md", b"---\ntitle: Only front matter\n---\n", "no text"
    yield "heading-only.md", b"# Just a heading\n", None
    yield "dashes-only.md", b"---\n---\n", "no text"
    yield "bad-date.md", b"---\ndate: 99999999999-13-45\n---\nBody.\n", None
    yield "date-overflow.md", b"---\npublished_at: Sat, 03 May 99999999999 10:00:00 +0000\n---\nBody.\n", "date"
    yield "binary.md", rng.randbytes(3000), None
    yield "zero-bytes.md", b"", "empty file"
    yield "huge-title.md", ("# " + "Headline " * 200_000 + "\n\nBody text.\n").encode(), None


def _html_files(rng: random.Random) -> Iterator[tuple[str, bytes, str | None]]:
    yield "only-scripts.html", b"<html><head><script>var a=1;</script></head><body><script>x()</script></body>", None
    yield "only-style.html", b"<html><head><style>p{color:red}</style></head><body></body></html>", None
    yield "empty-body.htm", b"<html><body></body></html>", None
    yield "comment-only.html", b"<!-- nothing to see -->", None
    yield "deep-nesting.html", b"<div>" * 100_000 + b"deep text" + b"</div>" * 100_000, None
    yield "unclosed-tags.html", b"<html><body><p>Harbor <b>bridge <i>closes <div>for repairs" * 50, None
    yield "many-title-tags.html", b"<html><body><p>x</p>" + b"<title" * 200_000 + b"</body></html>", None
    yield "title-never-closed.html", b"<title>" + b"a" * 500_000 + b"<p>body text</p>", None
    yield "huge-attribute.html", b'<html><body><p class="' + b"a" * 2 * MB + b'">Body text.</p></body></html>', None
    yield "bad-charset.html", b'<meta charset="x-no-such-charset"><p>Harbor bridge closes.</p>', None
    yield "utf16.html", b"\xff\xfe" + "<html><body><p>Harbor bridge closes.</p></body></html>".encode("utf-16-le"), None
    yield "nul-bytes.html", b"<html>\x00<body>\x00<p>text</p>", "NUL"
    yield "entities.html", b"<p>&#0; &#xD800; &#x110000; &#99999999999; &bogus; &amp;amp;</p>", None
    dtd = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    dtd += b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>'
    yield "xml-entity-bomb.html", dtd + b"<html><body><p>&d;&d;&d;&d;&d;&d;</p></body></html>", None
    yield "cdata.html", b"<html><body><![CDATA[ text ]]></body></html>", None
    yield "svg-script.html", b"<svg><script>alert(1)</script></svg><p>Harbor bridge closes for repairs.</p>", None
    yield "binary.html", rng.randbytes(4000).replace(b"\x00", b""), None
    yield "zero-bytes.htm", b"", "empty file"
    yield "meta-refresh-only.html", b'<meta http-equiv="refresh" content="0;url=http://x">', None


def _json_files(rng: random.Random) -> Iterator[tuple[str, bytes, str | None]]:
    record = {"title": "Harbor bridge closes", "body": "The bridge will close for eight weeks."}
    yield "invalid.json", b"{not json", "invalid JSON"
    yield "trailing-comma.json", b'[{"title": "a", "body": "b"},]', "invalid JSON"
    yield "deep-nesting.json", b"[" * 100_000, "invalid JSON"
    yield "deep-record.json", json.dumps({**record, "extra": json.loads("[" * 60 + "]" * 60)}).encode(), "nested"
    yield "big-int.json", b'{"title": "a", "body": "b", "n": ' + b"9" * 5000 + b"}", "digits"
    yield "nan.json", b'{"title": "a", "body": "b", "score": NaN}', "NaN"
    yield "infinity.json", b'{"title": "a", "body": "b", "score": -Infinity}', "JSON"
    yield "overflow-float.json", b'{"title": "a", "body": "b", "score": 1e999}', "NaN"
    for n, value in enumerate([1, "text", None, True, [1, 2], [], {}, [[]], [None]]):
        yield f"wrong-type-{n}.json", json.dumps(value).encode(), None
    yield "body-not-string.json", json.dumps({"title": "a", "body": 5}).encode(), "must be a string"
    yield "title-list.json", json.dumps({"title": ["a"], "body": "text"}).encode(), "must be a string"
    yield "date-wrong-type.json", json.dumps({**record, "published_at": 20250101}).encode(), "string"
    yield "date-overflow.json", json.dumps({**record, "published_at": "Sat, 03 May 99999999999 10:00"}).encode(), None
    yield "surrogates.json", b'{"title": "T\\ud800", "body": "Body \\udc00 text", "author": "\\ud83d"}', None
    yield "huge-title.json", json.dumps({**record, "title": "word " * 400_000}).encode(), None
    yield "articles-not-list.json", json.dumps({"articles": {"a": 1}}).encode(), None
    yield "duplicate-keys.json", b'{"title": "a", "title": "b", "body": "text"}', None
    yield "utf16.json", b"\xff\xfe" + json.dumps(record).encode("utf-16-le"), None
    yield "binary.json", rng.randbytes(2000), None
    yield "zero-bytes.json", b"", "empty file"


def _jsonl_files(rng: random.Random) -> Iterator[tuple[str, bytes, str | None]]:
    good = json.dumps({"title": "Wire story", "body": "Fishing crews unloaded mackerel at the harbor."})
    bad_lines = [b"{oops", b"[1, 2, 3]", b'"just a string"', b"null", b"42", b'{"title": "no body"}',
                 b'{"body": "no title"}', b'{"title": 1, "body": "x"}', b'{"title": "x", "body": ["y"]}',
                 b"[" * 50_000, b'{"title": "x", "body": "y", "n": ' + b"1" * 4400 + b"}",
                 b'{"title": "x", "body": "y", "z": NaN}', b'{"title": "x", "body": "   "}',
                 b'{"title": "x", "body": "y", "published_at": "not a date"}']  # fmt: skip
    for n, line in enumerate(bad_lines):
        yield f"bad-line-{n}.jsonl", line + b"\n", None
        yield f"good-and-bad-{n}.jsonl", good.replace("Wire story", f"Wire story {n}").encode() + b"\n" + line, None
    yield "blank-lines.jsonl", b"\n\n   \n", "no records"
    yield "crlf.jsonl", good.encode() + b"\r\n" + good.replace("Wire", "CRLF").encode() + b"\r\n", None
    yield (
        "line-separator-in-string.jsonl",
        json.dumps({"title": "a", "body": "x\u2028y"}, ensure_ascii=False).encode(),
        None,
    )
    yield "surrogate-pair-split.jsonl", b'{"title": "a", "body": "half \\ud83d and \\ude00 apart"}\n', None
    yield "bom.jsonl", b"\xef\xbb\xbf" + good.encode(), None
    yield "binary.jsonl", rng.randbytes(3000), None
    yield "zero-bytes.jsonl", b"", "empty file"


def _other_files(rng: random.Random) -> Iterator[tuple[str, bytes, str | None]]:
    yield "notes.docx", b"PK\x03\x04" + rng.randbytes(100), "unsupported"
    yield "program.exe", b"MZ" + rng.randbytes(100), "unsupported"
    yield "no-extension", b"Harbor bridge closes.", "unsupported"
    yield "UPPER.TXT", b"Harbor bridge closes for repairs in June.", None
    yield "dots...txt", b"Harbor bridge closes for repairs in July.", None
    yield "sp ace & ünïcödé 名前.txt", b"Harbor bridge closes for repairs in August.", None


def _write_corpus(folder: Path) -> list[tuple[Path, str | None]]:
    rng = random.Random(5)
    folder.mkdir()
    files = []
    for make in (_pdf_files, _text_files, _markdown_files, _html_files, _json_files, _jsonl_files, _other_files):
        for name, content, reason in make(rng):
            path = folder / name
            assert not path.exists(), name
            path.write_bytes(content)
            files.append((path, reason))
    oversized = folder / "oversized.txt"
    with oversized.open("wb") as handle:
        handle.truncate(MAX + 1)  # sparse: the size check must refuse it before reading a byte
    files.append((oversized, "MB limit"))
    return files


# ---- the checks --------------------------------------------------------------------------------------


def _snapshot(library: Library) -> tuple[list, int]:
    return library.documents(), library._store.generation()


def _check_document(doc: Document) -> None:
    """What storage, hashing and the JSON output need from every loaded document."""
    assert doc.text.strip() and doc.title
    assert doc.doc_id == text_doc_id(doc.text)
    assert len(doc.text) <= DEFAULT_MAX_TEXT_CHARS and len(doc.title) <= 301
    json.dumps([doc.title, doc.text, doc.source, doc.metadata], ensure_ascii=False, allow_nan=False).encode("utf-8")


def _add_and_check(library: Library, path: Path, expected_reason: str | None) -> list:
    before = _snapshot(library)
    results = library.add([path])  # nothing may escape
    assert results, f"{path.name}: no result at all"
    for r in results:
        assert r.status in STATUSES
        if r.status == "failed":
            assert r.reason and r.reason.strip(), f"{path.name}: failure without a reason"
            assert path.name in r.source, f"{path.name}: failure names {r.source!r}, not the file"
    if expected_reason is not None:
        assert [r.status for r in results] == ["failed"], f"{path.name} should be rejected: {results}"
        assert expected_reason.lower() in results[0].reason.lower(), f"{path.name}: {results[0].reason}"
    if all(r.status == "failed" for r in results):
        assert _snapshot(library) == before, f"{path.name} was rejected but changed the index"
    return results


def test_hundreds_of_bad_files_are_reported_one_by_one(fake_library: Library, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    files = _write_corpus(tmp_path / "bad")
    extracted: list[int] = []
    extract = pypdf.PageObject.extract_text
    monkeypatch.setattr(pypdf.PageObject, "extract_text", lambda self, *a, **k: extracted.append(1) or extract(self))
    started = time.monotonic()
    outcomes: dict[str, int] = {"rejected": 0, "indexed": 0}
    slowest = (0.0, "")
    for path, reason in files:
        extracted.clear()
        tick = time.monotonic()
        results = _add_and_check(fake_library, path, reason)
        slowest = max(slowest, (time.monotonic() - tick, path.name))
        if "page" in path.name and ("bomb" in path.name or "count" in path.name):
            assert extracted == [], f"{path.name}: {len(extracted)} pages were read before the page limit refused it"
        outcomes["indexed" if any(r.status != "failed" for r in results) else "rejected"] += 1
    assert database_problems(fake_library) == []
    assert search_problems(fake_library, "harbor bridge repairs") == []
    assert check_index(fake_library).problems == []

    # the same files as one batch, with good articles among them: the good ones are indexed
    good = tmp_path / "good"
    good.mkdir()
    for name, text in ARTICLES.items():
        (good / name).write_text(text.replace("\n", "\n\n", 1), encoding="utf-8")
    results = fake_library.add([tmp_path / "bad", good])
    assert {r.source for r in results if r.status == "indexed"} >= set(ARTICLES)
    named = {Path(re.split(r" (?:line|record) \d+$", r.source)[0]).name for r in results}
    assert {p.name for p, _ in files} <= named, "some file got no result naming it"
    print(f"\nfuzz corpus: {len(files)} bad inputs, {outcomes['rejected']} rejected with a reason, "
          f"{outcomes['indexed']} indexed (or partly), 0 crashes, {time.monotonic() - started:.1f} s "
          f"(slowest {slowest[1]}: {slowest[0]:.2f} s)")  # fmt: skip
    assert len(files) >= 200


# ---- hypothesis ----------------------------------------------------------------------------------------

_COUNT: dict[str, int] = {}  # examples so far: each writes a file of its own (examples share tmp_path)
_BASE_PDF = _pdf(["Harbor bridge closes for repairs.", "Ferries will run."])


def _load_checked(folder: Path, name: str, content: bytes) -> tuple[list[Document], list]:
    path = folder / name
    path.write_bytes(content)
    try:
        documents, failures = load_files([path], max_bytes=MAX)
    finally:
        path.unlink()
    for doc in documents:
        _check_document(doc)
    for failure in failures:
        assert failure.reason and name in failure.source
    return documents, failures


@FUZZ
@given(content=st.binary(max_size=3000), suffix=st.sampled_from(SUPPORTED_SUFFIXES))
def test_any_bytes_in_any_supported_file_type(tmp_path: Path, content: bytes, suffix: str) -> None:
    _load_checked(tmp_path, f"fuzz{suffix}", content)


_TEXT = st.text(st.characters(exclude_categories=()), max_size=200)  # lone surrogates included
_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | _TEXT
_JSON = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
                     max_leaves=20)  # fmt: skip


@FUZZ
@given(records=st.lists(st.dictionaries(st.sampled_from(["title", "body", "text", "url", "published_at", "author",
                                                         "source", "date", "x"]), _JSON), max_size=5))  # fmt: skip
def test_any_json_records(tmp_path: Path, records: list[dict[str, Any]]) -> None:
    lines = "\n".join(json.dumps(r) for r in records).encode()  # NaN, Infinity and lone surrogate escapes included
    _load_checked(tmp_path, "records.jsonl", lines)
    _load_checked(tmp_path, "records.json", json.dumps(records).encode())


@FUZZ
@given(cut=st.integers(0, len(_BASE_PDF)), flips=st.lists(st.tuples(st.integers(0, len(_BASE_PDF) - 1),
                                                                    st.integers(0, 255)), max_size=8))  # fmt: skip
def test_damaged_pdfs(tmp_path: Path, cut: int, flips: list[tuple[int, int]]) -> None:
    data = bytearray(_BASE_PDF)
    for offset, value in flips:
        data[offset] = value
    _load_checked(tmp_path, "damaged.pdf", bytes(data[:cut] if cut else data))


@settings(FUZZ, max_examples=60)
@given(content=st.one_of(st.binary(max_size=2000), _TEXT.map(lambda t: t.encode("utf-8", "surrogatepass"))),
       suffix=st.sampled_from(SUPPORTED_SUFFIXES))  # fmt: skip
def test_library_add_never_raises_and_rejections_change_nothing(
    fake_library: Library, tmp_path: Path, content: bytes, suffix: str
) -> None:
    _COUNT["add"] = _COUNT.get("add", 0) + 1
    path = tmp_path / f"upload{_COUNT['add']}{suffix}"
    path.write_bytes(content)
    for result in _add_and_check(fake_library, path, None):
        if result.status == "indexed":
            _check_document(fake_library.document(result.doc_id))
    assert database_problems(fake_library) == []


# ---- limits ---------------------------------------------------------------------------------------------


def test_page_limit_is_a_setting_and_is_checked_before_reading_pages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "blank.pdf"
    path.write_bytes(_blank_pages(30))
    monkeypatch.setattr(pypdf.PageObject, "extract_text", lambda *a, **k: pytest.fail("a page was read"))
    _, failures = load_files([path], max_bytes=MAX, max_pdf_pages=20)
    assert [f.reason for f in failures] == ["PDF has 30 pages, over the 20-page limit (QA_APP_MAX_PDF_PAGES)"]


def test_text_limit_applies_to_every_format(tmp_path: Path) -> None:
    body = "The ferry left the harbor at noon. " * 40  # 1,400 characters
    files = {
        "a.txt": body,
        "a.md": f"# Title\n\n{body}",
        "a.html": f"<html><body><p>{body}</p></body></html>",
        "a.jsonl": json.dumps({"title": "t", "body": body}) + "\n" + json.dumps({"title": "u", "body": "Short."}),
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    (tmp_path / "a.pdf").write_bytes(_pdf(["The ferry left the harbor at noon. " * 3] * 20))
    documents, failures = load_files(sorted(tmp_path.iterdir()), max_bytes=MAX, max_text_chars=1_000)
    assert [d.text for d in documents] == ["Short."]
    assert len(failures) == 5
    assert all("over the 1,000-character limit per article (QA_APP_MAX_TEXT_CHARS)" in f.reason for f in failures)
    pdf = next(f for f in failures if f.source.endswith("a.pdf"))
    assert "by page" in pdf.reason  # extraction stopped early, not after reading all 20 pages


def test_limits_are_settings_with_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (Settings().max_pdf_pages, Settings().max_text_chars, Settings().max_upload_files) == (2000, 5_000_000, 100)
    monkeypatch.setenv("QA_APP_MAX_PDF_PAGES", "7")
    monkeypatch.setenv("QA_APP_MAX_TEXT_CHARS", "1000")
    assert (load_settings().max_pdf_pages, load_settings().max_text_chars) == (7, 1000)


# ---- upload names ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\x.txt", "x.txt"),
        ("/abs/path.md", "path.md"),
        ("a/../../b.txt", "b.txt"),
        ("C:\\Users\\me\\report.pdf", "report.pdf"),
        ("C:report.pdf", "report.pdf"),
        ("dir\\sub/mixed.jsonl", "mixed.jsonl"),
        ("  spaced name .txt  ", "spaced name .txt"),
        ("café.html", "café.html"),
        ("cafe\u0301.html", "café.html"),  # NFC
        ("archive.tar.gz", "archive.tar.gz"),
        ("a" * 300 + ".txt", "a" * 196 + ".txt"),
        ("名" * 100 + ".md", "名" * 65 + ".md"),  # 200 bytes of UTF-8 at most
    ],
)
def test_safe_upload_name_keeps_only_a_base_name(name: str, expected: str, tmp_path: Path) -> None:
    safe = safe_upload_name(name)
    assert safe == expected
    assert (tmp_path / safe).resolve().parent == tmp_path.resolve()


@pytest.mark.parametrize(
    "name",
    ["", "   ", ".", "..", "../..", "a/..", "dir/", "..\\", ".hidden.txt", "a/.env", "x\x00.txt", "x\n.txt",
     "tab\t.txt", "bell\x07.md", "del\x7f.txt", "rtl\u202etxt.exe", "c1\x85.txt", "half\ud800.txt"],
)  # fmt: skip
def test_safe_upload_name_refuses_unusable_names(name: str) -> None:
    with pytest.raises(LoadError) as caught:
        safe_upload_name(name)
    assert caught.value.reason


@settings(FUZZ, max_examples=300)
@given(name=_TEXT | st.lists(st.sampled_from(["..", ".", "/", "\\", "a", "C:", "x.txt", " "])).map("".join))
def test_safe_upload_name_never_escapes_the_folder(tmp_path: Path, name: str) -> None:
    try:
        safe = safe_upload_name(name)
    except LoadError:
        return
    assert safe and "/" not in safe and "\\" not in safe and not safe.startswith(".")
    assert (tmp_path / safe).resolve().parent == tmp_path.resolve()
    assert len(safe.encode("utf-8")) <= 200
    (tmp_path / safe).write_bytes(b"")  # a name this file system accepts
    (tmp_path / safe).unlink()


# ---- a bug outside documents.py: chunking feeds whole lines to pysbd ----------------------------------


def test_chunking_never_hands_pysbd_a_huge_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """pysbd is quadratic in the length of what it segments (160k characters: ~3.5 s, 1M: minutes).

    chunking._line_sentences passes each whole line to it, and one-line articles are common (JSONL
    bodies without newlines, extracted HTML), so one 1-MB line blocks indexing for minutes.
    """
    segmenter = chunking._segmenter()
    longest = []

    class Recording:
        def segment(self, text: str) -> list[str]:
            longest.append(len(text))
            assert len(text) <= 20_000, f"pysbd was given {len(text):,} characters at once"
            return segmenter.segment(text)

    monkeypatch.setattr(chunking, "_segmenter", Recording)
    text = "The ferry left the harbor at noon and returned by evening. " * 4_000  # one 240,000-character line
    chunks = chunking.chunk_text(text.strip())
    assert chunks and max(longest) <= 20_000


def test_paths_that_cannot_even_be_looked_at_are_reported(fake_library: Library, tmp_path: Path) -> None:
    """`Path.is_file()` raises for some errors (ENAMETOOLONG, EACCES); that must become a per-path failure."""
    (tmp_path / "file.txt").write_text("Harbor bridge closes.", encoding="utf-8")
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    paths = [tmp_path / ("x" * 300 + ".txt"), tmp_path / "file.txt" / "child.txt", fifo, loop, tmp_path / "missing"]
    results = fake_library.add(paths)
    assert [r.status for r in results] == ["failed"] * len(paths)
    assert all(r.reason for r in results)
    assert fake_library.documents() == []


def test_library_add_applies_the_limit_settings(tmp_path: Path) -> None:
    """Library.add must hand Settings.max_pdf_pages and Settings.max_text_chars to `load_files`."""
    (tmp_path / "long.txt").write_text("The ferry left the harbor at noon. " * 100, encoding="utf-8")
    (tmp_path / "pages.pdf").write_bytes(_pdf(["The ferry left the harbor at noon."] * 12))
    settings = Settings(index_dir=tmp_path / "index", max_text_chars=1_000, max_pdf_pages=10)
    library = Library(settings, embedder=HashingEmbedder())
    results = library.add([tmp_path / "long.txt", tmp_path / "pages.pdf"])
    library.close()
    reasons = sorted(r.reason or r.status for r in results)
    assert reasons == [
        "PDF has 12 pages, over the 10-page limit (QA_APP_MAX_PDF_PAGES)",
        "text is 3,499 characters, over the 1,000-character limit per article (QA_APP_MAX_TEXT_CHARS)",
    ]
