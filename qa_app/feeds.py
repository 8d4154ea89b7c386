"""News feeds: follow RSS and Atom feeds and index each new item (see README, "Article URLs and news feeds").

A poll asks each feed conditionally (ETag / Last-Modified: an unchanged feed answers 304 and costs nothing),
parses it with feedparser, and for each item not taken before (by link) indexes the feed's own full text when it
carries one (Atom `content`, RSS `content:encoded`), else the linked page fetched like an article URL. Published
dates come from the feed. The library's content hash skips an article already indexed from elsewhere, and its
canonical URL replaces an older version. A bad item or an unreachable feed is reported; the rest goes on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date

from filelock import FileLock, Timeout

from qa_app.errors import LoadError, QAError
from qa_app.feed_store import Feed, FeedStore
from qa_app.fetch import check_url, fetch, fetch_document, page_document
from qa_app.library import Library
from qa_app.records import AddResult, Document

_ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
_ADDED = ("indexed", "replaced")


@dataclass(frozen=True)
class PollResult:
    """What one poll of one feed did."""

    feed: str  # its URL
    status: str  # "ok" | "not modified" | "failed"
    new: int = 0  # articles indexed or replaced
    error: str | None = None
    results: tuple[AddResult, ...] = field(default_factory=tuple)  # one per new item, failures included

    def to_json(self) -> dict:
        return {"feed": self.feed, "status": self.status, "new": self.new, "error": self.error,
                "results": [r.to_json() for r in self.results]}  # fmt: skip


class Feeds:
    """The feeds of one library: follow, stop following, list and poll."""

    def __init__(self, library: Library) -> None:
        self.library = library
        self.settings = library.settings
        self._store = FeedStore(library.index_dir)
        self._poll_lock = FileLock(str(library.index_dir / ".feeds.lock"))

    def close(self) -> None:
        self._store.close()

    def list(self) -> list[Feed]:
        return self._store.feeds()

    def add(self, url: str) -> Feed:
        """Follow `url` (http or https, a public address unless private ones are allowed); polled later."""
        check_url(url.strip(), self.settings.allow_private_urls)
        return self._store.add(url.strip())

    def remove(self, url_or_id: str) -> Feed:
        """Stop following a feed, by URL or id; what it brought stays indexed."""
        return self._store.remove(url_or_id)

    def poll(self, report: Callable[[PollResult], None] | None = None) -> list[PollResult]:
        """Poll every feed once, one after the other; QAError when another poll of this index is running."""
        try:
            with self._poll_lock.acquire(timeout=0):
                results = []
                for feed in self._store.feeds():
                    results.append(self._poll(feed))
                    if report:
                        report(results[-1])
                return results
        except Timeout as exc:
            raise QAError("another poll of these feeds is running; try again when it is done") from exc

    def _poll(self, feed: Feed) -> PollResult:
        conditional = {"If-None-Match": feed.etag or "", "If-Modified-Since": feed.modified or ""}
        headers = {"Accept": _ACCEPT, **{key: value for key, value in conditional.items() if value}}
        try:
            response = fetch(feed.url, self.settings, headers)
            if response.status == 304:
                self._store.record_poll(feed, "not modified")
                return PollResult(feed.url, "not modified")
            import feedparser  # here, not at the top: only polling a feed parses one

            parsed = feedparser.parse(response.content, response_headers={"content-type": response.content_type})
            if not parsed.entries and (parsed.bozo or not parsed.version):
                problem = getattr(parsed, "bozo_exception", None) or "no RSS or Atom items"
                raise LoadError(feed.url, f"not a news feed ({problem})")
        except LoadError as exc:
            self._store.record_poll(feed, "failed", exc.reason)
            return PollResult(feed.url, "failed", error=exc.reason)
        title = parsed.feed.get("title") or None
        results = self._index_new(feed, parsed.entries, title)
        new = sum(r.status in _ADDED for r in results)
        failed = [r for r in results if r.status == "failed"]
        error = f"{len(failed)} of {len(results)} new items failed; first: {failed[0].source}: {failed[0].reason}" \
            if failed else None  # fmt: skip
        # an item that failed is tried again next time: the feed must then be fetched, not answered 304
        validators = {"etag": None, "modified": None} if failed else {
            "etag": response.headers.get("etag"), "modified": response.headers.get("last-modified")}  # fmt: skip
        self._store.record_poll(feed, "ok", error, new, title=title, **validators)
        return PollResult(feed.url, "ok", new, error, tuple(results))

    def _index_new(self, feed: Feed, entries: Sequence[dict], outlet: str | None) -> list[AddResult]:
        """Index the items not taken before; remember those indexed (or found already indexed)."""
        keyed = [(entry.get("link") or entry.get("id"), entry) for entry in entries]
        seen = self._store.seen(key for key, _ in keyed if key)
        documents: dict[str, Document] = {}
        results: list[AddResult] = []
        for key, entry in keyed:
            if not key:
                results.append(AddResult(entry.get("title") or feed.url, "failed", reason="the item has no link"))
            elif key not in seen and key not in documents:
                try:
                    documents[key] = self._document(entry, key, outlet, feed.url)
                except LoadError as exc:
                    results.append(AddResult(key, "failed", reason=exc.reason))
        added = self.library.add(list(documents.values())) if documents else []
        by_doc = {doc.doc_id: key for key, doc in documents.items()}
        self._store.record_items(feed.id, [(by_doc[r.doc_id], r.doc_id) for r in added if r.doc_id in by_doc
                                           and r.status != "failed"])  # fmt: skip
        return results + added

    def _document(self, entry: dict, link: str, outlet: str | None, feed_url: str) -> Document:
        """The item's article: the feed's full text when it has one, else the linked page."""
        content = entry.get("content") or []
        if content and content[0].get("value", "").strip():
            body = content[0]["value"].encode("utf-8")
            doc = page_document(link, link, body, "text/html", self.settings)
            doc = replace(doc, title=" ".join((entry.get("title") or doc.title).split()))
        else:
            doc = fetch_document(link, self.settings)
        published = entry.get("published_parsed") or entry.get("updated_parsed")
        metadata = {**doc.metadata, "feed": feed_url}
        if outlet and "outlet" not in metadata:
            metadata["outlet"] = outlet
        dated = date(*published[:3]).isoformat() if published else doc.published_at
        return replace(doc, published_at=dated, metadata=metadata)


def poll_every(feeds: Feeds, minutes: float, report: Callable[[PollResult], None], rounds: int | None = None) -> None:
    """Poll, then wait `minutes`, until interrupted (or for `rounds` polls); a poll already running is skipped."""
    done = 0
    while rounds is None or done < rounds:
        started = time.monotonic()
        try:
            feeds.poll(report)
        except QAError as exc:
            report(PollResult("*", "failed", error=str(exc)))
        done += 1
        if rounds is None or done < rounds:
            time.sleep(max(0.0, minutes * 60 - (time.monotonic() - started)))
