"""SQuAD as libraries of our own: articles split by title, indexed with the product's real pipeline.

Each SQuAD article becomes one document (its paragraphs, normalised, joined by blank lines), so chunks,
sentences and stored vectors are exactly what the product makes of a news article. Splits are by article:
`train` (the scorer learns from it), `dev` (design choices and the abstention threshold) and `val` (reported,
never tuned on). The 10 articles of the SQuAD 2.0 excerpt, the only ones with adversarial unanswerable
questions, are shared between dev and val (5 each) and never trained on.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path

from qa_app.documents import make_document, normalize_text
from qa_app.records import Document

V1 = "squad-train-v1.1-from-explorer.json"
V2 = "squad-train-v2.0-first10articles.json"
SEED = 20261201
SPLIT_ARTICLES = {"dev": 5, "val": 5, "train": 120}  # v1.1-only articles; dev and val also get 5 v2 articles each


@dataclass(frozen=True)
class Question:
    """One SQuAD question placed in our document's text."""

    qid: str
    question: str
    doc_title: str
    paragraph: tuple[int, int]  # the paragraph's span in the document text
    answers: tuple[str, ...]  # normalised answer texts (empty: adversarial unanswerable)
    kind: str  # "answerable" | "adversarial"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _article(article: dict, kind_of_source: str) -> tuple[Document, list[Question]]:
    paragraphs = [normalize_text(p["context"]) for p in article["paragraphs"]]
    text = "\n\n".join(paragraphs)
    title = article["title"].replace("_", " ")
    doc = make_document(title=title, text=text, source=f"squad/{article['title']}", metadata={"outlet": "SQuAD"})
    assert doc.text == text
    questions, offset = [], 0
    for p, para in zip(article["paragraphs"], paragraphs, strict=True):
        span = (offset, offset + len(para))
        for qa in p["qas"]:
            impossible = qa.get("is_impossible", False)
            answers = () if impossible else tuple(dict.fromkeys(normalize_text(a["text"]) for a in qa["answers"]))
            if not impossible and not any(a and a in para for a in answers):
                continue
            kind = "adversarial" if impossible else "answerable"
            questions.append(Question(qa["id"], qa["question"], title, span, answers, kind))
        offset = span[1] + 2
    return doc, questions


def load_splits(data_dir: Path) -> dict[str, list[tuple[Document, list[Question]]]]:
    """Articles of each split, with their questions (v2 articles carry adversarial ones)."""
    v1 = json.loads((data_dir / V1).read_text(encoding="utf-8"))["data"]
    v2 = json.loads((data_dir / V2).read_text(encoding="utf-8"))["data"]
    v2_titles = {a["title"] for a in v2}
    rng = random.Random(SEED)
    others = [a for a in v1 if a["title"] not in v2_titles]
    rng.shuffle(others)
    v2_sorted = sorted(v2, key=lambda a: a["title"])
    rng.shuffle(v2_sorted)
    splits: dict[str, list] = {}
    start = 0
    for name, count in SPLIT_ARTICLES.items():
        chosen = [_article(a, "v1") for a in others[start : start + count]]
        start += count
        if name == "dev":
            chosen += [_article(a, "v2") for a in v2_sorted[:5]]
        elif name == "val":
            chosen += [_article(a, "v2") for a in v2_sorted[5:]]
        splits[name] = chosen
    return splits


def split_manifest(splits: dict[str, list[tuple[Document, list[Question]]]]) -> dict:
    """Which articles each split holds, and how many questions of each kind."""
    return {
        name: {
            "articles": sorted(doc.title for doc, _ in items),
            "questions": {
                kind: sum(q.kind == kind for _, qs in items for q in qs) for kind in ("answerable", "adversarial")
            },
        }
        for name, items in splits.items()
    }
