"""Quality benchmark: retrieval recall, answer grounding and abstention over a labelled question set.

Indexes the shipped corpus plus benchmarks/data/articles.jsonl with the real model, then, for dense-only,
BM25-only and hybrid retrieval, reports Recall@1/5/10 and MRR@10 of the gold article, the answer-in-citation
rate, abstention precision/recall and citation-invariant violations. Prints a table and writes
benchmarks/results/quality.json. Run with `make bench-quality`.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from qa_app.config import load_settings
from qa_app.embedder import SentenceTransformerEmbedder
from qa_app.library import Library

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "data"
RESULTS = ROOT / "benchmarks" / "results" / "quality.json"
MODES = ("dense", "lexical", "hybrid")
THRESHOLDS = [round(0.30 + 0.05 * i, 2) for i in range(9)]


def load_questions() -> list[dict]:
    return [json.loads(line) for line in (DATA / "questions.jsonl").read_text(encoding="utf-8").splitlines() if line]


def evaluate(library: Library, questions: list[dict]) -> dict:
    """Every metric for one retrieval mode."""
    ranks, hits, answered_ok, abstained, violations, scores, latencies = [], [], [], [], 0, [], []
    for q in questions:
        gold = set(q["gold_titles"])
        passages = library.search(q["question"], k=10)
        if q["answerable"]:
            titles = [p.title for p in passages]
            ranks.append(next((i + 1 for i, t in enumerate(titles) if t in gold), None))
        started = time.perf_counter()
        answer = library.ask(q["question"])
        latencies.append(time.perf_counter() - started)
        scores.append((answer.score, q["answerable"]))
        for c in answer.citations:
            violations += library.document(c.doc_id).text[c.start : c.end] != c.quote
        if q["answerable"]:
            answered_ok.append(answer.answered)
            hits.append(answer.answered and any(q["answer"] in c.quote for c in answer.citations))
        else:
            abstained.append(not answer.answered)
    n = len(ranks)
    predicted_abstain = sum(abstained) + sum(not a for a in answered_ok)
    return {
        "recall@1": sum(r is not None and r <= 1 for r in ranks) / n,
        "recall@5": sum(r is not None and r <= 5 for r in ranks) / n,
        "recall@10": sum(r is not None and r <= 10 for r in ranks) / n,
        "mrr@10": sum(1 / r for r in ranks if r is not None) / n,
        "answer_in_citation": sum(hits) / n,
        "answered_rate": sum(answered_ok) / n,
        "abstention_precision": sum(abstained) / predicted_abstain if predicted_abstain else 0.0,
        "abstention_recall": sum(abstained) / len(abstained) if abstained else 0.0,
        "citation_violations": violations,
        "ask_latency_median_ms": statistics.median(latencies) * 1000,
        "threshold_sweep": sweep(scores),
    }


def sweep(scores: list[tuple[float, bool]]) -> list[dict]:
    """Abstention precision/recall if the threshold were each of THRESHOLDS (for calibration)."""
    rows = []
    for t in THRESHOLDS:
        abstain_right = sum(s < t and not answerable for s, answerable in scores)
        abstain_all = sum(s < t for s, _ in scores)
        unanswerable = sum(not answerable for _, answerable in scores)
        answerable = len(scores) - unanswerable
        rows.append({
            "threshold": t,
            "abstention_precision": abstain_right / abstain_all if abstain_all else 0.0,
            "abstention_recall": abstain_right / unanswerable if unanswerable else 0.0,
            "answered_rate": sum(s >= t and a for s, a in scores) / answerable if answerable else 0.0,
        })  # fmt: skip
    return rows


def main() -> int:
    questions = load_questions()
    embedder = SentenceTransformerEmbedder(load_settings().embedding_model)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(index_dir=Path(tmp) / "index")
        started = time.perf_counter()
        Library(settings, embedder=embedder).add([ROOT / "corpus", DATA / "articles.jsonl"])
        index_seconds = time.perf_counter() - started
        for mode in MODES:
            results[mode] = evaluate(Library(replace(settings, retrieval_mode=mode), embedder=embedder), questions)
    answerable = sum(q["answerable"] for q in questions)
    print(f"{len(questions)} questions ({answerable} answerable, {len(questions) - answerable} not); "
          f"indexing took {index_seconds:.1f} s; abstention threshold {settings.min_answer_score}")  # fmt: skip
    metrics = [k for k in results["hybrid"] if k != "threshold_sweep"]
    print(f"{'metric':<24}" + "".join(f"{m:>10}" for m in MODES))
    for metric in metrics:
        print(f"{metric:<24}" + "".join(f"{results[m][metric]:>10.3f}" for m in MODES))
    print("\nhybrid abstention threshold sweep (best-sentence score):")
    for row in results["hybrid"]["threshold_sweep"]:
        print("  " + "  ".join(f"{k}={v:.2f}" for k, v in row.items()))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"questions": len(questions), "modes": results}, indent=2) + "\n")
    return 1 if any(results[m]["citation_violations"] for m in MODES) else 0


if __name__ == "__main__":
    sys.exit(main())
