"""News feeds for real: RSS 2.0 and Atom from a local site over HTTP, the real model, the index's database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qa_app.cli import app
from qa_app.config import Settings
from qa_app.embedder import SentenceTransformerEmbedder
from qa_app.errors import LoadError, NotFoundError, QAError
from qa_app.feeds import Feeds, PollResult, poll_every
from qa_app.library import Library
from tests.news_site import NewsSite, Page, article_html, atom, rss

STORIES = {
    "bridge": ("Harbor bridge closes for repairs", "The Harbor Street bridge in Port Ellis will close for eight weeks "
               "while engineers replace corroded cables.\n\nCity engineer Dana Whitlock said the repairs will cost "
               "4.2 million dollars."),
    "wheat": ("Record wheat harvest lifts farm incomes", "Farmers in the Valley region harvested 3.1 million tonnes "
              "of wheat this season, a record.\n\nGrain prices fell by 6 percent after the figures were published."),
    "ferry": ("New ferry line opens", "A ferry line between Port Ellis and Lorran opened on Sunday with two boats."
              "\n\nThe crossing takes forty minutes and tickets cost nine dollars."),
}  # fmt: skip
HERALD = [
    {"title": "Teenager wins national chess title", "link": "http://herald.test/chess", "published": "2025-05-04",
     "content": "Sixteen-year-old Mira Okafor won the national chess championship on Sunday.\n\nOkafor is the "
                "youngest champion in the tournament's ninety-year history."},
    {"title": "Storm floods the coast", "link": "http://herald.test/storm", "published": "2025-05-05",
     "content": "A storm flooded the coast of Lorran on Monday and closed the harbour.\n\nNo one was hurt, the "
                "coast guard said."},
]  # fmt: skip


@pytest.fixture
def site() -> NewsSite:
    server = NewsSite().start()
    for slug, (title, body) in STORIES.items():
        server.pages[f"/news/{slug}"] = Page(article_html(title, body, "2025-04-30"))
    yield server
    server.stop()


@pytest.fixture
def newsroom(tmp_path: Path, model: SentenceTransformerEmbedder) -> Library:
    """A library allowed to fetch from the local site (127.0.0.1), with short timeouts."""
    library = Library(Settings(index_dir=tmp_path / "index", allow_private_urls=True, fetch_timeout=1.0),
                      embedder=model)  # fmt: skip
    yield library
    library.close()


@pytest.fixture
def feeds(newsroom: Library) -> Feeds:
    followed = Feeds(newsroom)
    yield followed
    followed.close()


def rss_items(site: NewsSite, *slugs: str) -> list[dict[str, str]]:
    return [{"title": STORIES[s][0], "link": site.url(f"/news/{s}"), "published": f"2025-05-0{n}"}
            for n, s in enumerate(slugs, 1)]  # fmt: skip


def serve_feeds(site: NewsSite, *slugs: str, etag: str = '"v1"') -> tuple[str, str]:
    site.pages["/rss.xml"] = Page(rss(rss_items(site, *slugs)), "application/rss+xml", etag=etag)
    site.pages["/atom.xml"] = Page(atom(HERALD), "application/atom+xml", last_modified="Sun, 04 May 2025 08:00:00 GMT")
    return site.url("/rss.xml"), site.url("/atom.xml")


def test_poll_indexes_rss_and_atom_once(site: NewsSite, feeds: Feeds, newsroom: Library) -> None:
    rss_url, atom_url = serve_feeds(site, "bridge", "wheat")
    feeds.add(rss_url)
    feeds.add(atom_url)
    first = feeds.poll()
    assert [(p.status, p.new, p.error) for p in first] == [("ok", 2, None), ("ok", 2, None)]
    documents = {d.source: d for d in newsroom.documents()}
    assert set(documents) == {site.url("/news/bridge"), site.url("/news/wheat"), "http://herald.test/chess",
                              "http://herald.test/storm"}  # fmt: skip
    bridge = newsroom.document(documents[site.url("/news/bridge")].doc_id)
    assert bridge.published_at == "2025-05-01"  # the feed's date, not the page's 2025-04-30
    assert bridge.metadata["feed"] == rss_url and bridge.metadata["outlet"] == "The Test Gazette"
    assert "4.2 million dollars" in bridge.text and "tracker" not in bridge.text
    chess = newsroom.document(documents["http://herald.test/chess"].doc_id)  # the feed's own full text, not fetched
    assert chess.title == "Teenager wins national chess title" and chess.published_at == "2025-05-04"
    assert "youngest champion" in chess.text and chess.metadata["outlet"] == "The Test Herald"
    assert newsroom.ask("Who won the national chess championship?").citations[0].doc_id == chess.doc_id

    second = feeds.poll()
    assert [(p.status, p.new) for p in second] == [("not modified", 0), ("not modified", 0)]
    rss_headers = [headers for path, headers in site.requests if path == "/rss.xml"]
    atom_headers = [headers for path, headers in site.requests if path == "/atom.xml"]
    assert rss_headers[-1]["If-None-Match"] == '"v1"'
    assert atom_headers[-1]["If-Modified-Since"] == "Sun, 04 May 2025 08:00:00 GMT"
    assert site.hits("/news/bridge") == 1 and site.hits("/news/wheat") == 1
    assert len(newsroom.documents()) == 4
    listed = {f.url: f for f in feeds.list()}
    assert listed[rss_url].items == 2 and listed[rss_url].last_status == "not modified"
    assert listed[rss_url].title == "The Test Gazette" and listed[rss_url].last_polled_at


def test_changed_feed_adds_only_the_new_item(site: NewsSite, feeds: Feeds, newsroom: Library) -> None:
    rss_url, _ = serve_feeds(site, "bridge", "wheat")
    feeds.add(rss_url)
    feeds.poll()
    serve_feeds(site, "bridge", "wheat", "ferry", etag='"v2"')
    [changed] = feeds.poll()
    assert (changed.status, changed.new) == ("ok", 1)
    assert [r.source for r in changed.results] == [site.url("/news/ferry")]
    assert (site.hits("/news/bridge"), site.hits("/news/wheat"), site.hits("/news/ferry")) == (1, 1, 1)
    site.pages["/rss.xml"].etag = None  # a server without validators: the items are skipped by their links
    [again] = feeds.poll()
    assert (again.status, again.new, again.results) == ("ok", 0, ())
    assert len(newsroom.documents()) == 3


def test_same_article_through_two_feeds_or_two_links_is_indexed_once(
    site: NewsSite, feeds: Feeds, newsroom: Library
) -> None:
    site.pages["/a.xml"] = Page(rss(rss_items(site, "bridge")), "application/rss+xml")
    twin = [{"title": "Bridge", "link": site.url("/news/bridge?from=b"), "published": "2025-05-01"}]
    site.pages["/news/bridge?from=b"] = site.pages["/news/bridge"]
    site.pages["/b.xml"] = Page(rss(rss_items(site, "bridge") + twin), "application/rss+xml")
    feeds.add(site.url("/a.xml"))
    feeds.add(site.url("/b.xml"))
    first, second = feeds.poll()
    assert first.new == 1
    assert [(r.source, r.status) for r in second.results] == [(site.url("/news/bridge?from=b"), "already indexed")]
    assert site.hits("/news/bridge") == 1  # the second feed's identical link was not fetched again
    assert len(newsroom.documents()) == 1


def test_failures_are_reported_and_the_rest_goes_on(site: NewsSite, feeds: Feeds, newsroom: Library) -> None:
    site.pages["/broken.xml"] = Page(b"oops", "text/plain", status=500)
    site.pages["/slow.xml"] = Page(rss(rss_items(site, "wheat")), "application/rss+xml", delay=3.0)
    site.pages["/page.xml"] = Page(article_html("Not a feed", "Just a page.", "2025-05-01"))
    items = [*rss_items(site, "bridge"), {"title": "Gone", "link": site.url("/news/gone"), "published": "2025-05-02"}]
    site.pages["/rss.xml"] = Page(rss(items), "application/rss+xml", etag='"v1"')
    for path in ("/broken.xml", "/slow.xml", "/page.xml", "/rss.xml"):
        feeds.add(site.url(path))
    broken, slow, page, good = feeds.poll()
    assert (broken.status, broken.error) == ("failed", "the server answered HTTP 500")
    assert slow.status == "failed" and "timed out" in slow.error
    assert page.status == "failed" and "not a news feed" in page.error
    assert (good.status, good.new) == ("ok", 1)
    assert good.error == f"1 of 2 new items failed; first: {site.url('/news/gone')}: the server answered HTTP 404"
    assert [d.source for d in newsroom.documents()] == [site.url("/news/bridge")]
    listed = {f.url: f for f in feeds.list()}
    assert listed[site.url("/broken.xml")].last_error == "the server answered HTTP 500"
    site.pages["/news/gone"] = Page(article_html("Found again", STORIES["ferry"][1], "2025-05-02"))
    retried = feeds.poll()[3]  # the failed item is tried again: no 304 while an item is missing
    assert (retried.status, retried.new) == ("ok", 1)


def test_feed_urls_are_checked(feeds: Feeds, tmp_path: Path, model: SentenceTransformerEmbedder) -> None:
    with pytest.raises(LoadError, match="only http and https"):
        feeds.add("file:///etc/passwd")
    feed = feeds.add("http://127.0.0.1:9/rss.xml")
    with pytest.raises(QAError, match="already followed"):
        feeds.add("http://127.0.0.1:9/rss.xml")
    assert feeds.remove(str(feed.id)).url == feed.url
    with pytest.raises(NotFoundError, match="no feed"):
        feeds.remove(feed.url)
    strict = Library(Settings(index_dir=tmp_path / "strict"), embedder=model)
    with pytest.raises(LoadError, match="loopback or private address"):
        Feeds(strict).add("http://127.0.0.1:9/rss.xml")
    strict.close()


def test_poll_every_is_bounded_and_reports_each_feed(site: NewsSite, feeds: Feeds) -> None:
    rss_url, _ = serve_feeds(site, "bridge")
    feeds.add(rss_url)
    seen: list[PollResult] = []
    poll_every(feeds, minutes=0, report=seen.append, rounds=2)
    assert [(r.status, r.new) for r in seen] == [("ok", 1), ("not modified", 0)]


def test_cli_feeds(site: NewsSite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rss_url, atom_url = serve_feeds(site, "bridge")
    monkeypatch.setenv("QA_APP_ALLOW_PRIVATE_URLS", "1")
    index = ["--index-dir", str(tmp_path / "cli-index")]
    runner = CliRunner()
    for url in (rss_url, atom_url):
        assert runner.invoke(app, ["feeds", "add", url, *index]).exit_code == 0
    polled = runner.invoke(app, ["feeds", "poll", *index, "--json"])
    assert polled.exit_code == 0, polled.output
    lines = [json.loads(line) for line in polled.stdout.splitlines()]
    assert [(p["feed"], p["status"], p["new"]) for p in lines] == [(rss_url, "ok", 1), (atom_url, "ok", 2)]
    assert lines[0]["results"][0]["status"] == "indexed"
    listed = json.loads(runner.invoke(app, ["feeds", "list", *index, "--json"]).stdout)["feeds"]
    assert [(f["id"], f["url"], f["items"], f["last_new"]) for f in listed] == [(1, rss_url, 1, 1), (2, atom_url, 2, 2)]
    assert set(listed[0]) == {"id", "url", "title", "added_at", "last_polled_at", "last_status", "last_error",
                              "last_new", "items"}  # fmt: skip
    assert runner.invoke(app, ["feeds", "remove", "1", *index]).exit_code == 0
    listed = json.loads(runner.invoke(app, ["feeds", "list", *index, "--json"]).stdout)["feeds"]
    assert [f["url"] for f in listed] == [atom_url]
    documents = json.loads(runner.invoke(app, ["list", *index, "--json"]).stdout)["documents"]
    assert len(documents) == 3  # what the removed feed brought stays indexed
