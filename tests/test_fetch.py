"""Article URLs: fetched over real HTTP from a local site, extracted as uploaded HTML is, refused when unsafe."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qa_app.cli import app
from qa_app.config import Settings, load_settings
from qa_app.errors import ConfigError, LoadError
from qa_app.fetch import canonical_url, check_url, fetch_document, fetch_documents, is_url
from qa_app.library import Library
from tests.news_site import NewsSite, Page, article_html

BRIDGE = (
    "The Harbor Street bridge in Port Ellis will close for eight weeks from June 2 while engineers replace "
    "corroded steel cables.\n\nCity engineer Dana Whitlock said the repairs will cost 4.2 million dollars. "
    "Ferries will run every twenty minutes during the closure, the port authority said on Tuesday."
)


@pytest.fixture
def site() -> NewsSite:
    server = NewsSite().start()
    yield server
    server.stop()


@pytest.fixture
def settings(library: Library) -> Settings:
    """The test library's settings with the local site allowed (it is on 127.0.0.1)."""
    return replace(library.settings, allow_private_urls=True, fetch_timeout=2.0)


def test_page_is_fetched_and_extracted_like_uploaded_html(site: NewsSite, settings: Settings, library: Library) -> None:
    site.pages["/world/bridge?utm_source=feed"] = Page(
        article_html("Harbor bridge closes for repairs", BRIDGE, "2025-05-03", canonical=site.url("/world/bridge"))
    )
    url = site.url("/world/bridge?utm_source=feed")
    doc = fetch_document(url, settings)
    assert doc.source == url
    assert doc.key == site.url("/world/bridge")  # the canonical URL, for dedup
    assert doc.title == "Harbor bridge closes for repairs"
    assert doc.published_at == "2025-05-03"
    assert "Dana Whitlock" in doc.text and "tracker" not in doc.text and "Home" not in doc.text
    [result] = library.add([doc])
    assert result.status == "indexed"
    assert library.document(result.doc_id).source == url


def test_same_canonical_url_replaces_a_changed_article_and_skips_an_unchanged_one(
    site: NewsSite, settings: Settings, library: Library
) -> None:
    canonical = site.url("/bridge")
    site.pages["/bridge?ref=a"] = Page(article_html("Harbor bridge closes", BRIDGE, "2025-05-03", canonical))
    [first] = library.add([fetch_document(site.url("/bridge?ref=a"), settings)])
    site.pages["/bridge?ref=b"] = Page(article_html("Harbor bridge closes", BRIDGE, "2025-05-03", canonical))
    [same] = library.add([fetch_document(site.url("/bridge?ref=b"), settings)])
    assert (first.status, same.status, same.doc_id) == ("indexed", "already indexed", first.doc_id)
    updated = BRIDGE.replace("eight weeks", "ten weeks")
    site.pages["/bridge"] = Page(article_html("Harbor bridge closes", updated, "2025-05-04", canonical))
    [newer] = library.add([fetch_document(canonical, settings)])
    assert newer.status == "replaced"
    assert [d.doc_id for d in library.documents()] == [newer.doc_id]


