"""Load article files (.txt .md .html .htm .pdf .json .jsonl) into normalised `Document`s."""

from qa_app.documents.loading import (
    iter_files,
    jsonl_parts,
    load_file,
    load_files,
    load_jsonl_part,
    load_records,
    make_document,
    normalize_text,
    parse_date,
    safe_upload_name,
    shown_path,
    with_identity,
)

__all__ = [
    "iter_files",
    "jsonl_parts",
    "load_file",
    "load_files",
    "load_jsonl_part",
    "load_records",
    "make_document",
    "normalize_text",
    "parse_date",
    "safe_upload_name",
    "shown_path",
    "with_identity",
]
