"""The Library page's URL box and news feeds, through AppTest, against a local news site and the real model."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from qa_app.app import state, web_sources
from qa_app.config import Settings
from qa_app.feed_store import FeedStore
from qa_app.library import Library
from tests.news_site import NewsSite, Page, article_html, rss

APP = Path(__file__).resolve().parent.parent / "qa_app" / "app" / "Chat.py"
BODY = ("The Harbor Street bridge in Port Ellis will close for eight weeks while engineers replace corroded cables."
        "\n\nCity engineer Dana Whitlock said the repairs will cost 4.2 million dollars.")  # fmt: skip


@pytest.fixture
def site() -> NewsSite:
    server = NewsSite().start()
    server.pages["/news/bridge"] = Page(article_html("Harbor bridge closes for repairs", BODY, "2025-05-03"))
    server.pages["/news/ferry"] = Page(article_html("New ferry line opens", BODY.replace("bridge", "ferry pier"),
                                                    "2025-05-04"))  # fmt: skip
    yield server
    server.stop()


@pytest.fixture
def index_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("QA_APP_INDEX_DIR", str(tmp_path / "index"))
    state.get_library.clear()
    web_sources._feeds.clear()
    st.cache_data.clear()
    yield tmp_path / "index"
    state.get_library.clear()
    web_sources._feeds.clear()


@pytest.fixture
def reader(index_dir: Path, model, tmp_path: Path) -> Library:
    """A second Library on the app's index, holding one article before the app opens it."""
    library = Library(Settings(index_dir=index_dir), embedder=model)
    seed = tmp_path / "chess.txt"
    seed.write_text("Teenager wins chess title\nMira Okafor won the national chess championship on Sunday.")
    library.add([seed])
    yield library
    library.close()


def library_page() -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=90).run()
    at.switch_page("pages/1_Library.py").run()
    assert not at.exception, at.exception
    return at


def unescape(markdown: str) -> str:
    return re.sub(r"\\(.)", r"\1", markdown)


def click(at: AppTest, label: str) -> AppTest:
    next(b for b in at.button if b.label == label).click().run()
    assert not at.exception, at.exception
    return at


def test_url_box_fetches_and_indexes_an_article(
    site: NewsSite, index_dir: Path, reader: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QA_APP_ALLOW_PRIVATE_URLS", "1")
    at = library_page()
    at.text_input(key="article_url").input(site.url("/news/bridge"))
    click(at, "Fetch and add")
    assert any("Indexed: “Harbor bridge closes for repairs”" in s.value for s in at.success)
    assert [d.source for d in reader.documents()] == ["chess.txt", site.url("/news/bridge")]


def test_url_box_refuses_a_loopback_address_by_default(site: NewsSite, index_dir: Path, reader: Library) -> None:
    at = library_page()
    at.text_input(key="article_url").input(site.url("/news/bridge"))
    click(at, "Fetch and add")
    assert any("QA\\_APP\\_ALLOW\\_PRIVATE\\_URLS" in e.value for e in at.error)
    assert len(reader.documents()) == 1 and site.hits("/news/bridge") == 0


def test_feeds_are_followed_polled_and_listed(
    site: NewsSite, index_dir: Path, reader: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QA_APP_ALLOW_PRIVATE_URLS", "1")
    items = [{"title": "Bridge", "link": site.url("/news/bridge"), "published": "2025-05-01"},
             {"title": "Ferry", "link": site.url("/news/ferry"), "published": "2025-05-02"}]  # fmt: skip
    site.pages["/rss.xml"] = Page(rss(items), "application/rss+xml", etag='"v1"')
    at = library_page()
    at.text_input(key="feed_url").input(site.url("/rss.xml"))
    click(at, "Follow feed")
    assert at.dataframe[-1].value["last poll"].tolist() == ["never"]
    click(at, "Poll now")
    assert any(unescape(s.value) == "Polled 1 feeds: 2 new articles, 0 failed." for s in at.success)
    table = at.dataframe[-1].value
    assert table[["feed", "result", "new", "items"]].values.tolist() == [["The Test Gazette", "ok", 2, 2]]
    assert {d.source for d in reader.documents()} == {"chess.txt", site.url("/news/bridge"), site.url("/news/ferry")}
    at.selectbox(key="feed_remove_pick").set_value(1).run()
    at.button(key="feed_remove").click().run()
    assert not at.exception, at.exception
    assert any("No feeds followed yet" in c.value for c in at.caption)


def test_locked_page_shows_feeds_without_editing(
    site: NewsSite, index_dir: Path, reader: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FeedStore(index_dir)  # followed earlier (from the CLI, say)
    store.add("https://gazette.test/rss.xml")
    store.close()
    monkeypatch.setenv("QA_APP_ADMIN_TOKEN", "s3cret-token")
    at = library_page()
    assert at.dataframe[-1].value["url"].tolist() == ["https://gazette.test/rss.xml"]
    labels = {b.label for b in at.button}
    assert not {"Fetch and add", "Follow feed", "Poll now", "Stop following"} & labels
