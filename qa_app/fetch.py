"""Article URLs: fetch a page with httpx under limits, and turn it into a Document as an uploaded file would be.

Only http and https; every hop of a redirect is checked again; hosts that resolve to loopback, private,
link-local or other non-public addresses are refused unless `allow_private_urls` is set; the body is read up to
`max_file_mb` within `fetch_timeout` seconds in all. The URL is the document's source; its canonical URL (the
page's `<link rel="canonical">` when it is on the same site, else the URL after redirects) is its identity, so
fetching it again replaces a changed version and finds an unchanged one already indexed.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urldefrag, urljoin

from qa_app.config import Settings
from qa_app.documents import load_file, safe_upload_name
from qa_app.errors import LoadError
from qa_app.records import Document, Failure

if TYPE_CHECKING:  # httpx is imported where it is used: answering never fetches (0.08 s of a cold start)
    import httpx

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_REDIRECTS = {301, 302, 303, 307, 308}
_USER_AGENT = "qa-app (Newsdesk Q&A article fetcher)"
# what a fetched body is loaded as, by its content type (as an uploaded file with that extension)
_SUFFIXES = {
    "text/html": ".html",
    "application/xhtml+xml": ".html",
    "text/plain": ".txt",
    "text/markdown": ".md",
    "application/pdf": ".pdf",
    "application/json": ".json",
}


def is_url(text: str) -> bool:
    """Whether a command-line argument is a URL (`scheme://…`) rather than a path."""
    return bool(_URL.match(text))


@dataclass(frozen=True)
class Fetched:
    """A fetched response: the URL after redirects, its status, headers and body."""

    url: str
    status: int
    headers: httpx.Headers
    content: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


def check_url(url: str, allow_private: bool) -> httpx.URL:
    """The URL, once it is http(s) with a host whose addresses may be fetched; LoadError naming it otherwise."""
    import httpx

    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise LoadError(url, f"not a valid URL ({exc})") from exc
    if parsed.scheme not in ("http", "https"):
        raise LoadError(url, f"only http and https URLs can be fetched, not {parsed.scheme or 'no scheme'}")
    if not parsed.host:
        raise LoadError(url, "the URL has no host")
    if not allow_private:
        for address in _addresses(url, parsed.host, parsed.port or (443 if parsed.scheme == "https" else 80)):
            if not address.is_global:
                raise LoadError(url, f"{parsed.host} is a loopback or private address ({address}); fetching it needs "
                                     "QA_APP_ALLOW_PRIVATE_URLS=1")  # fmt: skip
    return parsed


def _addresses(url: str, host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """Every address `host` resolves to (IPv4-mapped IPv6 addresses as IPv4)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise LoadError(url, f"cannot resolve {host} ({exc})") from exc
    found = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        mapped = getattr(address, "ipv4_mapped", None)
        found.append(mapped or address)
    return found


def fetch(url: str, settings: Settings, headers: Mapping[str, str] | None = None) -> Fetched:
    """GET `url` under the limits (see the module); a 304 is returned as it is, other errors raise LoadError."""
    import httpx

    deadline = time.monotonic() + settings.fetch_timeout
    timeout = httpx.Timeout(settings.fetch_timeout)
    with httpx.Client(timeout=timeout, follow_redirects=False, headers={"User-Agent": _USER_AGENT}) as client:
        current = url
        for _ in range(settings.fetch_max_redirects + 1):
            target = check_url(current, settings.allow_private_urls)
            response = _get(client, url, target, headers or {}, settings.max_file_bytes, deadline)
            if response.status in _REDIRECTS and "location" in response.headers:
                current = urljoin(str(target), response.headers["location"])
                continue
            if response.status >= 400:
                raise LoadError(url, f"the server answered HTTP {response.status}")
            return response
    raise LoadError(url, f"more than {settings.fetch_max_redirects} redirects (QA_APP_FETCH_MAX_REDIRECTS)")


