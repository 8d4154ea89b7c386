"""Article metadata a reader relies on: outlets, titles kept out of the body, publication dates (#12)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from reportlab.pdfgen import canvas

from qa_app.documents import load_file, normalize_text
from qa_app.library import Library
from qa_app.metadata import drop_leading_title, leading_byline, printed_date, without_site_name
from qa_app.records import SearchFilters

MAX = 10 * 1024 * 1024

TORINO_PAGE = """<!doctype html>
<html><head>
<title>Tram line 4 reopens | Torino Daily</title>
<meta property="og:site_name" content="Torino Daily">
<meta property="article:published_time" content="2025-05-03T08:00:00Z">
</head><body>
<article>
<h1>Tram line 4 reopens</h1>
<p>Tram line 4 reopened on Saturday after eleven months of track renewal between Porta Nuova and Falchera.</p>
<p>The city transport company said trams will run every six minutes at peak hours.</p>
</article>
</body></html>"""


def pdf_bytes(pages: list[list[str]], *, title: str | None = None) -> bytes:
    """A PDF made with reportlab (it stamps today's /CreationDate), one list of lines per page."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    pdf.setTitle(title or "")
    for lines in pages:
        for n, line in enumerate(lines):
            pdf.drawString(72, 720 - 14 * n, line)
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


NEWS_PDF = [
    ["Harbour strike ends after three weeks", "By Ana Ruiz, Genoa, May 20, 2025",
     "The port of Genoa reopened on Monday after dockers", "accepted a new contract on Sunday night."],
    ["Ships queued outside the port for days.", "The union said the deal runs until 2028."],
]  # fmt: skip


def load_one(path: Path, content: bytes | str):
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    (document,) = load_file(path, max_bytes=MAX)
    return document


# --- HTML: the site's name is the outlet, the <h1> is not part of the body ----------------------------------


def test_html_site_name_is_the_outlet_and_the_file_stays_the_source(tmp_path: Path) -> None:
    document = load_one(tmp_path / "tram.html", TORINO_PAGE)
    assert document.metadata["outlet"] == "Torino Daily"
    assert document.source == "tram.html"
    assert document.title == "Tram line 4 reopens"  # without " | Torino Daily"


def test_html_heading_that_repeats_the_title_leaves_the_body(tmp_path: Path) -> None:
    document = load_one(tmp_path / "tram.html", TORINO_PAGE)
    assert document.text.startswith("Tram line 4 reopened on Saturday")
    assert "Tram line 4 reopens" not in document.text
    assert normalize_text(document.text) == document.text  # stored as normalised: offsets point into it


def test_outlet_is_shown_and_filtered_everywhere(tmp_path: Path, library: Library) -> None:
    (tmp_path / "tram.html").write_text(TORINO_PAGE, encoding="utf-8")
    (tmp_path / "ferry.md").write_text(
        "---\ntitle: Ferry strike\nsource: Adriatic Wire\n---\nFerries between Split and Hvar stopped on Friday.\n",
        encoding="utf-8",
    )
    results = library.add([tmp_path / "tram.html", tmp_path / "ferry.md"])
    assert {r.source for r in results} == {"tram.html", "ferry.md"}  # file names, not outlets
    outlets = {info.source: info.outlet for info in library.documents()}
    assert outlets == {"tram.html": "Torino Daily", "ferry.md": "Adriatic Wire"}
    passages = library.search("when do trams run", k=5, filters=SearchFilters(sources=("torino daily",)))
    assert passages and {p.source for p in passages} == {"tram.html"}
    passages = library.search("when do trams run", k=5, filters=SearchFilters(sources=("Adriatic",)))
    assert {p.source for p in passages} == {"ferry.md"}


def test_markdown_heading_repeating_the_front_matter_title_leaves_the_body(tmp_path: Path) -> None:
    document = load_one(tmp_path / "a.md", "---\ntitle: Storm warning\n---\n# Storm warning\n\nWinds of 90 km/h.\n")
    assert (document.title, document.text) == ("Storm warning", "Winds of 90 km/h.")


# --- PDF: printed date first, file date marked; the headline is not the first sentence -----------------------


def test_pdf_date_printed_on_the_first_page_wins_over_the_file_date(tmp_path: Path) -> None:
    document = load_one(tmp_path / "strike.pdf", pdf_bytes(NEWS_PDF, title="untitled"))
    assert document.published_at == "2025-05-20"  # reportlab stamped today's date as /CreationDate
    assert document.metadata["date_source"] == "text"


def test_pdf_without_a_printed_date_falls_back_to_the_file_date_and_says_so(tmp_path: Path) -> None:
    pages = [["Harbour strike ends", "The port reopened on Monday."], ["More on page two."]]
    document = load_one(tmp_path / "strike.pdf", pdf_bytes(pages))
    assert document.published_at is not None
    assert document.metadata["date_source"] == "pdf_metadata"


def test_pdf_headline_is_the_title_and_not_joined_to_the_first_sentence(tmp_path: Path) -> None:
    document = load_one(tmp_path / "strike.pdf", pdf_bytes(NEWS_PDF, title="untitled"))
    assert document.title == "Harbour strike ends after three weeks"
    first = document.text.split("\n\n")[0]
    assert first == "The port of Genoa reopened on Monday after dockers accepted a new contract on Sunday night."
    assert document.metadata["byline"] == "By Ana Ruiz, Genoa, May 20, 2025"  # not a sentence to quote either
    assert document.text[document.page_starts[1] :].startswith("Ships queued")
    assert document.page_at(document.text.index("The union")) == 2


def test_pdf_metadata_title_keeps_a_different_headline_in_the_body(tmp_path: Path) -> None:
    document = load_one(tmp_path / "strike.pdf", pdf_bytes(NEWS_PDF, title="Genoa port: the strike is over"))
    assert document.title == "Genoa port: the strike is over"
    assert document.text.startswith("Harbour strike ends after three weeks\n\nBy Ana Ruiz")  # not a leading byline


# --- the helpers -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Genoa, May 20, 2025 — The port", "May 20, 2025"),
        ("Tuesday 3rd June 2025\nText", "June 3, 2025"),
        ("September 30, 2025", "September 30, 2025"),
        ("Published Sept. 9, 2024", "Sep 9, 2024"),
        ("2025-01-31 edition", "2025-01-31"),
        ("no date here, only 2025 figures", None),
    ],
)
def test_printed_date(text: str, expected: str | None) -> None:
    assert printed_date(text) == expected


def test_printed_date_only_near_the_top() -> None:
    assert printed_date("x " * 400 + "May 20, 2025") is None


def test_leading_byline() -> None:
    assert leading_byline("By Jo Park\n\nThe text.") == ("By Jo Park", "The text.")
    assert leading_byline("Genoa, 20 May 2025\n\nThe text.") == ("Genoa, 20 May 2025", "The text.")
    assert leading_byline("Bystanders fled\n\nThe text.") == ("", "Bystanders fled\n\nThe text.")
    wrapped = "By the river a sentence goes on\nand on."
    assert leading_byline(wrapped) == ("", wrapped)


def test_title_helpers() -> None:
    assert without_site_name("Bridge reopens — The Daily", "the daily") == "Bridge reopens"
    assert without_site_name("A | B", None) == "A | B"
    assert drop_leading_title("Bridge reopens\nThe bridge opened.", "Bridge reopens | Daily") == (
        "Bridge reopens",
        "The bridge opened.",
    )
    assert drop_leading_title("Only a title", "Only a title") == ("Only a title", "Only a title")
    assert drop_leading_title("Breaking news\nThe bridge opened.", "Bridge reopens") == (
        "Bridge reopens",
        "Breaking news\nThe bridge opened.",
    )
