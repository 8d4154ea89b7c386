"""Small Altair timelines: the articles cited by an answer, and the library by publication month."""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import pandas as pd

from qa_app.app.cards import Card
from qa_app.records import DocumentInfo

_BLUE = "#1f5fa8"
_MAX_MONTHS = 60  # up to five years, every month gets a band (empty ones too)


def cited_frame(cards: Sequence[Card]) -> pd.DataFrame:
    """One row per cited article with a usable date: title, outlet, date, markers."""
    rows: dict[str, dict] = {}
    for card in cards:
        day = pd.to_datetime(card.published_at, errors="coerce") if card.published_at else pd.NaT
        if pd.isna(day):
            continue
        row = rows.setdefault(
            card.doc_id,
            {
                "title": card.title,
                "outlet": card.outlet,
                "date": day,
                "shown": card.shown_date,
                "markers": [],
            },
        )
        row["markers"].append(f"[{card.n}]")
    frame = pd.DataFrame(list(rows.values()), columns=["title", "outlet", "date", "shown", "markers"])
    frame["markers"] = frame["markers"].map(" ".join)
    return frame


def cited_timeline(cards: Sequence[Card]) -> alt.Chart | None:
    """Cited articles on a date axis; None unless two or more cited articles are dated (one dot says nothing)."""
    frame = cited_frame(cards)
    if len(frame) < 2:
        return None
    span_days = (frame["date"].max() - frame["date"].min()).days
    pad = pd.Timedelta(days=max(3, span_days // 10))
    scale = alt.Scale(domain=[(frame["date"].min() - pad).isoformat(), (frame["date"].max() + pad).isoformat()])
    points = (
        alt.Chart(frame)
        .mark_circle(size=140, color=_BLUE, opacity=0.85)
        .encode(
            x=alt.X("date:T", title=None, scale=scale, axis=alt.Axis(format="%d %b %Y", labelAngle=0, tickCount=4)),
            y=alt.Y("markers:N", title=None, axis=alt.Axis(labelFontWeight="bold")),
            tooltip=[
                alt.Tooltip("markers:N", title="Cited as"),
                alt.Tooltip("title:N", title="Article"),
                alt.Tooltip("outlet:N", title="Outlet"),
                alt.Tooltip("shown:N", title="Published"),
            ],
        )
    )
    # Streamlit sizes the whole element (title and axis included) from this height
    return points.properties(height=80 + 26 * len(frame), title="Cited articles by publication date")


def library_frame(documents: Sequence[DocumentInfo]) -> pd.DataFrame:
    """Articles per publication month, every month from the first to the last (undated articles are left out)."""
    dates = pd.to_datetime(pd.Series([d.published_at for d in documents], dtype="object"), errors="coerce")
    months = dates.dropna().dt.to_period("M")
    if months.empty:
        return pd.DataFrame({"month": [], "label": [], "articles": []})
    span = pd.period_range(months.min(), months.max(), freq="M")
    span = span if len(span) <= _MAX_MONTHS else pd.PeriodIndex(sorted(months.unique()))  # decades: only used months
    counts = months.value_counts().reindex(span, fill_value=0)
    return pd.DataFrame({"month": span.to_timestamp(), "label": span.strftime("%b %Y"), "articles": counts.to_numpy()})


def library_timeline(documents: Sequence[DocumentInfo]) -> alt.Chart | None:
    """Bar chart of articles by publication month (None when no article is dated).

    The months are bands of an ordinal axis, so each bar stands over its own label.
    """
    frame = library_frame(documents)
    if frame.empty:
        return None
    return (
        alt.Chart(frame)
        .mark_bar(color=_BLUE)
        .encode(
            x=alt.X("label:O", title="Publication month", sort=None, axis=alt.Axis(labelAngle=0, labelOverlap=True)),
            y=alt.Y("articles:Q", title="Articles", axis=alt.Axis(tickMinStep=1)),
            tooltip=[alt.Tooltip("label:N", title="Month"), alt.Tooltip("articles:Q", title="Articles")],
        )
        .properties(height=180)
    )
