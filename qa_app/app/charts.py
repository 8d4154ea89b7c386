"""Small Altair timelines: the articles cited by an answer, and the library by publication month."""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import pandas as pd

from qa_app.app.render import Card, format_date
from qa_app.records import DocumentInfo

_BLUE = "#1f5fa8"


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
                "shown": format_date(card.published_at),
                "markers": [],
            },
        )
        row["markers"].append(f"[{card.n}]")
    frame = pd.DataFrame(list(rows.values()), columns=["title", "outlet", "date", "shown", "markers"])
    frame["markers"] = frame["markers"].map(" ".join)
    return frame


def cited_timeline(cards: Sequence[Card]) -> alt.Chart | None:
    """Cited articles on a date axis (None when no cited article is dated)."""
    frame = cited_frame(cards)
    if frame.empty:
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
    """Articles per publication month (undated articles are left out)."""
    dates = pd.to_datetime(pd.Series([d.published_at for d in documents], dtype="object"), errors="coerce")
    months = dates.dropna().dt.to_period("M").dt.to_timestamp()
    counts = months.value_counts().sort_index()
    return pd.DataFrame({"month": counts.index, "articles": counts.to_numpy()})


def library_timeline(documents: Sequence[DocumentInfo]) -> alt.Chart | None:
    """Bar chart of articles by publication month (None when no article is dated)."""
    frame = library_frame(documents)
    if frame.empty:
        return None
    return (
        alt.Chart(frame)
        .mark_bar(color=_BLUE, size=18)
        .encode(
            x=alt.X("yearmonth(month):T", title="Publication month", axis=alt.Axis(format="%b %Y", labelAngle=0)),
            y=alt.Y("articles:Q", title="Articles", axis=alt.Axis(tickMinStep=1)),
            tooltip=[
                alt.Tooltip("yearmonth(month):T", title="Month", format="%B %Y"),
                alt.Tooltip("articles:Q", title="Articles"),
            ],
        )
        .properties(height=180)
    )
