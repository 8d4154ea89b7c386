"""Tests for qa_app.documents: normalisation, dates, walking folders and every file format."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pypdf
import pytest
from hypothesis import given
from hypothesis import strategies as st
from reportlab.pdfgen import canvas

from qa_app.documents import (
    iter_files,
    load_file,
    load_files,
    load_records,
    make_document,
    normalize_text,
    parse_date,
)
from qa_app.errors import LoadError
from qa_app.records import Failure, text_doc_id

MAX = 50 * 1024 * 1024


def write(path: Path, content: str | bytes) -> Path:
    """Write `content` (text as UTF-8) to `path`, creating folders, and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


def load_one(path: Path):
    (document,) = load_file(path, max_bytes=MAX)
    return document


def load_error(path: Path, max_bytes: int = MAX) -> str:
    with pytest.raises(LoadError) as caught:
        load_file(path, max_bytes=max_bytes)
    assert caught.value.source == str(path)
    return caught.value.reason


def pdf_bytes(pages: list[list[str]], *, title: str | None = None) -> bytes:
    """A PDF with one page per item; each item is the page's lines, and [] is a page with only a box."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    pdf.setTitle(title or "")  # reportlab would write "untitled"
    for lines in pages:
        if not lines:
            pdf.rect(100, 100, 300, 300, fill=1)  # a drawing, no text: like a scanned page
        for n, line in enumerate(lines):
            pdf.drawString(72, 720 - 14 * n, line)
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def encrypted(data: bytes, *, user_password: str) -> bytes:
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=user_password, owner_password="owner-secret")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


# --- normalize_text ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("cafe\u0301", "caf\u00e9"),  # NFC
        ("a\u00a0b\u2009c\td\u3000e", "a b c d e"),  # nbsp, thin space, tab, ideographic space
        ("one\r\ntwo\rthree", "one\ntwo\nthree"),
        ("zero\u200bwidth\ufeff\u200d", "zerowidth"),
        ("bell\x07 and\x00 nul", "bell and nul"),
        ("many     spaces", "many spaces"),
        ("trailing   \nspaces \t\n", "trailing\nspaces"),
        ("para\n\n\n\n\nnext", "para\n\nnext"),
        ("para\n   \n \t \nnext", "para\n\nnext"),
        ("  \n\n  padded  \n\n ", "padded"),
        ("soft\u00adhyphen", "softhyphen"),
        ("inter-\nnational", "inter-\nnational"),  # only dehyphenate=True joins words
    ],
)
def test_normalize_text(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("an inter-\nnational deal", "an international deal"),
        ("the Anglo-\nSaxon kings", "the Anglo- Saxon kings"),  # uppercase next: a real hyphen, kept
        ("wrapped line\nof text\n\nnext paragraph", "wrapped line of text\n\nnext paragraph"),
        ("ends with a dash -\n\nnew paragraph", "ends with a dash -\n\nnew paragraph"),
        ("co-\n  operation", "co- operation"),
        ("1990-\n1995", "1990- 1995"),
    ],
)
def test_normalize_text_dehyphenate(raw: str, expected: str) -> None:
    assert normalize_text(raw, dehyphenate=True) == expected


_AWKWARD = st.sampled_from(list("\n\r\t -\u00a0\u200b\u0301\u00ad\x00\u2028\u2029\ufeffaAé"))


@given(text=st.text() | st.lists(_AWKWARD).map("".join), dehyphenate=st.booleans())
def test_normalize_text_is_idempotent(text: str, dehyphenate: bool) -> None:
    once = normalize_text(text, dehyphenate=dehyphenate)
    assert normalize_text(once, dehyphenate=dehyphenate) == once


# --- parse_date and make_document --------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-05-03", "2025-05-03"),
        ("2025-05-03T14:30:00", "2025-05-03"),
        ("2025-05-03T14:30:00Z", "2025-05-03"),
        ("2025-05-03T23:30:00-05:00", "2025-05-03"),  # the date as written, not converted to UTC
        ("2025-05-03 14:30", "2025-05-03"),
        ("May 3, 2025", "2025-05-03"),
        ("Sep 3, 2025", "2025-09-03"),
        ("3 May 2025", "2025-05-03"),
        ("2025/05/03", "2025-05-03"),
        ("Sat, 03 May 2025 10:00:00 +0000", "2025-05-03"),
        ("  2025-05-03  ", "2025-05-03"),
        (date(2025, 5, 3), "2025-05-03"),
        (datetime(2025, 5, 3, 22, 0, tzinfo=UTC), "2025-05-03"),
        (None, None),
        ("", None),
        ("   ", None),
    ],
)
def test_parse_date(value: object, expected: str | None) -> None:
    assert parse_date(value) == expected


@pytest.mark.parametrize("value", ["yesterday", "2025-13-40", "03/05/2025x", 20250503])
def test_parse_date_rejects_unparseable(value: object) -> None:
    with pytest.raises(ValueError, match="date"):
        parse_date(value)


def test_make_document() -> None:
    text = "First line of the story.\n\nSecond paragraph."
    document = make_document(
        title="  A  \n title ", text=text, source="a.txt", published_at="May 3, 2025", metadata={"k": 1}
    )
    assert document.doc_id == text_doc_id(text)
    assert (document.title, document.text, document.source) == ("A title", text, "a.txt")
    assert (document.published_at, document.added_at, document.metadata) == ("2025-05-03", None, {"k": 1})


def test_make_document_title_falls_back_to_first_line() -> None:
    text = "x" * 300 + "\n\nrest"
    assert make_document(title="  ", text=text, source="s").title == "x" * 120


def test_make_document_refuses_empty_text() -> None:
    with pytest.raises(LoadError, match="no text"):
        make_document(title="t", text="", source="s")


def test_make_document_turns_a_bad_date_into_a_load_error() -> None:
    with pytest.raises(LoadError, match="'someday'"):
        make_document(title="t", text="body", source="s", published_at="someday")


# --- iter_files --------------------------------------------------------------------------------


def test_iter_files_walks_folders_recursively_in_sorted_order_skipping_hidden(tmp_path: Path) -> None:
    for name in ["b.txt", "a/z.md", "a/y/x.pdf", ".hidden.txt", ".git/config", "c.xyz"]:
        write(tmp_path / "corpus" / name, "text")
    single = write(tmp_path / "single.txt", "text")
    found = [p.relative_to(tmp_path).as_posix() for p in iter_files([tmp_path / "corpus", single])]
    assert found == ["corpus/a/y/x.pdf", "corpus/a/z.md", "corpus/b.txt", "corpus/c.xyz", "single.txt"]


def test_iter_files_missing_path(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="no such file or folder"):
        list(iter_files([tmp_path / "nope"]))


# --- whole-file checks ---------------------------------------------------------------------------


def test_unknown_extension(tmp_path: Path) -> None:
    reason = load_error(write(tmp_path / "notes.xyz", "text"))
    assert reason.startswith("unsupported file type '.xyz' (supported: .txt .md")


def test_size_limit_is_checked_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "big.txt", "x" * (3 * 1024 * 1024 // 2))

    def no_reading(self: Path) -> bytes:
        raise AssertionError("read an oversized file")

    monkeypatch.setattr(Path, "read_bytes", no_reading)
    reason = load_error(path, max_bytes=1024 * 1024)
    assert reason == "file is 1.5 MB, over the 1.0 MB limit (QA_APP_MAX_FILE_MB)"


@pytest.mark.parametrize("suffix", [".txt", ".md", ".html", ".pdf", ".json", ".jsonl"])
def test_empty_file(tmp_path: Path, suffix: str) -> None:
    assert load_error(write(tmp_path / f"empty{suffix}", b"")) == "empty file"


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("blank.txt", " \n\t\u00a0\u200b\n"),
        ("blank.md", "---\ntitle: Only a title\n---\n\n  \n"),
        ("heading.md", "# Only a heading\n"),
        ("blank.json", '{"title": "t", "body": "  "}'),
    ],
)
def test_file_without_text(tmp_path: Path, name: str, content: str) -> None:
    assert "no text (empty or whitespace only)" in load_error(write(tmp_path / name, content))


# --- .txt --------------------------------------------------------------------------------------


def test_txt_first_line_is_the_title(tmp_path: Path) -> None:
    path = write(tmp_path / "story.txt", "Council  approves budget\r\n\r\nThe council met.\r\nIt voted.\r\n")
    document = load_one(path)
    assert (document.title, document.text) == ("Council approves budget", "The council met.\nIt voted.")
    assert (document.source, document.published_at, document.page_starts) == ("story.txt", None, ())
    assert document.doc_id == text_doc_id(document.text)


def test_txt_headline_line_is_the_title(tmp_path: Path) -> None:
    document = load_one(write(tmp_path / "story.txt", "Council backs new tram line\nThe council voted 7-2."))
    assert (document.title, document.text) == ("Council backs new tram line", "The council voted 7-2.")


def test_txt_single_paragraph_takes_its_title_from_the_file_name(tmp_path: Path) -> None:
    document = load_one(write(tmp_path / "city_council-vote.txt", "One paragraph,\nhard wrapped."))
    assert (document.title, document.text) == ("city council vote", "One paragraph,\nhard wrapped.")


@pytest.mark.parametrize(
    "encoded",
    [
        "\ufeffHéadline\n\nBödy text.".encode(),
        "Héadline\n\nBödy text.".encode("utf-16"),  # BOM + little endian
        b"\xfe\xff" + "Héadline\n\nBödy text.".encode("utf-16-be"),
    ],
    ids=["utf-8-bom", "utf-16-le", "utf-16-be"],
)
def test_txt_encodings(tmp_path: Path, encoded: bytes) -> None:
    document = load_one(write(tmp_path / "enc.txt", encoded))
    assert (document.title, document.text) == ("Héadline", "Bödy text.")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"\x89PNG\r\n\x1a\n\xff\xd8\xff\xe0binary", "not valid UTF-8 text (binary file?)"),
        (b"text\x00with\x00nul bytes", "contains NUL bytes (binary file?)"),
    ],
)
def test_txt_binary(tmp_path: Path, content: bytes, reason: str) -> None:
    assert load_error(write(tmp_path / "image.txt", content)) == reason


# --- .md ---------------------------------------------------------------------------------------


def test_markdown_front_matter(tmp_path: Path) -> None:
    content = (
        "---\ntitle: Rates held\ndate: 2025-05-03\nurl: https://example.com/rates\n"
        "author: Ann Lee\ncategory: economy\ntags: [rates, bank]\n---\n"
        "# Heading stays\n\nThe bank held **rates**.\n"
    )
    document = load_one(write(tmp_path / "rates.md", content))
    assert (document.title, document.published_at) == ("Rates held", "2025-05-03")
    assert document.text == "# Heading stays\n\nThe bank held **rates**."
    assert document.source == "https://example.com/rates"
    assert document.metadata == {
        "url": "https://example.com/rates",
        "author": "Ann Lee",
        "category": "economy",
        "tags": ["rates", "bank"],
    }
    json.dumps(document.metadata)


def test_markdown_source_and_published_at_keys(tmp_path: Path) -> None:
    content = "---\nsource: Wire\npublished_at: '2025-05-03T10:00:00Z'\nupdated: 2025-06-01\n---\nBody.\n"
    document = load_one(write(tmp_path / "wire.md", content))
    assert (document.source, document.published_at) == ("wire.md", "2025-05-03")  # the file stays the source
    assert document.metadata == {"outlet": "Wire", "updated": "2025-06-01"}  # a YAML date, stored as JSON text


def test_markdown_heading_is_the_title_and_leaves_the_body(tmp_path: Path) -> None:
    document = load_one(write(tmp_path / "note.md", "# Storm  warning #\n\nWinds of *90 km/h*.\n"))
    assert (document.title, document.text, document.source) == (
        "Storm warning",
        "Winds of *90 km/h*.",
        "note.md",
    )


def test_markdown_without_title_uses_the_file_name(tmp_path: Path) -> None:
    document = load_one(write(tmp_path / "late_news.md", "Just text.\n"))
    assert (document.title, document.text) == ("late news", "Just text.")


@pytest.mark.parametrize(
    ("front", "reason"),
    [
        ("title: [unclosed\n", "malformed YAML front matter"),
        ("- a list\n", "front matter must be a YAML mapping"),
        ("date: someday\n", "published_at: unrecognised date 'someday'"),
    ],
)
def test_markdown_bad_front_matter(tmp_path: Path, front: str, reason: str) -> None:
    assert reason in load_error(write(tmp_path / "bad.md", f"---\n{front}---\nBody.\n"))


# --- .html -------------------------------------------------------------------------------------

ARTICLE_HTML = """<!doctype html>
<html><head>
<title>Bridge reopens | Daily</title>
<meta name="author" content="Jo Park">
<meta property="article:published_time" content="2025-05-03T08:00:00Z">
<script>var stolen = document.cookie; alert("xss-in-head");</script>
<style>body { color: red }</style>
</head><body>
<nav><a href="/">Home</a></nav>
<article>
<h1>Bridge reopens</h1>
<p>The old bridge reopened on Saturday after two years of repairs to its steel frame.</p>
<script>alert("xss-in-body")</script>
<p>Traffic&nbsp;was light in the morning, the city said, and buses return on Monday.</p>
</article>
</body></html>"""


@pytest.mark.parametrize("suffix", [".html", ".htm"])
def test_html_main_text_without_scripts(tmp_path: Path, suffix: str) -> None:
    document = load_one(write(tmp_path / f"bridge{suffix}", ARTICLE_HTML))
    assert "The old bridge reopened on Saturday" in document.text
    assert "Traffic was light in the morning" in document.text
    for fragment in ("xss", "alert", "cookie", "color: red", "<"):
        assert fragment not in document.text
    assert document.title.startswith("Bridge reopens")
    assert document.published_at == "2025-05-03"
    assert document.metadata.get("author") == "Jo Park"
    assert document.source == f"bridge{suffix}"
    assert normalize_text(document.text) == document.text


def test_html_title_tag_then_file_name(tmp_path: Path) -> None:
    titled = load_one(write(tmp_path / "a.html", "<html><head><title>Tag title</title></head><p>Hi.</p></html>"))
    untitled = load_one(write(tmp_path / "some-page.html", "<html><body><p>Hi there.</p></body></html>"))
    assert (titled.title, untitled.title) == ("Tag title", "some page")


def test_html_canonical_url_is_the_source(tmp_path: Path) -> None:
    page = ARTICLE_HTML.replace("</head>", '<link rel="canonical" href="https://news.example.com/bridge"></head>')
    document = load_one(write(tmp_path / "saved.html", page))
    assert (document.source, document.metadata["url"]) == ("https://news.example.com/bridge",) * 2


def test_html_with_only_scripts(tmp_path: Path) -> None:
    page = "<html><head><title>x</title><script>alert(1)</script></head><body></body></html>"
    assert load_error(write(tmp_path / "empty.html", page)) == "no readable text in the HTML (only scripts/markup?)"


# --- .pdf --------------------------------------------------------------------------------------

THREE_PAGES = [
    ["Page one heading", "an inter-", "national story"],
    ["Page two   has", "wrapped lines"],
    ["Page three closes"],
]


def test_pdf_pages_and_offsets(tmp_path: Path) -> None:
    document = load_one(write(tmp_path / "report.pdf", pdf_bytes(THREE_PAGES, title="Annual report")))
    pages = ["Page one heading an international story", "Page two has wrapped lines", "Page three closes"]
    assert document.text == "\n\n".join(pages)
    assert (document.title, document.source, document.metadata) == (
        "Annual report",
        "report.pdf",
        {"pages": 3, "date_source": "pdf_metadata"},  # no date printed on page 1: the file's date, marked so
    )
    assert len(document.page_starts) == 3
    for number, (start, page) in enumerate(zip(document.page_starts, pages, strict=True), 1):
        assert document.text[start:].startswith(page)
        assert document.page_at(start) == document.page_at(start + len(page) - 1) == number
    assert document.published_at is not None  # reportlab writes a /CreationDate


def test_pdf_page_without_text_keeps_page_numbers(tmp_path: Path) -> None:
    pages = [[], ["Second page text"], [], ["Fourth page text"], []]
    document = load_one(write(tmp_path / "gaps.pdf", pdf_bytes(pages)))
    assert document.text == "Second page text\n\nFourth page text"
    assert document.page_starts == (0, 0, 16, 18, 34)
    assert document.text[document.page_starts[1] :].startswith("Second page text")
    assert document.text[document.page_starts[3] :].startswith("Fourth page text")
    assert document.page_at(0) == 2
    assert document.page_at(document.text.index("Fourth")) == 4
    assert document.title == "Second page text"  # no /Title: the first line
    assert document.metadata == {"pages": 5, "date_source": "pdf_metadata"}


def test_pdf_without_text(tmp_path: Path) -> None:
    reason = load_error(write(tmp_path / "scan.pdf", pdf_bytes([[], []])))
    assert reason == "no extractable text (scanned PDF? it needs OCR first)"


def test_pdf_encrypted_with_a_password(tmp_path: Path) -> None:
    path = write(tmp_path / "locked.pdf", encrypted(pdf_bytes(THREE_PAGES), user_password="secret"))
    assert load_error(path) == "encrypted PDF (password required)"


def test_pdf_encrypted_with_an_empty_user_password_opens(tmp_path: Path) -> None:
    path = write(tmp_path / "protected.pdf", encrypted(pdf_bytes(THREE_PAGES), user_password=""))
    assert load_one(path).text.startswith("Page one heading")


@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_pdf_truncated(tmp_path: Path, keep: float) -> None:
    data = pdf_bytes(THREE_PAGES)
    reason = load_error(write(tmp_path / "cut.pdf", data[: int(len(data) * keep)]))
    assert reason.startswith("corrupt or unreadable PDF (")


def test_pdf_not_a_pdf(tmp_path: Path) -> None:
    assert load_error(write(tmp_path / "fake.pdf", "just some text")).startswith("corrupt or unreadable PDF")


# --- .json and .jsonl --------------------------------------------------------------------------


def article(n: int, **extra: object) -> dict[str, object]:
    return {"title": f"Story {n}", "body": f"Body of story {n}.", **extra}


@pytest.mark.parametrize(
    "payload",
    [
        [article(1), article(2)],
        {"articles": [article(1), article(2)]},
        {"documents": [article(1), article(2)]},
        {"items": [article(1), article(2)]},
    ],
)
def test_json_lists(tmp_path: Path, payload: object) -> None:
    documents = load_file(write(tmp_path / "dump.json", json.dumps(payload)), max_bytes=MAX)
    assert [d.title for d in documents] == ["Story 1", "Story 2"]
    assert [d.source for d in documents] == ["dump.json record 1", "dump.json record 2"]


def test_json_single_object_with_every_field(tmp_path: Path) -> None:
    record = {
        "title": " Vote  count ",
        "text": "Counting\u00a0ended.\r\n\r\n\r\nResults today.",
        "url": "https://example.com/vote",
        "published_at": "May 3, 2025",
        "author": "Sam",
        "category": "politics",
        "score": 0.5,
        "tags": ["a"],
        "extra": None,
    }
    document = load_one(write(tmp_path / "one.json", json.dumps(record)))
    assert (document.title, document.text) == ("Vote count", "Counting ended.\n\nResults today.")
    assert (document.source, document.published_at) == ("https://example.com/vote", "2025-05-03")
    assert document.metadata == {
        "url": "https://example.com/vote",
        "author": "Sam",
        "category": "politics",
        "score": 0.5,
        "tags": ["a"],
        "extra": None,
    }


def test_json_url_is_the_source_the_outlet_is_metadata_and_date_is_accepted(tmp_path: Path) -> None:
    record = article(1, source="Wire", url="https://x.test/1", date="2025/05/03")
    document = load_one(write(tmp_path / "one.json", json.dumps(record)))
    assert (document.source, document.published_at, document.metadata) == (
        "https://x.test/1",
        "2025-05-03",
        {"url": "https://x.test/1", "outlet": "Wire"},
    )


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ('{"title": "x", ', "invalid JSON ("),
        ("[]", "no articles in the file"),
        ("42", "expected a JSON object or a list of objects, got number"),
    ],
)
def test_json_whole_file_failures(tmp_path: Path, content: str, reason: str) -> None:
    assert reason in load_error(write(tmp_path / "bad.json", content))


JSONL = "\n".join(
    [
        json.dumps(article(1)),
        "{not json",
        json.dumps({"title": "Bad body", "body": 7}),
        "",
        json.dumps(article(5, category="sport", url="https://x.test/5")),
        json.dumps(["not", "an", "object"]),
        json.dumps(article(7, published_at="someday")),
        json.dumps({"title": "Story 8", "body": "A raw\u2028line separator"}, ensure_ascii=False),
    ]
)


def test_jsonl_bad_lines_do_not_stop_good_ones(tmp_path: Path) -> None:
    path = write(tmp_path / "dump.jsonl", JSONL)
    documents, failures = load_files([path], max_bytes=MAX)
    assert [d.title for d in documents] == ["Story 1", "Story 5", "Story 8"]
    assert [d.source for d in documents] == ["dump.jsonl line 1", "https://x.test/5", "dump.jsonl line 8"]
    assert documents[1].metadata == {"category": "sport", "url": "https://x.test/5"}
    assert documents[2].text == "A raw\nline separator"  # U+2028 inside a string did not split the line
    assert [f.source for f in failures] == [
        "dump.jsonl line 2",
        "dump.jsonl line 3",
        "dump.jsonl line 6",
        "dump.jsonl line 7",
    ]
    assert failures[0].reason.startswith("invalid JSON (")
    assert failures[1:] == [
        Failure("dump.jsonl line 3", "'body' must be a string, not number"),
        Failure("dump.jsonl line 6", "a record must be a JSON object, not array"),
        Failure(
            "dump.jsonl line 7",
            "published_at: unrecognised date 'someday' (use YYYY-MM-DD, ISO 8601 or e.g. 'May 3, 2025')",
        ),
    ]
    assert [d.title for d in load_file(path, max_bytes=MAX)] == ["Story 1", "Story 5", "Story 8"]


def test_jsonl_with_no_good_record(tmp_path: Path) -> None:
    reason = load_error(write(tmp_path / "bad.jsonl", "{oops\n[1]\n"))
    assert reason.startswith("no valid records (2 failed; first: bad.jsonl line 1: invalid JSON")


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ("a string", "a record must be a JSON object, not string"),
        ({"body": "text"}, "missing 'title'"),
        ({"title": "t"}, "missing 'body' (or 'text')"),
        ({"title": "t", "body": None}, "missing 'body'"),
        ({"title": "t", "body": ["a", "b"]}, "'body' must be a string, not array"),
        ({"title": 3, "body": "b"}, "'title' must be a string, not number"),
        ({"title": "t", "text": {"x": 1}}, "'text' must be a string, not object"),
        ({"title": "t", "body": "b", "url": 5}, "'url' must be a string, not number"),
        ({"title": "t", "body": "b", "published_at": 2025}, "'published_at' must be a string, not number"),
        ({"title": "t", "body": "b", "source": True}, "'source' must be a string, not boolean"),
        ({"title": "t", "body": " \u200b "}, "no text (empty or whitespace only)"),
    ],
)
def test_load_records_wrong_types(record: object, reason: str) -> None:
    assert load_records([("feed line 3", record)]) == ([], [Failure("feed line 3", reason)])


# --- load_files --------------------------------------------------------------------------------


def test_load_files_collects_failures_and_keeps_going(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    write(corpus / "good.txt", "Headline\n\nGood body.")
    write(corpus / "nested" / "doc.md", "# Nested\n\nNested body.")
    write(corpus / "nested" / "bin.txt", b"\x89PNG\xff\xd8 binary")
    write(corpus / "nested" / "feed.jsonl", json.dumps(article(1)) + "\n{bad\n")
    write(corpus / "empty.html", b"")
    write(corpus / "data.csv", "a,b")
    write(corpus / ".secret.txt", "Hidden\n\nNever read.")
    documents, failures = load_files([corpus, tmp_path / "missing"], max_bytes=MAX)
    assert [d.title for d in documents] == ["Headline", "Nested", "Story 1"]
    assert [f.source for f in failures] == [
        str(corpus / "data.csv"),
        str(corpus / "empty.html"),
        str(corpus / "nested" / "bin.txt"),
        "feed.jsonl line 2",
        str(tmp_path / "missing"),
    ]
    assert failures[-1].reason == "no such file or folder"


@pytest.mark.parametrize("junk", ["untitled", "Microsoft Word - draft3.docx", "report-final.pdf", "Document1"])
def test_placeholder_pdf_titles_give_way_to_the_first_line(tmp_path: Path, junk: str) -> None:
    document = load_one(write(tmp_path / "r.pdf", pdf_bytes(THREE_PAGES, title=junk)))
    assert document.title == "Page one heading an international story"