def test_canonical_url_on_another_site_is_ignored() -> None:
    page = "https://www.gazette.test/a/story?x=1#top"
    assert canonical_url(page, "https://gazette.test/a/story") == "https://gazette.test/a/story"
    assert canonical_url(page, "/a/story") == "https://www.gazette.test/a/story"
    assert canonical_url(page, "https://rival.test/their-story") == "https://www.gazette.test/a/story?x=1"
    assert canonical_url(page, "javascript:alert(1)") == "https://www.gazette.test/a/story?x=1"
    assert canonical_url(page, None) == "https://www.gazette.test/a/story?x=1"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://gazette.test/story.html", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("javascript:alert(1)", "only http and https"),
        ("http://127.0.0.1:9/story", "loopback or private address (127.0.0.1)"),
        ("http://localhost:9/story", "loopback or private address"),
        ("http://[::1]:9/story", "loopback or private address (::1)"),
        ("http://10.1.2.3/story", "loopback or private address (10.1.2.3)"),
        ("http://169.254.169.254/latest/meta-data/", "loopback or private address (169.254.169.254)"),
        ("http://[::ffff:192.168.0.1]/", "loopback or private address (192.168.0.1)"),
        ("http:///story", "no host"),
    ],
)
def test_unsafe_urls_are_refused_by_default(url: str, reason: str) -> None:
    with pytest.raises(LoadError, match=reason.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        check_url(url, allow_private=False)


def test_local_site_is_refused_by_default_without_a_request(site: NewsSite, library: Library) -> None:
    site.pages["/bridge"] = Page(article_html("Harbor bridge closes", BRIDGE, "2025-05-03"))
    assert library.settings.allow_private_urls is False
    documents, [failure] = fetch_documents([site.url("/bridge")], library.settings)
    assert documents == [] and "QA_APP_ALLOW_PRIVATE_URLS=1" in failure.reason
    assert site.hits("/bridge") == 0


@pytest.mark.parametrize(
    ("page", "reason"),
    [
        (Page(b"gone", "text/plain", 404), "HTTP 404"),
        (Page(b"\x89PNG\r\n", "image/png"), "cannot index a image/png page"),
        (Page(b"<html><body><script>x()</script></body></html>"), "no readable text"),
        (Page(b"x" * 5000), "over the 0.0 MB limit"),
        (Page(article_html("Slow", BRIDGE, "2025-05-03"), delay=3.0), "timed out"),
    ],
)
def test_fetch_failures_name_the_url_and_the_reason(
    site: NewsSite, settings: Settings, page: Page, reason: str
) -> None:
    site.pages["/story"] = page
    limited = replace(settings, max_file_mb=0.004, fetch_timeout=0.5)
    _, [failure] = fetch_documents([site.url("/story")], limited)
    assert failure.source == site.url("/story")
    assert reason in failure.reason


def test_redirects_are_followed_and_bounded(site: NewsSite, settings: Settings) -> None:
    site.pages["/story"] = Page(article_html("Harbor bridge closes", BRIDGE, "2025-05-03"))
    for n in range(1, 8):
        site.pages[f"/r{n}"] = Page(status=302, headers={"Location": f"/r{n + 1}" if n < 7 else "/story"})
    assert fetch_document(site.url("/r5"), settings).key == site.url("/story")
    with pytest.raises(LoadError, match="more than 5 redirects"):
        fetch_document(site.url("/r1"), settings)


def test_redirect_to_another_scheme_is_refused(site: NewsSite, settings: Settings) -> None:
    site.pages["/out"] = Page(status=301, headers={"Location": "file:///etc/passwd"})
    with pytest.raises(LoadError, match="only http and https"):
        fetch_document(site.url("/out"), settings)


def test_is_url() -> None:
    assert is_url("https://gazette.test/a") and is_url("ftp://x") and not is_url("corpus/a.txt")
    assert not is_url("C:\\articles\\a.txt") and not is_url("notes:today.txt")


def test_cli_indexes_files_and_urls_together(
    site: NewsSite, library: Library, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site.pages["/bridge"] = Page(article_html("Harbor bridge closes for repairs", BRIDGE, "2025-05-03"))
    note = tmp_path / "chess.txt"
    note.write_text("Teenager wins chess title\nMira Okafor won the national chess championship on Sunday.")
    monkeypatch.setenv("QA_APP_ALLOW_PRIVATE_URLS", "1")
    index_dir = str(library.index_dir)
    library.close()
    args = ["index", str(note), site.url("/bridge"), "ftp://gazette.test/x", "--index-dir", index_dir, "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    results = json.loads(result.stdout.strip().splitlines()[-1])["results"]
    by_source = {r["source"]: r for r in results}
    assert by_source["ftp://gazette.test/x"]["status"] == "failed"
    assert "only http and https" in by_source["ftp://gazette.test/x"]["reason"]
    assert by_source[site.url("/bridge")]["status"] == "indexed"
    assert by_source[site.url("/bridge")]["title"] == "Harbor bridge closes for repairs"
    assert by_source["chess.txt"]["status"] == "indexed"


@pytest.mark.parametrize(("raw", "allowed"), [("1", True), ("true", True), ("Yes", True), ("0", False), ("off", False)])
def test_allow_private_urls_is_read_as_a_boolean(raw: str, allowed: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_APP_ALLOW_PRIVATE_URLS", raw)
    assert load_settings().allow_private_urls is allowed


def test_a_bad_boolean_setting_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_APP_ALLOW_PRIVATE_URLS", "maybe")
    with pytest.raises(ConfigError, match="QA_APP_ALLOW_PRIVATE_URLS='maybe' is not a valid bool"):
        load_settings()
