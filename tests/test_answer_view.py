"""What the answer view and the article page show (#12): marker links, card meta, dates, exports, timelines."""

from __future__ import annotations

from qa_app.app import answer_view, article_view, cards, charts, render
from qa_app.app.export import ExportTurn, conversation_markdown
from qa_app.records import Answer, Citation, Document
from tests.e2e import SCRIPT

TEXT = "The council approved the budget on Monday. Work on the bridge starts in June, the mayor said."


def document(**changes) -> Document:
    values = {
        "doc_id": "d1",
        "title": "Budget approved",
        "text": TEXT,
        "source": "budget.pdf",
        "published_at": "2025-05-03",
        "added_at": "2025-06-01T10:00:00+00:00",
        "metadata": {"outlet": "Harbour Times", "pages": 2, "date_source": "text"},
        "page_starts": (0, 44),
    }
    return Document(**(values | changes))


def citation(n: int = 1, phrase: str = "Work on the bridge starts in June", **changes) -> Citation:
    start = TEXT.index(phrase)
    values = {"n": n, "doc_id": "d1", "title": "Budget approved", "source": "budget.pdf", "published_at": "2025-05-03",
              "start": start, "end": start + len(phrase), "quote": phrase, "page": 2}  # fmt: skip
    return Citation(**(values | changes))


def test_markers_link_to_their_cards_and_preview_the_quote() -> None:
    quotes = {1: f"It costs {SCRIPT}"}
    html = answer_view.answer_html("It costs a lot [1]. Unknown [5].", [1], prefix="7", quotes=quotes)
    assert '<a class="qa-marker" href="#qa-cite-7-1" aria-label="Source 1">[1]</a>' in html
    assert '<span class="qa-preview" role="tooltip">“It costs &lt;script&gt;' in html
    assert "<script>" not in html and "[5]" in html and "#qa-cite-7-5" not in html
    card = cards.citation_card(citation(), lambda _id: document())
    assert '<div class="qa-card" id="qa-cite-7-1" tabindex="-1">' in cards.card_html(
        card, answer_view.cite_anchor("7", 1)
    )


def test_page_number_never_wraps_apart_from_its_label() -> None:
    card = cards.citation_card(citation(), lambda _id: document())
    assert card.meta.endswith("· p.\u00a02") and "p. 2" not in card.meta


def test_file_dates_and_dates_after_the_upload_are_marked() -> None:
    from_file = document(published_at="2026-12-01", metadata={"date_source": "pdf_metadata"})
    assert render.published_label(from_file) == "1 Dec 2026 (PDF file date)"
    later = document(published_at="2026-12-01", metadata={})
    assert render.published_label(later) == "1 Dec 2026 (after the upload date)"
    assert render.published_label(document()) == "3 May 2025"
    card = cards.citation_card(citation(published_at="2026-12-01"), lambda _id: from_file)
    assert card.meta == "budget.pdf · 1 Dec 2026 (PDF file date) · p.\u00a02"


def test_article_metadata_lists_pages_once_with_readable_labels() -> None:
    rows = article_view.metadata_rows(document())
    labels = [label for label, _ in rows]
    assert labels.count("Pages") == 1 and "pages" not in labels and "date_source" not in labels
    assert ("Published", "3 May 2025 (printed in the article)") in rows
    assert ("Outlet", "Harbour Times") in rows


def test_markdown_export_says_what_each_answer_was_asked_with() -> None:
    answer = Answer("What starts in June?", "Work on the bridge starts in June [1].", True, (citation(),))
    turns = [
        ExportTurn(answer.question, answer, {}, settings=answer_view.asked_with({}, 12)),
        ExportTurn(answer.question, answer, {}, settings=answer_view.asked_with(
            {"published_after": "2025-05-01", "sources": ["Harbour Times"]}, 15)),
    ]  # fmt: skip
    markdown = conversation_markdown(turns)
    assert "_Asked with: no filters · k = 12_" in markdown
    assert "_Asked with: from 2025-05-01 · sources: Harbour Times · k = 15_" in markdown


def test_cited_timeline_only_when_two_articles_are_dated() -> None:
    one = cards.citation_card(citation(), lambda _id: document())
    same_article = cards.citation_card(citation(2, "The council approved the budget"), lambda _id: document())
    assert charts.cited_timeline([one, same_article]) is None  # two quotes, one article: one dot
    other = cards.citation_card(citation(3, doc_id="d2", published_at="2025-05-20"), lambda _id: None)
    assert charts.cited_timeline([one, other]) is not None
