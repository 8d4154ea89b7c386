"""Drawing pieces used by the chat page: citation cards, answers, passages. No logic beyond layout."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict

import pandas as pd
import streamlit as st

from qa_app.app import answer_view, cards, charts, render
from qa_app.app.export import answer_plain_text
from qa_app.app.state import ARTICLE_PAGE, Turn
from qa_app.records import CONFLICT, Answer, AnswerSentence, Passage

_UNSUPPORTED_STYLE = (
    "display:inline-block;font-size:.72rem;font-weight:600;color:#8a4b00;background:#fdebd0;"
    "border-radius:.6rem;padding:0 .4rem;margin-left:.1rem;vertical-align:super;line-height:1.3"
)


def card(item: cards.Card, key: str, anchor: str | None = None) -> None:
    """One source card: number, title, outlet · date · page, quote in context, link to the article."""
    with st.container(border=True, key=key):
        st.html(cards.card_html(item, anchor))
        st.page_link(ARTICLE_PAGE, label="Open in article", icon=":material/article:", query_params=item.link_params)


def answer(turn: Turn, show_passages: bool, on_feedback: Callable[[int], None]) -> None:
    """An assistant turn: the answer beside its sources, or the abstention and the closest passages."""
    if turn.error:
        st.error(render.escape_markdown(turn.error))
        return
    result = turn.answer
    assert result is not None
    summary = answer_view.filters_summary(asdict(turn.filters))
    if summary:
        st.caption("Filtered: " + render.escape_markdown(summary))
    if result.mode == "generative":
        st.caption("Written by a language model from the passages; every sentence was checked against its quote.")
    if result.searched_for:
        st.caption(f"Searched for: {render.escape_markdown(result.searched_for)}")
    if not result.answered:
        st.info(render.escape_markdown(result.text), icon=":material/search_off:")
        with st.expander(f"Closest passages ({len(turn.passages)})", expanded=False):
            if not turn.passages:
                st.caption("No passage matched the filters.")
            for i, item in enumerate(turn.passages):
                card(item, key=f"closest-{turn.id}-{i}")
        _feedback(turn, on_feedback)
    else:
        left, right = st.columns([3, 2], gap="large")
        with left:
            text, notes = answer_view.split_notes(result)
            quotes = {c.n: c.quote for c in result.citations}
            if result.mode == "generative":
                st.html(f'<div class="qa-answer">{sentences_html(result, str(turn.id))}</div>')
            else:
                body = answer_view.answer_html(text, list(quotes), prefix=str(turn.id), quotes=quotes)
                st.html(f'<div class="qa-answer">{body}</div>')
            for note in notes:
                if note.kind == CONFLICT:  # the sources disagree
                    st.warning(render.escape_markdown(note.text), icon=":material/compare_arrows:")
                else:  # which mode answered, and why
                    st.info(render.escape_markdown(note.text), icon=":material/smart_toy:")
            chart = charts.cited_timeline(turn.cards)
            if chart is not None:
                st.altair_chart(chart, width="stretch")
            _actions(turn, on_feedback)
        with right:
            st.caption(f"Sources ({len(turn.cards)})")
            for item in turn.cards:
                anchor = answer_view.cite_anchor(str(turn.id), item.n) if item.n is not None else None
                card(item, key=f"cite-{turn.id}-{item.n}", anchor=anchor)
    if show_passages and result.passages:
        with st.expander(f"Retrieved passages and scores ({len(result.passages)})"):
            st.dataframe(passage_frame(result.passages), hide_index=True, width="stretch")


def sentences_html(result: Answer, prefix: str | None = None) -> str:
    """A generated answer, escaped: each sentence with its citation badges, or an "unsupported" badge.

    With `prefix` (the turn's id), each badge links to its source card and previews its quote.
    """
    quotes = {c.n: c.quote for c in result.citations}
    parts = []
    for sentence in result.sentences:
        markers = "".join(answer_view.marker_html(n, prefix, quotes.get(n)) for n in sentence.citations)
        if not sentence.supported:
            reason = render.esc(f"Not supported by the cited passage: {sentence.reason or 'no check passed'}")
            markers = f'<span class="qa-unsupported" title="{reason}" style="{_UNSUPPORTED_STYLE}">unsupported</span>'
        parts.append(f"{render.esc(sentence.text)} {markers}".rstrip())
    return " ".join(parts)


def streamed_sentences(sentences: Iterable[AnswerSentence]) -> Iterator[str]:
    """Markdown for `st.write_stream`: each checked sentence, escaped, with its markers or an unsupported badge."""
    for sentence in sentences:
        markers = "".join(f"\\[{n}\\]" for n in sentence.citations)
        badge = "" if sentence.supported else " :orange-badge[unsupported]"
        yield f"{render.escape_markdown(sentence.text)} {markers}{badge} "


def _feedback(turn: Turn, on_feedback: Callable[[int], None]) -> None:
    st.feedback("thumbs", key=f"feedback-{turn.id}", on_change=on_feedback, args=(turn.id,))


def _actions(turn: Turn, on_feedback: Callable[[int], None]) -> None:
    """Thumbs up/down and the copyable plain-text answer."""
    assert turn.answer is not None
    cols = st.columns([1, 4], vertical_alignment="center")
    with cols[0]:
        _feedback(turn, on_feedback)
    with cols[1], st.expander("Copy answer with citations", icon=":material/content_copy:"):
        st.code(answer_plain_text(turn.answer, turn.outlets), language=None, wrap_lines=True)


def passage_frame(passages: Sequence[Passage]) -> pd.DataFrame:
    """Retrieved passages as a table: rank, scores, article, text (cells render as plain text)."""
    return pd.DataFrame(
        [
            {
                "rank": i,
                "score": round(p.score, 4),
                "dense": None if p.dense_score is None else round(p.dense_score, 3),
                "bm25": None if p.lexical_score is None else round(p.lexical_score, 3),
                "article": p.title,
                "date": p.published_at or "",
                "passage": p.text,
            }
            for i, p in enumerate(passages, 1)
        ]
    )
