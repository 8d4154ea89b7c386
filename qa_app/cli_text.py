"""What `qa-app search` and `qa-app ask` print for people (the --json output is contract.py's)."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping, Sequence

from qa_app.records import Answer, Passage

EXCERPT_CHARS = 240  # a passage is a few sentences; `qa-app show DOC_ID` prints the whole article
BRIEF_CHARS = 160  # the closest passages under an abstention
INDENT = "   "

Echo = Callable[[str], None]


def excerpt(text: str, width: int = EXCERPT_CHARS) -> str:
    """`text` on one line, cut at a word near `width` characters with an ellipsis."""
    return textwrap.shorten(" ".join(text.split()), width=width, placeholder=" …")


def passage_lines(
    rank: int, passage: Passage, outlet: str, *, scores: bool = False, width: int = EXCERPT_CHARS
) -> list[str]:
    """`1. Title`, `2025-05-03 · Outlet · source`, the excerpt wrapped and indented, and the scores if asked."""
    facts = [passage.published_at or "undated", outlet or passage.source]
    if outlet and outlet != passage.source:
        facts.append(passage.source)
    if passage.page is not None:
        facts.append(f"p. {passage.page}")
    lines = [f"{rank}. {passage.title}", INDENT + " · ".join(facts)]
    lines += textwrap.wrap(excerpt(passage.text, width), width=100, initial_indent=INDENT, subsequent_indent=INDENT)
    if scores:
        lines.append(INDENT + score_line(passage))
    return lines


def score_line(passage: Passage) -> str:
    """`scores: fused 0.0331 · dense 0.612 · BM25 4.21` (a part is "-" when that retriever did not find it)."""
    dense = "-" if passage.dense_score is None else f"{passage.dense_score:.3f}"
    bm25 = "-" if passage.lexical_score is None else f"{passage.lexical_score:.2f}"
    return f"scores: fused {passage.score:.4f} · dense {dense} · BM25 {bm25}"


def print_passages(passages: Sequence[Passage], outlets: Mapping[str, str], echo: Echo, *, scores: bool) -> None:
    """Search results, one block each, separated by blank lines."""
    if not passages:
        echo("No passage matched (check the filters, or index more articles).")
    for rank, passage in enumerate(passages, 1):
        echo("\n".join(passage_lines(rank, passage, outlets.get(passage.doc_id, ""), scores=scores)) + "\n")


def print_answer(answer: Answer, outlets: Mapping[str, str], echo: Echo) -> None:
    """The answer with its numbered quotes; on abstention, the three closest passages, briefly."""
    echo(answer.text)
    if answer.citations:
        echo("")
    for c in answer.citations:
        facts = [c.published_at or "undated", outlets.get(c.doc_id) or c.source]
        if c.page:
            facts.append(f"p. {c.page}")
        echo(f"[{c.n}] {c.title} ({', '.join(facts)})\n    “{c.quote}”")
    if not answer.answered and answer.passages:
        echo("\nClosest passages:")
        for rank, passage in enumerate(answer.passages[:3], 1):
            outlet = outlets.get(passage.doc_id, "")
            echo("\n".join(passage_lines(rank, passage, outlet, width=BRIEF_CHARS)))
