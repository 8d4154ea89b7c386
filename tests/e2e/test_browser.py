"""The app in a real browser: `qa-app serve` in a subprocess, driven by Chromium through Playwright."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from qa_app.config import Settings
from qa_app.library import Library
from tests.articles import write_articles
from tests.conftest import CORPUS, ROOT, SEED_TITLE
from tests.e2e import XSS_QUESTION, XSS_RECORD, write_xss_article

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
FIRST_ANSWER_MS = 90_000  # the server imports the model on the first question
STEP_MS = 30_000
NEW_TITLE = "Glacier museum opens in Tromsø"
NEW_ARTICLE = f"""---
title: "{NEW_TITLE}"
published_at: 2025-06-14
---
A museum dedicated to glaciers opened in Tromsø on Saturday, with a permanent exhibition on Arctic ice.
The museum was designed by the architect Ingrid Solberg and cost 45 million kroner to build.
Visitors can walk through a tunnel carved into a block of ice that is kept frozen all year.
"""

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's Chromium (`make chromium`)"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, server: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"qa-app serve exited with {server.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"qa-app serve did not answer on {url} within {timeout} s:\n{log.read_text()}")


@dataclass(frozen=True)
class Server:
    url: str
    index_dir: Path
    log: Path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, model) -> Iterator[Server]:
    """`qa-app serve` on a free port over a fresh index; stopped (and its log kept) afterwards."""
    folder = tmp_path_factory.mktemp("e2e")
    library = Library(Settings(index_dir=folder / "index"), embedder=model)
    library.add([CORPUS, *write_articles(folder / "articles"), write_xss_article(folder / "articles")])
    library.close()
    with serving(folder) as server:
        yield server


@contextmanager
def serving(folder: Path) -> Iterator[Server]:
    """`qa-app serve` on a free 127.0.0.1 port over `folder/index`, logging to `folder/server.log`; stopped after."""
    port = _free_port()
    log = folder / "server.log"
    serve = ["serve", "--port", str(port), "--host", "127.0.0.1", "--index-dir", str(folder / "index")]
    command = [sys.executable, "-m", "qa_app", *serve]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, process, log)
        yield Server(url, folder / "index", log)
    finally:
        _stop(process)


def _stop(process: subprocess.Popen) -> None:
    """Stop `qa-app serve` and the Streamlit process it started (its own process group)."""
    group = process.pid  # start_new_session: the group id is the server's pid
    for sig, grace in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(group, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            process.poll()
            try:
                os.killpg(group, 0)  # raises once no process of the group is left
            except ProcessLookupError:
                return
            time.sleep(0.2)
    process.wait(timeout=5)


@pytest.fixture(scope="module")
def browser() -> Iterator:
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser) -> Iterator:
    """A page that records every JavaScript dialog (an alert would mean injected script ran)."""
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    page.dialogs = []

    def on_dialog(dialog) -> None:
        page.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    yield page
    context.close()


def ask(page, question: str, answers_before: int, timeout: int = STEP_MS):
    """Type a question into the chat input; return the new assistant message once its answer is drawn."""
    box = page.get_by_test_id("stChatInputTextArea")
    expect(box).to_be_enabled(timeout=STEP_MS)
    box.fill(question)
    box.press("Enter")
    messages = page.get_by_test_id("stChatMessage")
    expect(messages).to_have_count(2 * answers_before + 2, timeout=timeout)
    message = messages.nth(2 * answers_before + 1)
    expect(message.locator(".qa-answer, [data-testid='stAlert']").first).to_be_visible(timeout=timeout)
    return message


def no_script_ran(page) -> None:
    assert page.dialogs == []
    assert page.locator("img[onerror]").count() == 0
    assert page.locator("script:text('alert(1)')").count() == 0
    assert (
        page.evaluate("() => [...document.querySelectorAll('script')].some(s => s.text.includes('alert(1)'))") is False
    )


def test_ask_open_article_upload_and_ask_again(server: Server, page, tmp_path: Path, model) -> None:
    started = time.monotonic()
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(server.url)
    expect(page.get_by_role("heading", name="Newsdesk Q&A")).to_be_visible(timeout=STEP_MS)

    # 1. A question about the seed article: the answer, its marker and a highlighted quote card
    first = ask(page, "Who rejected the proposal to send US troops into Mexico?", 0, timeout=FIRST_ANSWER_MS)
    expect(first.locator(".qa-answer")).to_contain_text("Sheinbaum")
    expect(first.locator(".qa-answer .qa-marker").first).to_have_text("[1]")
    card = first.locator(".qa-card").first
    expect(card).to_contain_text(SEED_TITLE)
    quote = card.locator("mark.qa-quote").inner_text()
    assert "Sheinbaum" in quote
    cards = first.locator(".qa-card").all_inner_texts()  # "[n] title" first: two quotes of one article are one dot
    dated = {re.sub(r"^\[\d+\]\s*", "", card.split("\n")[0]) for card in cards if "undated" not in card}
    expect(first.locator("[data-testid='stVegaLiteChart']")).to_have_count(1 if len(dated) >= 2 else 0)  # (#12)
    first.get_by_label("Thumbs up").click()
    expect(page.get_by_test_id("stToast")).to_contain_text("feedback was saved", timeout=STEP_MS)

    # 2. "Open in article": the article view, the same span highlighted and scrolled into view
    first.get_by_role("link", name="Open in article").first.click()
    page.wait_for_url(re.compile(r"/Article\?doc=\w+&start=\d+&end=\d+"), timeout=STEP_MS)
    mark = page.locator("mark#cited-span")
    expect(mark).to_be_visible(timeout=STEP_MS)
    assert mark.inner_text() == quote
    expect(page.locator(".qa-title")).to_have_text(SEED_TITLE)
    page.screenshot(path=str(ARTIFACTS / "article.png"))

    # 3. The library page: upload a new article and a broken file through the file input
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Library").click()
    expect(page.get_by_role("heading", name="Library", exact=True)).to_be_visible(timeout=STEP_MS)
    new_file = tmp_path / "glacier-museum.md"
    new_file.write_text(NEW_ARTICLE, encoding="utf-8")
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4 not a real pdf")
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files([str(new_file), str(broken)])
    expect(page.get_by_test_id("stFileChipName")).to_have_count(2, timeout=STEP_MS)
    page.get_by_role("button", name="Add to library").click()
    results = page.get_by_test_id("stTable")
    expect(results).to_contain_text("glacier-museum.md", timeout=STEP_MS)
    expect(results.locator("tr", has_text="glacier-museum.md")).to_contain_text("indexed")
    expect(results.locator("tr", has_text="broken.pdf")).to_contain_text("failed")
    page.screenshot(path=str(ARTIFACTS / "library.png"))

    # 4. Back in the chat (the conversation is still there): the new article answers the next question
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Chat").click()
    expect(page.get_by_test_id("stChatMessage")).to_have_count(2, timeout=STEP_MS)
    second = ask(page, "Who designed the glacier museum in Tromsø?", 1)
    expect(second.locator(".qa-answer")).to_contain_text("museum")
    expect(second.locator(".qa-card").first).to_contain_text(NEW_TITLE)
    page.set_viewport_size({"width": 1440, "height": 1300})  # the app scrolls inside the page: show it all
    page.wait_for_timeout(800)  # let the charts finish drawing
    page.screenshot(path=str(ARTIFACTS / "chat.png"))
    with page.expect_download() as download:
        page.get_by_role("button", name="Download as Markdown").click()
    markdown = Path(download.value.path()).read_text(encoding="utf-8")
    assert "## 1. Who rejected the proposal" in markdown and "## 2. Who designed the glacier museum" in markdown
    assert f"{NEW_TITLE} — glacier-museum.md, 14 Jun 2025" in markdown
    no_script_ran(page)
    library = Library(Settings(index_dir=server.index_dir), embedder=model)
    assert [f.rating for f in library.feedback()] == [1]
    library.close()
    print(f"\ne2e main flow: {time.monotonic() - started:.1f} s")


def test_hostile_article_never_runs_as_html(server: Server, page) -> None:
    page.goto(server.url)
    message = ask(page, XSS_QUESTION, 0, timeout=FIRST_ANSWER_MS)
    expect(message.locator(".qa-answer")).to_contain_text("<img src=x onerror=alert(1)>")
    card = message.locator(".qa-card").first
    expect(card).to_contain_text(XSS_RECORD["title"])
    expect(card).to_contain_text("Gazette <img src=x onerror=alert(1)>")
    no_script_ran(page)

    card.page.get_by_role("link", name="Open in article").first.click()
    expect(page.locator(".qa-title")).to_have_text(XSS_RECORD["title"], timeout=STEP_MS)
    expect(page.locator(".qa-article")).to_contain_text("<script>alert(1)</script>")
    expect(page.locator("table.qa-meta")).to_contain_text("<script>alert(1)</script>")
    page.wait_for_timeout(1000)  # give any injected handler the chance to fire
    no_script_ran(page)


def test_article_view_scrolls_the_cited_span_into_view(server: Server, browser, model) -> None:
    context = browser.new_context(viewport={"width": 1000, "height": 500})
    page = context.new_page()
    try:
        page.goto(server.url)
        expect(page.get_by_test_id("stChatInputTextArea")).to_be_visible(timeout=STEP_MS)
        page.get_by_test_id("stSidebarNav").get_by_role("link", name="Article").click()
        picker = page.get_by_test_id("stSelectbox")
        expect(picker).to_be_visible(timeout=STEP_MS)
        picker.click()
        page.get_by_role("option", name=re.compile("Mexican pres")).click()
        page.wait_for_url(re.compile(r"doc=\w+"), timeout=STEP_MS)
        doc_id = re.search(r"doc=(\w+)", page.url).group(1)
        expect(page.locator(".qa-article")).to_be_visible()
        library = Library(Settings(index_dir=server.index_dir), embedder=model)
        text = library.document(doc_id).text
        library.close()
        start = text.rindex("Sheinbaum")  # near the end: far below the first screen
        page.goto(f"{server.url}/Article?doc={doc_id}&start={start}&end={start + 9}")
        mark = page.locator("mark#cited-span")
        expect(mark).to_have_text("Sheinbaum", timeout=STEP_MS)
        page.wait_for_function(
            "() => { const r = document.getElementById('cited-span').getBoundingClientRect();"
            " return r.top >= 0 && r.bottom <= window.innerHeight; }",
            timeout=STEP_MS,
        )
    finally:
        context.close()


def test_server_log_has_no_errors(server: Server) -> None:
    """Runs last in this module: nothing the browser did raised or warned on the server."""
    log = server.log.read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in log and "WARNING" not in log and "Error" not in log, log
