"""What the answer view and the library show in Chromium (#12): marker links, focus, themes, narrow screens."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from reportlab.pdfgen import canvas

from qa_app.config import Settings
from qa_app.library import Library
from tests.conftest import CORPUS
from tests.e2e import test_browser
from tests.e2e.test_browser import (
    ARTIFACTS,
    CHROMIUM,
    FIRST_ANSWER_MS,
    STEP_MS,
    Server,
    serving,
)

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
browser = test_browser.browser  # the module-scoped Chromium of the main browser test

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's Chromium (`make chromium`)"),
]

PDF_QUESTION = "Why did the dockers in Genoa go on strike?"
PDF_LINES = [
    "Genoa dockers end three-week strike",
    "By Ana Ruiz, Genoa, May 20, 2025",
    "The dockers of Genoa went on strike because the port operator wanted to cut night-shift pay by a third.",
    "The port reopened on Monday after the operator withdrew the cut and signed a new contract.",
]
# WCAG contrast ratio of the computed colours of an element and of the first ancestor with a background
CONTRAST = """e => {
  const rgb = s => s.match(/[\\d.]+/g).slice(0, 4).map(Number);
  const lum = ([r, g, b]) => [r, g, b]
    .map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
    .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  let node = e, bg = null;
  while (node) {
    const c = rgb(getComputedStyle(node).backgroundColor);
    if (c.length < 4 || c[3] > 0) { bg = c; break; }
    node = node.parentElement;
  }
  const style = getComputedStyle(e), fg = rgb(style.color), alpha = Number(style.opacity);
  const mixed = fg.slice(0, 3).map((v, i) => v * alpha + bg[i] * (1 - alpha));
  const [a, b] = [lum(mixed), lum(bg)].sort((x, y) => y - x);
  return (a + 0.05) / (b + 0.05);
}"""


def _news_pdf() -> bytes:
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    pdf.setTitle("untitled")
    for n, line in enumerate(PDF_LINES):
        pdf.drawString(40, 780 - 14 * n, line)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, model) -> Iterator[Server]:
    """`qa-app serve` over the corpus and a one-page news PDF."""
    folder = tmp_path_factory.mktemp("e2e-view")
    pdf = folder / "genoa-strike.pdf"
    pdf.write_bytes(_news_pdf())
    library = Library(Settings(index_dir=folder / "index"), embedder=model)
    assert {r.status for r in library.add([CORPUS, pdf])} == {"indexed"}
    library.close()
    with serving(folder) as served:
        yield served


# The article table is a canvas (glide-data-grid); its accessibility table lists the columns in view, so
# scrolling the grid sideways by some pixels and reading that list tells where each column ends on screen.
GRID_SCROLL = """x => { const s = document.querySelector('[data-testid=stDataFrame] .dvn-scroller');
  s.scrollLeft = x; s.dispatchEvent(new Event('scroll')); return s.clientWidth; }"""
GRID_HEADERS = (
    "() => [...document.querySelectorAll('[data-testid=stDataFrame] th[role=columnheader]')].map(h => h.textContent)"
)


def _grid_shows(page, scroll_left: int, check: str) -> list[str]:
    """The column headers in view once the grid is scrolled `scroll_left` px and `check` (JS on `cols`) holds."""
    page.evaluate(GRID_SCROLL, scroll_left)
    try:
        page.wait_for_function(f"() => {{ const cols = ({GRID_HEADERS})(); return {check}; }}", timeout=STEP_MS)
    except playwright_api.TimeoutError:
        raise AssertionError(f"scrolled {scroll_left} px, {check} never held: {page.evaluate(GRID_HEADERS)}") from None
    return page.evaluate(GRID_HEADERS)


def _check_narrow_article_table(page) -> None:
    """At 420 px the article table shows the title and the publication date whole, side by side, unscrolled."""
    table = page.get_by_test_id("stDataFrame").first
    expect(table).to_be_visible(timeout=STEP_MS)
    width = page.evaluate(GRID_SCROLL, 0)
    assert width <= 420
    assert _grid_shows(page, 0, "cols.length > 0")[:2] == ["Title", "Published"]
    # scrolled by one table width, both have left the view: they both end inside the first screen
    shown = _grid_shows(page, width, "!cols.includes('Title') && !cols.includes('Published')")
    assert shown and shown[0] == "Outlet"
    # scrolled by half a table width, the title is still in view: it has at least half of the width
    assert _grid_shows(page, width // 2, "cols.includes('Title')")[0] == "Title"
    page.evaluate(GRID_SCROLL, 0)


def _page(browser, scheme: str, width: int = 1400, height: int = 900):
    return browser.new_context(viewport={"width": width, "height": height}, color_scheme=scheme).new_page()


def _ask(page, question: str, timeout: int = STEP_MS):
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(question)
    box.press("Enter")
    message = page.get_by_test_id("stChatMessage").nth(1)
    expect(message.locator(".qa-answer").first).to_be_visible(timeout=timeout)
    return message


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_chat_focus_marker_links_and_contrast(server: Server, browser, scheme: str) -> None:
    page = _page(browser, scheme)
    try:
        page.goto(server.url)
        box = page.get_by_test_id("stChatInputTextArea")
        expect(box).to_be_focused(timeout=STEP_MS)  # typing works at once, no click first
        background = page.evaluate("() => getComputedStyle(document.querySelector('.stApp')).backgroundColor")
        assert (background == "rgb(255, 255, 255)") == (scheme == "light")  # the system's theme is followed

        message = _ask(page, PDF_QUESTION, FIRST_ANSWER_MS)
        marker = message.locator(".qa-answer a.qa-marker").first
        expect(marker).to_have_text("[1]")
        card = message.locator(".qa-card").first
        expect(card).to_contain_text("Genoa dockers end three-week strike")
        expect(card).not_to_contain_text("untitled")

        marker.hover()  # the quote previews beside the marker
        preview = message.locator(".qa-answer .qa-preview").first
        expect(preview).to_be_visible()
        assert card.locator("mark.qa-quote").inner_text() in preview.inner_text()

        marker.click()  # scrolls to and highlights its source card
        expect(card).to_have_class("qa-card qa-flash", timeout=STEP_MS)
        expect(card).to_be_focused()
        expect(card).to_be_in_viewport()

        page.wait_for_timeout(2600)  # the flash is over: colours as they are read
        for selector in (".qa-card-quote", ".qa-card-meta", ".qa-card-title", "mark.qa-quote", ".qa-answer"):
            ratio = message.locator(selector).first.evaluate(CONTRAST)
            assert ratio >= 4.5, f"{selector} contrast {ratio:.2f} in the {scheme} theme"
        page.screenshot(path=str(ARTIFACTS / f"answer-{scheme}.png"))
    finally:
        page.context.close()


def test_narrow_screen_keeps_page_numbers_whole_and_library_columns(server: Server, browser) -> None:
    page = _page(browser, "light", width=420, height=900)
    try:
        page.goto(server.url)
        message = _ask(page, PDF_QUESTION, FIRST_ANSWER_MS)
        meta = message.locator(".qa-card-meta").first
        expect(meta).to_contain_text("p.\u00a01")
        lines = meta.evaluate(
            """e => { const text = e.firstChild, at = text.data.indexOf("p.\\u00a0");
                      const range = document.createRange(); range.setStart(text, at); range.setEnd(text, at + 4);
                      return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size; }"""
        )
        assert lines == 1, "'p. 1' is broken across lines"
        page.screenshot(path=str(ARTIFACTS / "answer-420px.png"))

        page.goto(f"{server.url}/Library")
        chart = page.get_by_test_id("stVegaLiteChart").first
        expect(chart).to_be_visible(timeout=STEP_MS)
        frame = "[data-testid='stFullScreenFrame']:has([data-testid='stVegaLiteChart'])"
        toolbar = page.locator(f"{frame} [data-testid='stElementToolbar'] button")
        assert toolbar.count() >= 1
        assert set(toolbar.evaluate_all("buttons => buttons.map(b => b.tabIndex)")) == {-1}  # not in the Tab order
        _check_narrow_article_table(page)
        page.screenshot(path=str(ARTIFACTS / "library-420px.png"), full_page=True)
    finally:
        page.context.close()
