"""Index bytes per article: where they go, and what int8 sentence vectors would save and cost.

Indexes corpus/ and benchmarks/data/articles.jsonl (the quality benchmark's news set) with the real model into
a temporary folder, then reports the bytes on disk per article: every file (SQLite by table and index through
its dbstat table, FAISS, the BM25 folders) and, inside SQLite, the logical bytes of each stored column (article
text, chunk vectors, sentence and title vectors). `bytes_per_article` is the folder at rest, after the library is
closed (SQLite has folded its write-ahead log in and removed it and its shared-memory file);
`bytes_per_article_while_open` counts those two files as well.

Then the quality side of smaller sentence vectors, without changing the product: the composer's stored-vector
reader is wrapped so every sentence and title vector it reads goes through an int8 round trip (per-vector scale
kept as float16: 386 bytes instead of float16's 768) and the quality benchmark's answer figures
(benchmarks/quality.py `answer_figures`) are computed with the stored float16 vectors and with the round-tripped
ones, on the same index, the same questions. int8 is now the default, so this comparison needs
QA_APP_SENTENCE_VECTORS=float16 (the quality benchmark run both ways is the real check: README, Index size).

Run: `nice -n 5 .venv/bin/python benchmarks/index_bytes.py [--skip-quality]`; writes
benchmarks/results/index_bytes.json (machine and load average included).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.quality import DATA, answer_figures, load_questions  # noqa: E402
from qa_app.config import DB_NAME, load_settings  # noqa: E402
from qa_app.library import Library  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "index_bytes.json"
COLUMNS = {  # logical bytes of the columns that hold the data (the rest is keys, offsets and SQLite's pages)
    "document_text": "SELECT SUM(LENGTH(CAST(text AS BLOB))) FROM documents",
    "chunk_vectors": "SELECT SUM(LENGTH(vector)) FROM chunks",
    "chunk_sentence_spans": "SELECT SUM(LENGTH(sentences)) FROM chunks",
    "sentence_vectors": "SELECT SUM(LENGTH(vectors)) FROM sentence_vectors",
    "sentence_spans": "SELECT SUM(LENGTH(spans)) FROM sentence_vectors",
    "title_vectors": "SELECT SUM(LENGTH(title_vector)) FROM documents",
}
COUNTS = {"documents": "SELECT COUNT(*) FROM documents", "chunks": "SELECT COUNT(*) FROM chunks",
          "sentences": "SELECT SUM(LENGTH(spans)) / 8 FROM sentence_vectors",
          "free_pages": "PRAGMA freelist_count", "pages": "PRAGMA page_count"}  # fmt: skip


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def file_bytes(index_dir: Path) -> dict[str, int]:
    """Bytes on disk per file kind: the database (with its WAL), the FAISS file, the BM25 folders."""
    kinds: dict[str, int] = {}
    for path in index_dir.rglob("*"):
        if not path.is_file():
            continue
        relative = path.relative_to(index_dir)
        top = relative.parts[0]
        kind = ("sqlite" if top.startswith(DB_NAME) else "faiss" if top.endswith(".faiss") else
                top.split("-")[0] if top.startswith("bm25") else top)  # fmt: skip
        kinds[kind] = kinds.get(kind, 0) + path.stat().st_size
    return kinds


def sqlite_bytes(index_dir: Path) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """Pages per table or index (dbstat), logical bytes per data column, and row counts."""
    with contextlib.closing(sqlite3.connect(index_dir / DB_NAME)) as db:  # closed: the WAL can go at rest
        pages = dict(db.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC").fetchall())
        columns = {name: int(db.execute(sql).fetchone()[0] or 0) for name, sql in COLUMNS.items()}
        counts = {name: int(db.execute(sql).fetchone()[0]) for name, sql in COUNTS.items()}
    return pages, columns, counts


def int8_round_trip(vector: np.ndarray) -> np.ndarray:
    """What an int8 vector with a float16 per-vector scale reads back as."""
    scale = np.float16(max(float(np.abs(vector).max()), 1e-12) / 127.0)
    codes = np.clip(np.rint(vector / np.float32(scale)), -127, 127).astype(np.int8)
    return (codes.astype(np.float32) * np.float32(scale)).astype(np.float32)


def round_tripped(stored: Callable) -> Callable:
    """The composer's stored-vector reader, with every vector passed through `int8_round_trip`."""

    def read(doc_ids: list[str]) -> tuple[dict, dict]:
        sentences, titles = stored(doc_ids)
        return ({k: int8_round_trip(v) for k, v in sentences.items()},
                {k: int8_round_trip(v) for k, v in titles.items()})  # fmt: skip

    return read


def quality(index_dir: Path, library: Library) -> dict[str, dict]:
    """The news set's answer figures with the stored sentence vectors, then with their int8 round trip."""
    questions = load_questions()
    figures = {"float16_stored": answer_figures(library, questions)}
    library.composer.stored = round_tripped(library.composer.stored)
    figures["int8_round_trip"] = answer_figures(library, questions)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-quality", action="store_true", help="bytes only")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    info = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "machine": platform.platform(),
            "cpu_count": os.cpu_count(), "uptime_at_start": uptime()}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="index-bytes-") as tmp:
        settings = load_settings(index_dir=Path(tmp) / "index")
        library = Library(settings)
        started = time.perf_counter()
        library.add([ROOT / "corpus", DATA / "articles.jsonl"])
        info["index_seconds"] = round(time.perf_counter() - started, 1)
        files = file_bytes(settings.index_dir)
        pages, columns, counts = sqlite_bytes(settings.index_dir)
        articles = counts["documents"]
        total = sum(files.values())
        report = {
            "counts": counts,
            "bytes_per_article": round(total / articles),
            "files_per_article": {k: round(v / articles) for k, v in sorted(files.items(), key=lambda kv: -kv[1])},
            "sqlite_pages_per_article": {k: round(v / articles) for k, v in pages.items()},
            "columns_per_article": {k: round(v / articles) for k, v in columns.items()},
            "int8_sentence_vectors_would_save_per_article": round(
                (counts["sentences"] + articles) * (768 - 386) / articles
            ),
        }
        if not args.skip_quality:
            report["quality"] = quality(settings.index_dir, library)
        library.close()  # SQLite folds its write-ahead log into the database and deletes it
        at_rest = file_bytes(settings.index_dir)
        report["bytes_per_article_while_open"] = report["bytes_per_article"]
        report["bytes_per_article"] = round(sum(at_rest.values()) / articles)
        report["files_per_article_at_rest"] = {k: round(v / articles) for k, v in at_rest.items() if v}
    info["uptime_at_end"] = uptime()
    print(json.dumps(report, indent=2))
    print(f"start: {info['uptime_at_start']}\nend:   {info['uptime_at_end']}")
    args.out.write_text(json.dumps({"info": info, **report}, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
