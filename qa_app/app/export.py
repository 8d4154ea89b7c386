"""Plain-text and Markdown exports of answers and of the whole conversation."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from qa_app.app.render import format_date
from qa_app.records import Answer, Citation

# In exported Markdown, untrusted text must not turn into links, HTML or headings when rendered.
_MD_INLINE = re.compile(r"([\\`*_\[\]<>|#])")


@dataclass(frozen=True)
class ExportTurn:
    """One question and its answer (None when asking failed), with the outlet of each cited document."""

    question: str
    answer: Answer | None
    outlets: Mapping[str, str]
    error: str | None = None
    settings: str = ""  # the filters and k it was asked with, e.g. "from 2025-05-01 · sources: AP · k = 8"


_MARKER = re.compile(r"(?<= )\\\[(\d+)\\\](?![(\[:])")  # not when it could start a link


def _md(text: str) -> str:
    """Untrusted text as inert Markdown; ` [n]` citation markers stay readable."""
    return _MARKER.sub(r"[\1]", _MD_INLINE.sub(r"\\\1", text))


def source_line(citation: Citation, outlets: Mapping[str, str]) -> str:
    """`Title — Outlet, 3 May 2025, p. 2` for one citation (plain text)."""
    parts = [outlets.get(citation.doc_id) or citation.source, format_date(citation.published_at)]
    if citation.page is not None:
        parts.append(f"p. {citation.page}")
    return f"{citation.title} — {', '.join(parts)}"


def answer_plain_text(answer: Answer, outlets: Mapping[str, str]) -> str:
    """The answer with its `[n]` markers, then the numbered sources with their quotes."""
    lines = [answer.text.strip()]
    if answer.citations:
        lines += ["", "Sources:"]
        for c in answer.citations:
            lines.append(f"[{c.n}] {source_line(c, outlets)}")
            lines.append(f"    “{c.quote}”")
    return "\n".join(lines) + "\n"


def conversation_markdown(turns: Sequence[ExportTurn], exported_at: str | None = None) -> str:
    """The conversation as a Markdown document: each question, its answer, its sources and quotes."""
    out = ["# Newsdesk Q&A — conversation", ""]
    if exported_at:
        out += [f"_Exported {exported_at}_", ""]
    for i, turn in enumerate(turns, 1):
        out += [f"## {i}. {_md(turn.question)}", ""]
        if turn.settings:  # the same question asked twice may differ only here
            out += [f"_Asked with: {_md(turn.settings)}_", ""]
        if turn.answer is None:
            out += [f"_No answer: {_md(turn.error or 'the question could not be asked')}_", ""]
            continue
        answer = turn.answer
        out += [_md(answer.text.strip()), ""]
        if not answer.answered:
            continue
        out += ["**Sources**", ""]
        for c in answer.citations:
            out.append(f"{c.n}. {_md(source_line(c, turn.outlets))}  ")
            out.append(f"   > {_md(c.quote)}")
            out.append("   >")
            out.append(f"   > — article `{c.doc_id}`, characters {c.start}–{c.end}")
        out.append("")
    return "\n".join(out).rstrip() + "\n"
