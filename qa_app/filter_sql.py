"""The SQL of `SearchFilters`: conditions on the documents table, with their parameters (never pasted values)."""

from __future__ import annotations

from qa_app.records import SearchFilters


def filter_sql(filters: SearchFilters) -> tuple[list[str], list[str]]:
    """SQL conditions on documents `d` for `filters`, and their parameters."""
    clauses: list[str] = []
    params: list[str] = []
    if filters.published_after:
        clauses.append("d.published_at >= ?")
        params.append(filters.published_after)
    if filters.published_before:
        clauses.append("d.published_at <= ?")
        params.append(filters.published_before)
    if filters.sources:
        like = "(lower(d.source) LIKE ? ESCAPE '\\' OR lower(json_extract(d.metadata, '$.outlet')) LIKE ? ESCAPE '\\')"
        clauses.append("(" + " OR ".join([like] * len(filters.sources)) + ")")
        params += [f"%{_escape_like(s.lower())}%" for s in filters.sources for _ in range(2)]
    if filters.doc_ids:
        clauses.append(f"d.doc_id IN ({','.join('?' * len(filters.doc_ids))})")
        params += list(filters.doc_ids)
    return clauses, params


def _escape_like(text: str) -> str:
    """`text` matched literally by LIKE: its % and _ are not wildcards."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
