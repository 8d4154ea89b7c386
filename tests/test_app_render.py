"""The UI's pure helpers: escaping, highlighting, context windows, exports, upload handling, charts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from qa_app.app import answer_view, article_view, cards, charts, render
from qa_app.app.export import ExportTurn, answer_plain_text, conversation_markdown
from qa_app.app.uploads import index_uploads, progress_fraction, progress_text
from qa_app.errors import QAError
from qa_app.library import Library, Progress
from qa_app.records import CONFLICT, FALLBACK, Answer, Citation, Document, DocumentInfo, Note, Passage
from tests.articles import ARTICLES
from tests.e2e import IMG, SCRIPT

TEXT = (
    "The council met on Monday. After a long debate, the council approved the budget for the new harbour "
    "bridge, which will cost 4.2 million dollars. Work starts in June and should take a year. "
    "Residents were invited to comment."
)


def doc(text: str = TEXT, **changes) -> Document:
    values = {
        "doc_id": "d1",
        "title": "Budget approved",
        "text": text,
        "source": "budget.txt",
        "published_at": "2025-05-03",
        "metadata": {},
    }
    return Document(**{**values, **changes})


def citation(text: str = TEXT, phrase: str = "the council approved the budget", n: int = 1, **changes) -> Citation:
    start = text.index(phrase)
    values = {
        "n": n,
        "doc_id": "d1",
        "title": "Budget approved",
        "source": "budget.txt",
        "published_at": "2025-05-03",
        "start": start,
        "end": start + len(phrase),
        "quote": phrase,
    }
    return Citation(**{**values, **changes})


# ---- escaping and highlighting ------------------------------------------------------------------


def test_esc_neutralises_tags_and_attributes() -> None:
    assert render.esc(f'{SCRIPT}"{IMG}') == (
        "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&lt;img src=x onerror=alert(1)&gt;"
    )


@pytest.mark.parametrize("text", ["[link](javascript:alert(1))", "**bold** _it_ `code` # head", "<b>x</b> $x$"])
def test_escape_markdown_leaves_no_active_syntax(text: str) -> None:
    escaped = render.escape_markdown(text)
    for ch in "[]()*_`#<>$":
        assert escaped.count(ch) == escaped.count("\\" + ch)


@pytest.mark.parametrize(
    ("start", "end"),
    [(0, 10), (len(TEXT) - 10, len(TEXT)), (40, 80), (0, len(TEXT))],
)
def test_context_window_keeps_the_exact_span(start: int, end: int) -> None:
    snippet = cards.context_window(TEXT, start, end, chars=30)
    assert snippet.quote == TEXT[start:end]
    joined = snippet.before + snippet.quote + snippet.after
    assert joined in TEXT
    assert snippet.clipped_start == (not TEXT.startswith(joined))
    assert snippet.clipped_end == (not TEXT.endswith(joined))
    assert len(snippet.before) <= 30 and len(snippet.after) <= 30


def test_context_window_cuts_at_word_boundaries() -> None:
    start = TEXT.index("the council approved")
    snippet = cards.context_window(TEXT, start, start + 20, chars=25)
    assert snippet.before == "After a long debate, "
    assert snippet.after.startswith(" the budget") and not snippet.after.endswith(("brid", "bri"))


def test_context_window_clamps_out_of_range_offsets() -> None:
    snippet = cards.context_window("short", 3, 99)
    assert (snippet.before, snippet.quote, snippet.after) == ("sho", "rt", "")


def test_snippet_html_escapes_and_marks_only_the_quote() -> None:
    text = f"Before {SCRIPT} the quote {IMG} after"
    start = text.index("the quote")
    html = cards.snippet_html(cards.context_window(text, start, start + len("the quote"), chars=150))
    assert html == (
        'Before &lt;script&gt;alert(1)&lt;/script&gt; <mark class="qa-quote">the quote</mark>'
        " &lt;img src=x onerror=alert(1)&gt; after"
    )


def test_highlight_html_marks_the_span_with_an_id() -> None:
    text = "a <b> c"
    assert article_view.highlight_html(text, 2, 5) == 'a <mark id="cited-span" class="qa-quote">&lt;b&gt;</mark> c'
    assert article_view.highlight_html(text, None, None) == "a &lt;b&gt; c"
    assert article_view.highlight_html(text, 5, 2) == "a &lt;b&gt; c"  # an invalid span highlights nothing


def test_answer_html_styles_only_known_markers() -> None:
    html = answer_view.answer_html(f"It costs 4.2 million [1]. See note [7] {SCRIPT} [2]", markers=[1, 2])
    assert '<span class="qa-marker">[1]</span>' in html and '<span class="qa-marker">[2]</span>' in html
    assert "[7]" in html and '"qa-marker">[7]' not in html
    assert "<script>" not in html


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        ("3", "9", (3, 9)),
        ("0", "10", (0, 10)),
        ("9", "3", None),
        ("-1", "4", None),
        ("2", "11", None),
        ("x", "4", None),
        (None, "4", None),
        ("4", "4", None),
    ],
)
def test_parse_span(start, end, expected) -> None:
    assert article_view.parse_span(start, end, 10) == expected


def test_format_date() -> None:
    assert render.format_date("2025-05-03") == "3 May 2025"
    assert render.format_date("2025-05-03T10:00:00Z") == "3 May 2025"
    assert render.format_date(None) == "undated"
    assert render.format_date("spring 2024") == "spring 2024"


def test_outlet_prefers_metadata() -> None:
    assert render.outlet_of(doc(metadata={"outlet": "Reuters"}), "x") == "Reuters"
    assert render.outlet_of(doc(metadata={"outlet": "  "}), "x") == "budget.txt"
    assert render.outlet_of(None, "fallback.txt") == "fallback.txt"


# ---- cards and article view ---------------------------------------------------------------------


def test_citation_card_shows_the_quote_in_context() -> None:
    document = doc(metadata={"outlet": "Harbour Times"}, page_starts=(0, 120))
    c = citation(page=1)
    card = cards.citation_card(c, lambda _id: document, chars=40)
    assert card.snippet.quote == c.quote and card.snippet.before.endswith("debate, ")
    assert card.meta == "Harbour Times · 3 May 2025 · p.\u00a01"  # "p. 1" never wraps (#12)
    assert card.link_params == {"doc": "d1", "start": str(c.start), "end": str(c.end)}
    html = cards.card_html(card)
    assert f'<mark class="qa-quote">{c.quote}</mark>' in html and "[1]" in html


def test_citation_card_of_a_deleted_article_shows_the_quote_alone() -> None:
    card = cards.citation_card(citation(), lambda _id: None)
    assert (card.snippet.before, card.snippet.after, card.outlet) == ("", "", "budget.txt")


def test_card_html_escapes_title_outlet_and_text() -> None:
    text = f"{SCRIPT} The tram {IMG} costs 80 million."
    phrase = f"The tram {IMG} costs 80 million."
    document = doc(text=text, title=SCRIPT, metadata={"outlet": IMG})
    html = cards.card_html(cards.citation_card(citation(text, phrase, title=SCRIPT), lambda _id: document))
    assert SCRIPT not in html and IMG not in html and "<img" not in html
    assert html.count("&lt;script&gt;") == 2 and html.count("&lt;img") == 2


def test_passage_card_keeps_the_passage_whole() -> None:
    passage = Passage(7, "d1", "T", "s.txt", None, 10, 40, TEXT[10:40], 0.5, page=2)
    card = cards.passage_card(passage, lambda _id: None)
    assert card.snippet.before == TEXT[10:40] and card.n is None and card.score == 0.5
    assert "score 0.500" in cards.card_html(card) and "<mark" not in cards.card_html(card)


def test_article_and_metadata_html_are_escaped() -> None:
    document = doc(text=f"Hello {SCRIPT} world", title=IMG, metadata={"author": SCRIPT, "tags": [IMG]})
    body = article_view.article_html(document, (0, 5))
    assert body.startswith('<div class="qa-article"><mark id="cited-span" class="qa-quote">Hello</mark>')
    rows = article_view.metadata_rows(document)
    assert ("Author", SCRIPT) in rows and ("Published", "3 May 2025") in rows
    for html in (body, article_view.metadata_html(rows), article_view.title_html(document.title, document.source)):
        assert SCRIPT not in html and "<img" not in html


def test_clip_cuts_long_passages_at_a_word() -> None:
    assert cards.clip("short text", 50) == "short text"
    assert cards.clip("one two three four five", 12) == "one two…"
    assert cards.clip("x" * 30, 10) == "x" * 10 + "…"


@pytest.mark.parametrize(
    ("value", "linked"),
    [
        ("https://example.com/a?b=1&c=2", True),
        ("http://example.com", True),
        ("javascript:alert(1)", False),
        ('https://example.com/"onmouseover="alert(1)', True),  # quoted, so it cannot leave the attribute
        ("https://exa mple.com", False),
        ("data:text/html,<script>alert(1)</script>", False),
        ("plain text", False),
    ],
)
def test_web_link_only_links_http_urls(value: str, linked: bool) -> None:
    html = article_view.web_link(value)
    assert html.startswith("<a href=") == linked
    assert '"onmouseover' not in html and "<script" not in html


def test_split_notes() -> None:
    note = Note(CONFLICT, "Note: the sources differ on this — compare A (2025-01-01) [1] with B (2025-02-01) [2].")
    beside = Note(FALLBACK, "The generative model was unavailable (timeout); this answer is extractive.")
    answer = Answer("q", f"First [1]. Second [2]. {note.text}", True, notes=(note, beside))
    assert answer_view.split_notes(answer) == ("First [1]. Second [2].", (note, beside))


def test_filters_summary() -> None:
    assert answer_view.filters_summary({"published_after": None, "sources": ()}) == ""
    summary = answer_view.filters_summary(
        {"published_after": "2025-01-01", "published_before": "2025-02-01", "sources": ("AP", "Reuters")}
    )
    assert summary == "from 2025-01-01 · to 2025-02-01 · sources: AP, Reuters"


# ---- exports ------------------------------------------------------------------------------------


def test_answer_plain_text_lists_numbered_sources() -> None:
    c1, c2 = citation(n=1), citation(phrase="Work starts in June", n=2, page=3)
    answer = Answer("q", f"{c1.quote} [1] {c2.quote} [2]", True, (c1, c2))
    text = answer_plain_text(answer, {"d1": "Harbour Times"})
    assert text.splitlines() == [
        answer.text,
        "",
        "Sources:",
        "[1] Budget approved — Harbour Times, 3 May 2025",
        f"    “{c1.quote}”",
        "[2] Budget approved — Harbour Times, 3 May 2025, p. 3",
        f"    “{c2.quote}”",
    ]


def test_conversation_markdown_escapes_untrusted_text() -> None:
    c = citation(title=f"[click](javascript:alert(1)) {SCRIPT}")
    answered = Answer("q1", f"{c.quote} [1] and [2](javascript:alert(1))", True, (c,))
    abstained = Answer("q2", "The indexed articles do not answer this question.", False)
    markdown = conversation_markdown(
        [
            ExportTurn(f"Who approved it? {IMG}", answered, {"d1": "Harbour Times"}),
            ExportTurn("Boiling point of tungsten?", abstained, {}),
            ExportTurn("bad", None, {}, error="k too large"),
        ],
        exported_at="2025-05-04 10:00",
    )
    assert markdown.startswith("# Newsdesk Q&A — conversation\n\n_Exported 2025-05-04 10:00_\n")
    assert "## 1. Who approved it? \\<img src=x onerror=alert(1)\\>" in markdown
    assert "1. \\[click\\](javascript:alert(1)) \\<script\\>alert(1)\\</script\\>" in markdown
    assert f"   > {c.quote}" in markdown and f"characters {c.start}–{c.end}" in markdown
    assert "## 2. Boiling point of tungsten?" in markdown and "do not answer" in markdown
    assert "_No answer: k too large_" in markdown
    assert f"{c.quote} [1] and \\[2\\](javascript" in markdown  # markers stay readable, links stay inert
    assert not re.search(r"(?<!\\)[<>]", markdown.split("_Exported")[1].replace("   >", ""))


# ---- uploads ------------------------------------------------------------------------------------


def test_progress_text_and_fraction() -> None:
    p = Progress(docs_done=2, docs_total=5, chunks_done=40, chunks_total=120)
    assert progress_text(p, 4.0) == "Embedded 40/120 chunks · 2/5 files saved · 10.0 chunks/s"
    assert progress_text(Progress(0, 1, 0, 0), 0.0) == "Embedded 0/0 chunks · 0/1 file saved"
    assert progress_fraction(p) == pytest.approx(1 / 3)
    assert progress_fraction(Progress(1, 2, 0, 0)) == 0.5
    assert progress_fraction(Progress(0, 0, 0, 0)) == 1.0


@dataclass
class FakeUpload:
    name: str
    data: bytes

    def getvalue(self) -> bytes:
        return self.data


def test_index_uploads_saves_safe_names_in_a_temporary_folder(
    fake_library: Library, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen: list[Path] = []
    real_add = Library.add

    def spy(self, inputs, progress=None, uploads=False):
        seen.extend(Path(p) for p in inputs)
        assert all(p.exists() for p in seen)
        assert uploads  # known by their names, not the temporary folder
        return real_add(self, inputs, progress=progress, uploads=uploads)

    monkeypatch.setattr(Library, "add", spy)
    uploads = [
        FakeUpload("../../escape.txt", b"Title\nThis must never be written outside the folder."),
        FakeUpload("/abs/dir/harbor-bridge.txt", ARTICLES["harbor-bridge.txt"].encode()),
        FakeUpload("harbor-bridge.txt", b"Same name twice\nA second file with the same base name."),
        FakeUpload("binary.txt", b"\x00\x01\x02 not text"),
        FakeUpload("notes.docx", b"word file"),
    ]
    progress: list[Progress] = []
    results = index_uploads(fake_library, uploads, progress=progress.append)

    by_source = {r.source: r for r in results}
    assert by_source["escape.txt"].status == "indexed"  # saved under its base name, inside the folder
    assert by_source["harbor-bridge.txt"].status == "indexed"
    assert [r.reason for r in results if r.source == "harbor-bridge.txt" and r.status == "failed"] == [
        "another file in this upload has the same name"
    ]
    assert by_source["binary.txt"].status == "failed" and "NUL" in by_source["binary.txt"].reason
    assert by_source["notes.docx"].status == "failed" and "unsupported" in by_source["notes.docx"].reason
    assert all("qa-app-upload-" not in (r.source + (r.reason or "")) for r in results)
    assert [p.name for p in seen] == ["escape.txt", "harbor-bridge.txt", "binary.txt", "notes.docx"]
    assert len({p.parent for p in seen}) == 1 and not seen[0].parent.exists()  # the folder is gone
    assert progress and progress[-1].docs_done == progress[-1].docs_total == 2
    assert not (tmp_path.parent / "escape.txt").exists()
    assert sorted(d.title for d in fake_library.documents()) == ["Harbor bridge closes for repairs", "Title"]


def test_index_uploads_with_nothing_usable_indexes_nothing(fake_library: Library) -> None:
    results = index_uploads(fake_library, [FakeUpload("..", b"x")])
    assert [(r.source, r.status) for r in results] == [("..", "failed")]
    assert fake_library.documents() == []


# ---- charts -------------------------------------------------------------------------------------


def test_cited_frame_has_one_row_per_dated_article() -> None:
    cited = [
        cards.citation_card(citation(n=1), lambda _id: doc()),
        cards.citation_card(citation(phrase="Work starts in June", n=2), lambda _id: doc()),
        cards.citation_card(citation(n=3, doc_id="d2", published_at=None), lambda _id: None),
    ]
    frame = charts.cited_frame(cited)
    assert frame.to_dict("records")[0] | {"date": None} == {
        "title": "Budget approved",
        "outlet": "budget.txt",
        "date": None,
        "shown": "3 May 2025",
        "markers": "[1] [2]",
    }
    assert len(frame) == 1
    assert charts.cited_timeline(cited) is None  # one dated article: a timeline with one dot says nothing (#12)
    other = cards.citation_card(citation(n=4, doc_id="d3", published_at="2025-06-01"), lambda _id: None)
    assert charts.cited_timeline([*cited, other]) is not None


def test_library_frame_counts_articles_per_month() -> None:
    infos = [
        DocumentInfo(str(i), "t", "s", day, "2025-06-01T00:00:00+00:00", 1)
        for i, day in enumerate(["2025-05-03", "2025-05-20", "2025-07-01", None, "not a date"])
    ]
    frame = charts.library_frame(infos)
    assert list(zip(frame["label"], frame["articles"], strict=True)) == [
        ("May 2025", 2),
        ("Jun 2025", 0),  # every month between the first and the last has its own band (#12)
        ("Jul 2025", 1),
    ]
    assert charts.library_timeline(infos) is not None and charts.library_timeline(infos[3:]) is None


def test_index_uploads_refuses_more_files_than_the_limit(fake_library: Library) -> None:
    limit = fake_library.settings.max_upload_files
    uploads = [FakeUpload(f"a{i}.txt", b"Title\nBody text.") for i in range(limit + 1)]
    with pytest.raises(QAError, match="QA_APP_MAX_UPLOAD_FILES"):
        index_uploads(fake_library, uploads)
    assert fake_library.documents() == []