def _get(
    client: httpx.Client, url: str, target: httpx.URL, headers: Mapping[str, str], max_bytes: int, deadline: float
) -> Fetched:
    """One request, its body read up to `max_bytes` before `deadline`."""
    import httpx

    limit = f"over the {max_bytes / 1024 / 1024:.1f} MB limit (QA_APP_MAX_FILE_MB)"
    try:
        with client.stream("GET", target, headers=dict(headers)) as response:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise LoadError(url, f"the page is {int(declared) / 1024 / 1024:.1f} MB, {limit}")
            body = bytearray()
            for piece in response.iter_bytes():
                body += piece
                if len(body) > max_bytes:
                    raise LoadError(url, f"the page is larger than {limit}")
                if time.monotonic() > deadline:
                    raise httpx.ReadTimeout("the whole page took too long")
            return Fetched(str(response.url), response.status_code, response.headers, bytes(body))
    except httpx.TimeoutException as exc:
        raise LoadError(url, f"timed out ({exc or 'no answer'}; QA_APP_FETCH_TIMEOUT)") from exc
    except httpx.HTTPError as exc:
        raise LoadError(url, f"cannot fetch ({exc or type(exc).__name__})") from exc


def fetch_document(url: str, settings: Settings) -> Document:
    """The article at `url`, extracted like an uploaded file of its content type (HTML through trafilatura)."""
    page = fetch(url, settings)
    return page_document(url, page.url, page.content, page.content_type or "text/html", settings)


def page_document(url: str, final_url: str, content: bytes, content_type: str, settings: Settings) -> Document:
    """A fetched body as a Document whose source is `url` and whose identity is its canonical URL."""
    suffix = _SUFFIXES.get(content_type)
    if suffix is None:
        raise LoadError(url, f"cannot index a {content_type} page (HTML, text, Markdown, PDF or JSON)")
    with tempfile.TemporaryDirectory(prefix="qa-app-fetch-") as folder:
        path = Path(folder) / (_file_stem(final_url) + suffix)
        path.write_bytes(content)
        try:
            documents = load_file(path, max_bytes=settings.max_file_bytes, max_pdf_pages=settings.max_pdf_pages,
                                  max_text_chars=settings.max_text_chars)  # fmt: skip
        except LoadError as exc:
            raise LoadError(url, exc.reason.replace(str(path), url)) from exc
    if len(documents) != 1:
        raise LoadError(url, f"the page holds {len(documents)} articles; index a single article's page")
    doc = documents[0]
    canonical = canonical_url(final_url, doc.metadata.get("url"))
    return replace(doc, source=url, identity=canonical, metadata={**doc.metadata, "url": canonical})


def canonical_url(final_url: str, declared: object) -> str:
    """The page's declared canonical URL when it is http(s) on the same site as `final_url`, else `final_url`.

    A page on another site cannot claim to be (and so replace) an article indexed from that site.
    """
    import httpx

    final = urldefrag(final_url).url
    if not isinstance(declared, str) or not declared.strip():
        return final
    candidate = urldefrag(urljoin(final, declared.strip())).url
    try:
        same_site = _site(httpx.URL(candidate)) == _site(httpx.URL(final))
        web = httpx.URL(candidate).scheme in ("http", "https")
    except httpx.InvalidURL:
        return final
    return candidate if same_site and web else final


def _site(url: httpx.URL) -> str:
    return url.host.removeprefix("www.")


def _file_stem(url: str) -> str:
    """A file name for the page (its title falls back to it): the URL's last path segment, else its host."""
    import httpx

    parsed = httpx.URL(url)
    segment = next((part for part in reversed(parsed.path.split("/")) if part), "") or parsed.host
    stem = segment.rsplit(".", 1)[0] if "." in segment else segment
    try:
        return safe_upload_name(stem) or "article"
    except LoadError:
        return "article"


def fetch_documents(urls: Iterable[str], settings: Settings) -> tuple[list[Document], list[Failure]]:
    """The articles at `urls`, and a Failure (URL and reason) for each one that could not be fetched."""
    documents: list[Document] = []
    failures: list[Failure] = []
    for url in urls:
        try:
            documents.append(fetch_document(url, settings))
        except LoadError as exc:
            failures.append(Failure(url, exc.reason))
    return documents, failures
