"""Synthetic news batches for the performance benchmark: real article paragraphs, recombined.

Each generated article takes the paragraphs of 1-4 source articles (benchmarks/data/articles.jsonl and corpus/),
shuffles them with a seeded generator and keeps a prefix of 300-1500 words (capped by what its sources hold:
the sources are ~300-480 words each, so the longest articles reach ~1,400 words). Titles and URLs are new and
unique; texts are checked unique, so every article is a new document for the index.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from qa_app.documents import load_files

ROOT = Path(__file__).resolve().parent.parent
SOURCES = (ROOT / "corpus", ROOT / "benchmarks" / "data" / "articles.jsonl")
MIN_WORDS, MAX_WORDS = 300, 1500
_OUTLETS = ("Newsdesk Wire", "Evening Ledger", "Metro Herald", "Coastal Times", "Capital Report")
_DESKS = ("update", "analysis", "briefing", "roundup", "explainer", "follow-up")


@dataclass(frozen=True)
class SourceArticle:
    title: str
    paragraphs: tuple[str, ...]

    @property
    def words(self) -> int:
        return sum(len(p.split()) for p in self.paragraphs)


def source_articles() -> list[SourceArticle]:
    """The benchmark's real articles, loaded and normalised by the product's own loader."""
    documents, failures = load_files(list(SOURCES), max_bytes=50 * 1024 * 1024)
    if failures:
        raise RuntimeError(f"cannot load the source articles: {failures}")
    return [SourceArticle(d.title, tuple(p for p in d.text.split("\n\n") if p.strip())) for d in documents]


def generate(count: int, seed: int = 7, sources: list[SourceArticle] | None = None, start: int = 0) -> list[dict]:
    """`count` unique article records (title, body, url, source, published_at, author); `start` offsets names."""
    sources = sources or source_articles()
    mean_words = sum(s.words for s in sources) / len(sources)
    rng = random.Random(seed)
    records: list[dict] = []
    seen: set[str] = set()
    while len(records) < count:
        target = rng.randint(MIN_WORDS, MAX_WORDS)
        picked = rng.sample(sources, min(4, max(1, math.ceil(target / mean_words))))
        paragraphs = [p for s in picked for p in s.paragraphs]
        rng.shuffle(paragraphs)
        body = _take_words(paragraphs, target)
        if body in seen:  # the same draw twice: draw again
            continue
        seen.add(body)
        n = start + len(records) + 1
        records.append({
            "title": f"{picked[0].title} — {rng.choice(_DESKS)} {n}",
            "body": body,
            "url": f"https://news.example/perf/{n:06d}",
            "source": rng.choice(_OUTLETS),
            "published_at": (date(2025, 1, 1) + timedelta(days=rng.randrange(300))).isoformat(),
            "author": f"Staff writer {rng.randrange(1, 40)}",
        })  # fmt: skip
    return records


def _take_words(paragraphs: list[str], target: int) -> str:
    """Paragraphs in order until `target` words are reached (all of them when they hold fewer)."""
    kept: list[str] = []
    words = 0
    for paragraph in paragraphs:
        kept.append(paragraph)
        words += len(paragraph.split())
        if words >= target:
            break
    return "\n\n".join(kept)


def write_jsonl(records: list[dict], path: Path) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path
