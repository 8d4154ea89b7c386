"""The followed news feeds and the items already taken from them, in the index's own database (library.sqlite).

These tables have their own numbered migrations, recorded under the `feeds_schema` key of the `meta` table, so
the feeds never bump the document schema (store.py) and an index without feeds has no feed tables.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from qa_app.config import DB_NAME
from qa_app.errors import NotFoundError, QAError


def _f001_feeds(db: sqlite3.Connection) -> None:
    db.execute(
        "CREATE TABLE feeds (id INTEGER PRIMARY KEY AUTOINCREMENT, url TEXT NOT NULL UNIQUE, title TEXT,"
        " added_at TEXT NOT NULL, etag TEXT, modified TEXT, last_polled_at TEXT, last_status TEXT, last_error TEXT,"
        " last_new INTEGER NOT NULL DEFAULT 0)"
    )
    db.execute(
        "CREATE TABLE feed_items (link TEXT PRIMARY KEY, feed_id INTEGER NOT NULL REFERENCES feeds(id)"
        " ON DELETE CASCADE, doc_id TEXT, added_at TEXT NOT NULL)"
    )
    db.execute("CREATE INDEX feed_items_feed ON feed_items(feed_id)")


_MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_f001_feeds]
_COLUMNS = "id, url, title, added_at, etag, modified, last_polled_at, last_status, last_error, last_new"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Feed:
    """A followed feed and how its last poll went."""

    id: int
    url: str
    title: str | None
    added_at: str
    etag: str | None = field(default=None, repr=False)  # for conditional requests; not part of the JSON
    modified: str | None = field(default=None, repr=False)
    last_polled_at: str | None = None
    last_status: str | None = None  # "ok" | "not modified" | "failed"
    last_error: str | None = None
    last_new: int = 0  # articles added by the last poll
    items: int = 0  # items taken from this feed so far

    def to_json(self) -> dict:
        """The feed as `feeds list --json` prints it."""
        return {key: value for key, value in asdict(self).items() if key not in ("etag", "modified")}


class FeedStore:
    """The feed tables of one index directory's database (its own connection; safe to share between threads)."""

    def __init__(self, index_dir: Path) -> None:
        self._db = sqlite3.connect(Path(index_dir) / DB_NAME, check_same_thread=False, isolation_level=None,
                                   timeout=60)  # fmt: skip
        self._db.execute("PRAGMA foreign_keys=ON")
        self._lock = threading.RLock()
        self._migrate()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _migrate(self) -> None:
        with self._transaction() as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'feeds_schema'").fetchone()
            version = int(row[0]) if row else 0
            if version > len(_MIGRATIONS):
                raise QAError(f"the feed tables have schema version {version}, newer than this qa_app; upgrade it")
            for number, migration in enumerate(_MIGRATIONS[version:], start=version + 1):
                migration(db)
                db.execute("INSERT OR REPLACE INTO meta VALUES ('feeds_schema', ?)", (str(number),))

    def _rows(self, where: str = "", params: Sequence = ()) -> list[Feed]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS}, (SELECT COUNT(*) FROM feed_items i WHERE i.feed_id = f.id) FROM feeds f "
                f"{where} ORDER BY id",
                params,
            ).fetchall()
        return [Feed(*row) for row in rows]

    def feeds(self) -> list[Feed]:
        """Every followed feed, oldest first."""
        return self._rows()

    def feed(self, url_or_id: str) -> Feed:
        """One feed by its URL or its id; NotFoundError otherwise."""
        found = self._rows("WHERE url = ? OR CAST(id AS TEXT) = ?", (url_or_id, url_or_id))
        if not found:
            raise NotFoundError(f"no feed {url_or_id!r}; `qa-app feeds list` shows them")
        return found[0]

    def add(self, url: str) -> Feed:
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM feeds WHERE url = ?", (url,)).fetchone():
                raise QAError(f"{url} is already followed")
            db.execute("INSERT INTO feeds (url, added_at) VALUES (?, ?)", (url, now()))
        return self.feed(url)

    def remove(self, url_or_id: str) -> Feed:
        """Stop following a feed (its articles stay indexed)."""
        feed = self.feed(url_or_id)
        with self._transaction() as db:
            db.execute("DELETE FROM feeds WHERE id = ?", (feed.id,))
        return feed

    def seen(self, links: Iterable[str]) -> set[str]:
        """Which of `links` were already taken from a feed (any feed)."""
        links = list(links)
        found: set[str] = set()
        with self._lock:
            for first in range(0, len(links), 500):
                batch = links[first : first + 500]
                marks = ",".join("?" * len(batch))
                found |= {r[0] for r in self._db.execute(f"SELECT link FROM feed_items WHERE link IN ({marks})", batch)}
        return found

    def record_items(self, feed_id: int, items: Iterable[tuple[str, str | None]]) -> None:
        """Remember (link, doc_id) pairs taken from a feed, so later polls skip them."""
        with self._transaction() as db:
            db.executemany("INSERT OR IGNORE INTO feed_items VALUES (?, ?, ?, ?)",
                           [(link, feed_id, doc_id, now()) for link, doc_id in items])  # fmt: skip

    def record_poll(
        self, feed: Feed, status: str, error: str | None = None, new: int = 0, **changed: str | None
    ) -> None:
        """The outcome of a poll; `changed` may set title, etag and modified."""
        values = {"last_polled_at": now(), "last_status": status, "last_error": error, "last_new": new}
        values |= {key: value for key, value in changed.items() if key in ("title", "etag", "modified")}
        assignments = ", ".join(f"{key} = ?" for key in values)
        with self._transaction() as db:
            db.execute(f"UPDATE feeds SET {assignments} WHERE id = ?", (*values.values(), feed.id))
