"""A small news site on 127.0.0.1 for the URL and feed tests: article pages, RSS 2.0 and Atom feeds.

Each path answers from a `Page` that a test can change while the server runs; every request's path and
headers are kept, so tests can check conditional requests (ETag / Last-Modified) and count fetches.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Page:
    """What one path answers."""

    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    etag: str | None = None  # answered 304 when the request's If-None-Match equals it
    last_modified: str | None = None  # answered 304 when the request's If-Modified-Since equals it
    delay: float = 0.0  # seconds before answering (a timeout test)
    headers: dict[str, str] = field(default_factory=dict)


def article_html(title: str, body: str, published: str, canonical: str | None = None) -> bytes:
    """A news page with navigation, a script and the article, as trafilatura sees real ones."""
    link = f'<link rel="canonical" href="{escape(canonical)}">' if canonical else ""
    paragraphs = "".join(f"<p>{escape(p)}</p>" for p in body.split("\n\n"))
    return (
        f"<!doctype html><html><head><title>{escape(title)}</title>{link}"
        f'<meta property="article:published_time" content="{published}"></head><body>'
        "<nav><a href='/'>Home</a> <a href='/world'>World</a></nav><script>var tracker = 1;</script>"
        f"<article><h1>{escape(title)}</h1>{paragraphs}</article><footer>© The Test Gazette</footer></body></html>"
    ).encode()


def rss(items: list[dict[str, str]], title: str = "The Test Gazette") -> bytes:
    """An RSS 2.0 feed; each item has title, link, published (ISO date) and optionally guid and description."""
    entries = "".join(
        f"<item><title>{escape(i['title'])}</title><link>{escape(i['link'])}</link>"
        f"<guid>{escape(i.get('guid', i['link']))}</guid><pubDate>{_rfc822(i['published'])}</pubDate>"
        f"<description>{escape(i.get('description', ''))}</description></item>"
        for i in items
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>{escape(title)}</title>'
        f"<link>http://gazette.test/</link><description>News</description>{entries}</channel></rss>"
    ).encode()


def atom(entries: list[dict[str, str]], title: str = "The Test Herald") -> bytes:
    """An Atom feed whose entries carry their full text (`content`), with title, link, id and updated."""
    parts = "".join(
        f'<entry><title>{escape(e["title"])}</title><link href="{escape(e["link"])}"/>'
        f"<id>{escape(e.get('id', e['link']))}</id><updated>{e['published']}T08:00:00Z</updated>"
        f'<content type="html">{escape("".join(f"<p>{p}</p>" for p in e["content"].split(chr(10) * 2)))}</content>'
        "</entry>"
        for e in entries
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>{escape(title)}'
        f"</title><id>urn:test:herald</id><updated>2025-05-01T00:00:00Z</updated>{parts}</feed>"
    ).encode()


def _rfc822(day: str) -> str:
    return format_datetime(datetime.fromisoformat(day).replace(hour=9, tzinfo=UTC))


class NewsSite:
    """The server, its pages by path, and the requests it received."""

    def __init__(self) -> None:
        self.pages: dict[str, Page] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{path}"

    def hits(self, path: str) -> int:
        return sum(p == path for p, _ in self.requests)

    def start(self) -> NewsSite:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                site.requests.append((self.path, dict(self.headers)))
                page = site.pages.get(self.path)
                if page is None:
                    return self._send(Page(b"not here", "text/plain", 404))
                if page.delay:
                    site.stopping.wait(page.delay)
                    if site.stopping.is_set():
                        return None
                fresh = (page.etag and self.headers.get("If-None-Match") == page.etag) or (
                    page.last_modified and self.headers.get("If-Modified-Since") == page.last_modified
                )
                if fresh:
                    return self._send(Page(b"", page.content_type, 304, page.etag, page.last_modified))
                return self._send(page)

            def _send(self, page: Page) -> None:
                self.send_response(page.status)
                self.send_header("Content-Type", page.content_type)
                self.send_header("Content-Length", str(len(page.body)))
                if page.etag:
                    self.send_header("ETag", page.etag)
                if page.last_modified:
                    self.send_header("Last-Modified", page.last_modified)
                for key, value in page.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(page.body)

        return Handler
