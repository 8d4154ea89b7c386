"""Load article files (.txt .md .html .htm .pdf .json .jsonl) into normalised `Document`s.

One module per job: `loading` (files to documents, failures reported), `walk` (files under folders),
`bounds` (reading within the limits), `normalise` (text), `model` (building a Document, dates, identity),
one loader module per format family (`text`, `html_page`, `pdf`, `json_records`) and `upload_names`.
"""

from qa_app.documents.bounds import Limits
from qa_app.documents.json_records import jsonl_parts, load_jsonl_part, load_records, partition
from qa_app.documents.loading import iter_loaded, load_file, load_files
from qa_app.documents.model import make_document, parse_date, with_identity
from qa_app.documents.normalise import normalize_text
from qa_app.documents.upload_names import safe_upload_name
from qa_app.documents.walk import iter_files, shown_path

__all__ = [
    "Limits",
    "iter_files",
    "iter_loaded",
    "jsonl_parts",
    "load_file",
    "load_files",
    "load_jsonl_part",
    "load_records",
    "make_document",
    "normalize_text",
    "parse_date",
    "partition",
    "safe_upload_name",
    "shown_path",
    "with_identity",
]
