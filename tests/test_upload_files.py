"""Uploads named by their files and saved file by file (#12): canonical URLs, progress, the library's dates."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from qa_app import contract, ingest
from qa_app.app.uploads import index_uploads, progress_text
from qa_app.config import Settings
from qa_app.documents import load_files, make_document
from qa_app.library import Library, Progress
from tests import test_app
from tests.fakes import HashingEmbedder
from tests.inprocess_cli import run_cli
from tests.test_app import run_app, unescape

seed_index, index_dir, reader = test_app.seed_index, test_app.index_dir, test_app.reader  # the app tests' fixtures

CANONICAL = "https://www.torinodaily.example/2025/05/12/tram-line-reopens"
PAGE = f"""<html><head><title>Tram line 4 reopens | Torino Daily</title>
<link rel="canonical" href="{CANONICAL}">
<meta property="og:site_name" content="Torino Daily"></head>
<body><article><h1>Tram line 4 reopens</h1>
<p>The tram line 4 reopened in Turin on Monday after eight months of track works along Via Nizza.</p>
<p>The city said trams will run every six minutes at peak hours, and night buses stop replacing them.</p>
</article></body></html>""".encode()
SHORT = b"The harbour cafe reopened on Sunday. Fishermen came back for breakfast."


class Upload:
    """What Streamlit hands over: a name and the bytes."""

    def __init__(self, name: str, data: bytes) -> None:
        self.name, self.data = name, data

    def getvalue(self) -> bytes:
        return self.data


def _long_article(sentences: int) -> str:
    return " ".join(f"The council met for session {n} and debated the port budget at length." for n in range(sentences))


def test_an_html_page_with_a_canonical_url_is_reported_by_its_file(library: Library, tmp_path: Path) -> None:
    progress: list[Progress] = []
    uploads = [Upload("tram.html", PAGE), Upload("cafe.txt", SHORT), Upload("cafe.txt", b"Another cafe.")]
    results = index_uploads(library, uploads, progress.append)
    assert (results[0].file, results[0].status) == ("cafe.txt", "failed")  # the second cafe.txt is refused
    by_file = {r.file: r for r in results[1:]}
    assert set(by_file) == {"tram.html", "cafe.txt"}
    assert by_file["tram.html"].source == CANONICAL  # the article keeps its URL as its source (and identity)
    assert by_file["tram.html"].status == "indexed" and by_file["tram.html"].title == "Tram line 4 reopens"
    assert set(progress[-1].saved) == {"tram.html", "cafe.txt"}  # progress names the files, not the URL

    path = tmp_path / "pages" / "tram.html"
    path.parent.mkdir()
    path.write_bytes(PAGE)
    again = contract.index_json(library.add([path]))["results"]
    assert again == [{"source": CANONICAL, "status": "already indexed", "doc_id": by_file["tram.html"].doc_id,
                      "title": "Tram line 4 reopens", "chunks": 0, "reason": None, "file": str(path)}]  # fmt: skip


def test_records_and_failures_name_their_file_and_line(fake_library: Library, tmp_path: Path) -> None:
    feed = tmp_path / "feed.jsonl"
    feed.write_text('{"title": "A", "body": "Boats came back.", "url": "https://a.example/1"}\n{"title": 3}\n')
    results = fake_library.add([feed])
    assert [(r.status, r.source, r.file) for r in results] == [
        ("failed", "feed.jsonl line 2", "feed.jsonl line 2"),
        ("indexed", "https://a.example/1", f"{feed} line 1"),
    ]
    documents, _ = load_files([feed], max_bytes=10**6, uploads=True)
    assert [d.file for d in documents] == ["feed.jsonl line 1"]


def test_a_short_file_is_saved_before_a_long_one_after_it_is_embedded(tmp_path: Path) -> None:
    embedded: list[str] = []

    class Recording(HashingEmbedder):
        def embed(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
            embedded.extend(texts)
            return super().embed(texts, batch_size)

    settings = Settings(index_dir=tmp_path / "unused", chunk_words=40, max_chunk_words=60)
    short = make_document(title="Cafe", text=SHORT.decode(), source="cafe.txt")
    long = make_document(title="Council", text=_long_article(40), source="council.txt")
    chunks = {d.source: len(c) for d, c in ingest.chunk([short, long], settings)}
    assert chunks["cafe.txt"] == 1 and chunks["council.txt"] > 4

    progress: list[Progress] = []
    seen_when_saved: list[list[str]] = []

    def report(p: Progress) -> None:
        progress.append(p)
        if p.saved:
            seen_when_saved.append(list(embedded))

    groups = ingest.prepare_groups([short, long], Recording(), settings, report, group_chunks=4)
    sizes = [[item.document.source for item in group] for group in groups]
    assert sizes == [["cafe.txt"], ["council.txt"]]  # the long one does not hold the short one back
    saved = [(p.docs_done, p.saved) for p in progress if p.saved]
    assert saved == [(1, ("cafe.txt",)), (2, ("council.txt",))]
    assert not any("council" in text.lower() for text in seen_when_saved[0])  # saved before the long is embedded
    assert [p.chunks_done for p in progress] == sorted(p.chunks_done for p in progress)
    assert progress[-1] == Progress(2, 2, sum(chunks.values()), sum(chunks.values()), ("council.txt",))


def test_groups_stay_within_their_bound_and_keep_the_order() -> None:
    items = [(make_document(title=str(n), text=f"Text {n}.", source=f"{n}.txt"), [None] * size)
             for n, size in enumerate([2, 1, 3, 9, 1, 1])]  # fmt: skip
    groups = [[len(chunks) for _, chunks in group] for group in ingest.groups(items, 4)]
    assert groups == [[2, 1], [3], [9], [1, 1]]
    assert [doc.source for group in ingest.groups(items, 4) for doc, _ in group] == [d.source for d, _ in items]


def test_progress_text_names_the_files_just_saved() -> None:
    p = Progress(3, 5, 40, 120, ("tram.html", "cafe.txt"))
    assert (
        progress_text(p, 4.0) == "Embedded 40/120 chunks · 3/5 files saved · 10.0 chunks/s · saved tram.html, cafe.txt"
    )
    many = Progress(5, 5, 5, 5, ("a.md", "b.md", "c.md", "d.md", "e.md"))
    assert progress_text(many, 0.0).endswith("· saved a.md, b.md, c.md +2 more")


def test_upload_table_shows_the_file_of_a_page_with_a_canonical_url(index_dir: Path, reader: Library) -> None:
    at = run_app("pages/1_Library.py")
    at.file_uploader[0].set_value([("tram.html", PAGE, "text/html")])
    at.button[0].click().run()
    assert not at.exception, at.exception
    rows = {unescape(file): row for file, row in at.table[0].value.iterrows()}  # cells are escaped Markdown
    assert list(rows) == ["tram.html"]
    assert unescape(rows["tram.html"]["outlet"]) == "Torino Daily"
    assert unescape(rows["tram.html"]["title"]) == "Tram line 4 reopens"


def test_library_table_marks_a_pdf_file_date_like_the_cards(index_dir: Path, reader: Library) -> None:
    today = dt.date.today().isoformat()  # a PDF made today: its file date is no later than the upload
    reader.add([make_document(title="Harbour works begin", text="Works on the harbour wall began on Monday.",
                              source="harbour.pdf", published_at=today,
                              metadata={"date_source": "pdf_metadata", "pages": 1})])  # fmt: skip
    assert next(d for d in reader.documents() if d.title == "Harbour works begin").date_source == "pdf_metadata"
    at = run_app("pages/1_Library.py")
    table = at.dataframe[0].value
    published = dict(zip(table["title"], table["published"], strict=True))
    assert published["Harbour works begin"] == f"{today} (PDF file date)"
    assert all("(" not in value for title, value in published.items() if title != "Harbour works begin")


def test_cli_progress_counts_files_saved_and_json_names_the_file(tmp_path: Path, model) -> None:
    pages = tmp_path / "pages"
    pages.mkdir()
    (pages / "tram.html").write_bytes(PAGE)
    (pages / "cafe.txt").write_bytes(SHORT)
    code, out, err = run_cli("index", pages, "--index-dir", tmp_path / "index", "--json")
    assert code == 0, err
    assert "2/2 files saved" in err  # the bar's last state, on stderr
    results = {r["file"]: r for r in json.loads(out)["results"]}
    assert set(results) == {str(pages / "tram.html"), str(pages / "cafe.txt")}
    assert results[str(pages / "tram.html")]["source"] == CANONICAL
