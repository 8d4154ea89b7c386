"""Feature rows for the answer scorer, made by the product itself over SQuAD libraries (see training/squad.py).

For every question the real retriever returns passages from its split's library and the real composer lists
their sentences and computes the scorer's features, exactly as at question time. Labels: 1 for a sentence of
the question's own paragraph holding an answer, 0 for any other sentence, -1 (ignored) for a sentence of
another paragraph that happens to hold the answer text. Each answerable question is also asked against the
library without its own paragraph ("answer removed": its passages are dropped, and any sentence still holding
the answer is ignored), which is what abstention has to recognise.

    python -m training.build_dataset --data ../shared/data      # ~16 min on 2 cores, cached in training/.cache

The libraries are indexed with the settings of the environment (`QA_APP_SENTENCE_VECTORS_FROM`,
`QA_APP_EMBEDDING_PRECISION`…), recorded in the cache's splits.json; `QA_APP_TRAINING_CACHE` puts the cache
elsewhere (a scorer for vectors made another way is trained from its own cache).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import random
import time
from pathlib import Path

import numpy as np

from qa_app.config import Settings, load_settings
from qa_app.embedder import SentenceTransformerEmbedder
from qa_app.library import Library
from qa_app.reader import JUDGE_FILES
from qa_app.records import Passage
from qa_app.scorer import features
from training.squad import SEED, Question, load_splits, sha256, split_manifest

# one cache per kind of sentence vector (the scorer reads them): .cache for sentences embedded alone, .cache-pooled
# for the default, pooled from the chunk's pass
_CACHE_NAME = {"sentences": ".cache", "chunks": ".cache-pooled"}[load_settings().sentence_vectors_from]
CACHE = Path(os.environ.get("QA_APP_TRAINING_CACHE") or Path(__file__).resolve().parent / _CACHE_NAME)
# answerable questions per article, as a slice of the article's seeded shuffle; "train-more" (built only when
# asked, `--splits train-more`) is more questions for the reader (`train_reader --more`): the train articles'
# next 60, which the scorer never sees (it learns from "train" alone)
QUESTIONS_PER_ARTICLE = {"train": (0, 60), "dev": (0, 80), "val": (0, 80), "train-more": (60, 120)}
ARTICLES_OF = {"train-more": "train"}  # a split whose articles (and library) are another split's
EXTRA = 8  # passages fetched beyond k, so the answer-removed variant still has k


def split_library(name: str, docs: list, embedder: SentenceTransformerEmbedder) -> Library:
    """The split's library, indexed once and reused (the benchmark opens the same one)."""
    settings = load_settings(index_dir=CACHE / name / "index")
    library = Library(settings, embedder=embedder)
    made_from = settings.sentence_vectors_from
    if library.settings.sentence_vectors_from != made_from:  # the index keeps its own kind: never mix them
        raise SystemExit(
            f"{CACHE / name / 'index'} holds sentence vectors made from "
            f"{library.settings.sentence_vectors_from}, not {made_from}: set QA_APP_TRAINING_CACHE"
        )
    if library.counts()[0] != len(docs):
        results = library.add(docs)
        failed = [r for r in results if r.status == "failed"]
        if failed:
            raise SystemExit(f"{name}: {failed[0]}")
    return library


def overlaps(p: Passage, doc_id: str, span: tuple[int, int]) -> bool:
    """Whether passage `p` holds part of the span `span` of document `doc_id` (its own paragraph)."""
    return p.doc_id == doc_id and p.start < span[1] and span[0] < p.end


def chosen_questions(questions: list[Question], name: str, rng: random.Random) -> list[Question]:
    """The questions of one article that split `name` asks: its slice of the answerable ones in `rng`'s shuffle
    (`QUESTIONS_PER_ARTICLE`), and the adversarial ones in the split that starts at the first."""
    answerable = [q for q in questions if q.kind == "answerable"]
    rng.shuffle(answerable)
    first, last = QUESTIONS_PER_ARTICLE[name]
    return answerable[first:last] + ([q for q in questions if q.kind == "adversarial"] if first == 0 else [])


