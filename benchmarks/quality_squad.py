"""Answer figures on the SQuAD validation split (see training/squad.py): it is reported, never tuned on."""

from __future__ import annotations

import statistics
from pathlib import Path

from qa_app.embedder import Embedder
from qa_app.records import Citation
from training.build_dataset import EXTRA, overlaps, split_library
from training.squad import load_splits

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"


def squad_figures(embedder: Embedder, data_dir: Path = DATA_DIR, split: str = "val") -> dict:
    """Answer in quote / first quote, answered rate, abstention (answer removed, adversarial), quotes, notes."""
    items = load_splits(data_dir)[split]
    library = split_library(split, [doc for doc, _ in items], embedder)
    k = library.settings.top_k

    def check(c: Citation) -> bool:
        return library.document(c.doc_id).text[c.start : c.end] == c.quote

    hits, firsts, answered, removed, adversarial, quotes, notes = [], [], [], [], [], [], []
    for doc, questions in items:
        for q in questions:
            query = library.query(q.question)
            fetched = library.retrieve(query, k=k + EXTRA)
            answer = library.composer.compose(query, fetched[:k], check)
            if q.kind == "adversarial":
                adversarial.append(not answer.answered)
                continue
            answered.append(answer.answered)
            hits.append(answer.answered and any(a in c.quote for c in answer.citations for a in q.answers))
            firsts.append(answer.answered and any(a in answer.citations[0].quote for a in q.answers))
            if answer.answered:
                quotes.append(len(answer.citations))
                notes.append(bool(answer.notes))
            kept = [p for p in fetched if not overlaps(p, doc.doc_id, q.paragraph)][:k]
            removed.append(not library.composer.compose(query, kept, check).answered)
    mean = statistics.fmean
    figures = {
        "answerable_questions": len(answered),
        "adversarial_questions": len(adversarial),
        "answer_in_citation": mean(hits),
        "answer_in_first_quote": mean(firsts),
        "answered_rate": mean(answered),
        "abstains_answer_removed": mean(removed),
        "abstains_adversarial": mean(adversarial),
        "note_rate": mean(notes),
        "quotes_mean": mean(quotes),
        "quotes_max": max(quotes),
    }
    print(f"\nSQuAD {split} split ({len(items)} articles, never tuned on):")
    for metric, value in figures.items():
        print(f"  {metric:<30}{value:>10.3f}")
    return figures