def group_record(library: Library, q: Question, doc_id: str, passages: list[Passage], query, removed: bool) -> dict:
    """What the scorer reads of one question against some passages, with a label per sentence."""
    sentences, views = library.composer.views(query, passages)
    labels = []
    for p, (start, end), text in sentences:
        holds = any(a in text for a in q.answers)
        own = p.doc_id == doc_id and q.paragraph[0] <= start and end <= q.paragraph[1]
        labels.append(-1 if holds and (removed or not own) else int(holds and own))
    keys = [(p.doc_id, start, end) for p, (start, end), _ in sentences]
    return {"question": query.terms_text, "vector": query.vector, "views": views, "labels": labels, "keys": keys}


def featurize(groups: list[dict]) -> dict[str, np.ndarray]:
    """Feature rows of cached groups, with labels, group ids, kinds and the vectors (for the vector design)."""
    X, y, group, qvec, svec = [], [], [], [], []
    for gid, g in enumerate(groups):
        X.append(features(g["question"], g["vector"], g["views"]))
        y += g["labels"]
        group += [gid] * len(g["labels"])
        qvec.append(g["vector"])
        svec += [v.vector for v in g["views"]]
    return {
        "X": np.vstack(X),
        "y": np.array(y, dtype=np.int8),
        "group": np.array(group, dtype=np.int32),
        "kind": np.array([g["kind"] for g in groups]),
        "qvec": np.vstack(qvec).astype(np.float16),
        "svec": np.vstack(svec).astype(np.float16),
    }


def vector_settings(settings: Settings, embedder: SentenceTransformerEmbedder) -> dict[str, str]:
    """How the libraries' stored vectors are made (the scorer reads them): the settings and the embedder's
    resolved precision."""
    return {
        "embedding_model": settings.embedding_model,
        "embedding_backend": settings.embedding_backend,
        "embedding_precision": embedder.precision,
        "sentence_vectors_from": settings.sentence_vectors_from,
    }


def cached_judge_files() -> tuple[Path, Path]:
    """Where the scorer and the reader's blend for the cache's kind of sentence vectors go (`reader.JUDGE_FILES`)."""
    splits = CACHE / "splits.json"
    vectors = json.loads(splits.read_text(encoding="utf-8")).get("vectors", {}) if splits.exists() else {}
    return JUDGE_FILES[vectors.get("sentence_vectors_from", "sentences")]


def build(data_dir: Path, splits_wanted: list[str]) -> None:
    settings = load_settings()
    embedder = SentenceTransformerEmbedder(settings.embedding_model, settings.embedding_backend,
                                           precision=settings.embedding_precision)  # fmt: skip
    splits = load_splits(data_dir)
    CACHE.mkdir(parents=True, exist_ok=True)
    manifest = {
        "data": {p.name: sha256(p) for p in sorted(data_dir.glob("squad-*.json"))},
        "seed": SEED,
        "splits": split_manifest(splits),
        "vectors": vector_settings(settings, embedder),
        "retrieval": {"top_k": settings.top_k, "max_per_doc": settings.max_per_doc, "mode": settings.retrieval_mode},
    }
    (CACHE / "splits.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    for name in splits_wanted:
        started = time.perf_counter()
        articles = ARTICLES_OF.get(name, name)
        items = splits[articles]
        library = split_library(articles, [doc for doc, _ in items], embedder)
        print(f"{name}: indexed {library.counts()} in {time.perf_counter() - started:.0f} s", flush=True)
        rng = random.Random(SEED)
        k = library.settings.top_k
        groups = []
        for doc, questions in items:
            for q in chosen_questions(questions, name, rng):
                query = library.query(q.question)
                fetched = library.retrieve(query, k=k + EXTRA)
                variants = [(q.kind, fetched[:k], False)]
                if q.kind == "answerable":
                    kept = [p for p in fetched if not overlaps(p, doc.doc_id, q.paragraph)][:k]
                    variants.append(("removed", kept, True))
                for kind, passages, removed in variants:
                    record = group_record(library, q, doc.doc_id, passages, query, removed)
                    if record["labels"]:
                        groups.append({**record, "kind": kind, "qid": q.qid})
        library.close()
        with (CACHE / f"{name}.pkl").open("wb") as f:
            pickle.dump(groups, f, protocol=pickle.HIGHEST_PROTOCOL)
        rows = sum(len(g["labels"]) for g in groups)
        print(f"{name}: {len(groups)} groups, {rows} rows in {time.perf_counter() - started:.0f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--splits", nargs="+", default=["dev", "val", "train"])
    args = parser.parse_args()
    build(args.data, args.splits)


if __name__ == "__main__":
    main()
