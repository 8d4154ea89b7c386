"""JSON and JSONL files: article records, each checked on its own."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import ijson

from qa_app.config import (
    DEFAULT_MAX_METADATA_CHARS,
    DEFAULT_MAX_TEXT_CHARS,
)  # fmt: skip
from qa_app.documents.bounds import UTF16_BOMS, Limits, check_length, decode, short
from qa_app.documents.model import make_document, with_identity
from qa_app.documents.normalise import SURROGATES, normalize_text
from qa_app.errors import LoadError
from qa_app.records import Document, Failure

_MAX_JSON_DEPTH = 32
_MAX_JSON_DIGITS = 100
_ARTICLE_LISTS = ("articles", "documents", "items")
_CONSUMED_FIELDS = {"title", "body", "text", "source", "published_at", "date"}
_OPTIONAL_STRINGS = ("source", "url", "published_at", "date")
_JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
_ITEM_EVENTS = {"start_map", "start_array", "string", "number", "boolean", "null"}  # an array element begins
# yajl turns lone surrogate escapes into "?" where json.loads keeps them (then U+FFFD): such files are parsed whole
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
Loaded = Document | Failure  # what a loader yields: an article, or a record that could not be one


def _parse_json(text: str) -> object:
    """`json.loads` that refuses what would break storage or the JSON output later."""
    return json.loads(text, parse_constant=_refuse_constant, parse_int=_bounded_int)


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")


def _bounded_int(digits: str) -> int:
    if len(digits) > _MAX_JSON_DIGITS:
        raise ValueError(f"a number with {len(digits):,} digits")
    return int(digits)


def _json_problem(exc: Exception, *, one_line: bool = False) -> str:
    if isinstance(exc, json.JSONDecodeError):
        where = f"column {exc.colno}" if one_line else f"line {exc.lineno} column {exc.colno}"
        return f"invalid JSON ({exc.msg} at {where})"
    if isinstance(exc, RecursionError):
        return "invalid JSON (nested too deeply)"
    return f"invalid JSON ({short(exc)})"


def plain_json(value: Any) -> Any:
    """`value` as plain JSON data: dates become strings, lone surrogates U+FFFD; ValueError when it cannot be.

    Refuses NaN and infinities (the JSON output could not be parsed) and deep nesting (it could not be saved).
    """
    if _depth(value) > _MAX_JSON_DEPTH:
        raise ValueError(f"nested more than {_MAX_JSON_DEPTH} levels deep")
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, default=str)
    except ValueError as exc:
        raise ValueError("NaN or infinity is not a JSON number") from exc
    return json.loads(SURROGATES.sub("\ufffd", text))


def _depth(value: Any) -> int:
    """How deeply lists and objects nest in `value` (counted without recursion, stopping past the limit)."""
    deepest, stack = 0, [(value, 1)]
    while stack and deepest <= _MAX_JSON_DEPTH:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list | tuple) else None
        if children is not None:
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in children)
    return deepest


def partition(items: Iterable[Loaded]) -> tuple[list[Document], list[Failure]]:
    """The documents and the failures among loaded items, each in order."""
    documents: list[Document] = []
    failures: list[Failure] = []
    for item in items:
        (failures if isinstance(item, Failure) else documents).append(item)
    return documents, failures


def load_json(path: Path, data: bytes, limits: Limits) -> Iterator[Loaded]:
    """One article object, a list of them, or an object holding the list under articles/documents/items.

    A list is streamed (ijson): its records are counted against `max_records` first, then parsed and
    yielded one at a time, so a file of many records never holds them all parsed at once. What yajl
    cannot read as json.loads would (invalid JSON, integers beyond 64 bits, surrogate escapes, a BOM) is
    parsed whole, with json.loads's error messages.
    """
    prefix = _streamed_list(path, data, limits.max_records)
    if prefix is None:
        yield from _load_parsed_json(path, data, limits)
        return
    values = ijson.items(io.BytesIO(data), prefix, use_float=True)
    records = ((f"{path.name} record {n}", item) for n, item in enumerate(values, 1))
    yield from iter_records(records, max_text_chars=limits.max_text_chars, max_metadata_chars=limits.max_metadata_chars)


def _streamed_list(path: Path, data: bytes, max_records: int) -> str | None:
    """The ijson prefix of the file's list of records, after checking their number; None: parse it whole.

    Counted on ijson's basic events (no prefixes: those grow with the depth), given up past the depth a
    record may have, so a hostile nesting costs nothing here and json.loads words its error.
    """
    if data.startswith((b"\xef\xbb\xbf", *UTF16_BOMS)) or _SURROGATE_ESCAPE.search(data):
        return None
    counts: dict[str, int] = {}
    top, key, depth, listing = None, None, 0, None  # listing: the prefix whose array is open at depth 1 or 2
    try:
        for event, value in ijson.basic_parse(io.BytesIO(data), use_float=True):
            if top is None:
                top = event
                listing = "item" if event == "start_array" else None
                counts.update({listing: 0} if listing else {})
            if listing and event in _ITEM_EVENTS and depth == (1 if listing == "item" else 2):
                counts[listing] = counts.get(listing, 0) + 1
            if event in ("start_map", "start_array"):
                depth += 1
                if depth == 2 and top == "start_map" and event == "start_array" and key in _ARTICLE_LISTS:
                    listing = f"{key}.item"
                    counts.setdefault(listing, 0)
                if depth > _MAX_JSON_DEPTH + 2:
                    return None
            elif event in ("end_map", "end_array"):
                depth -= 1
                if depth == 1 and top == "start_map":
                    listing = None
            elif event == "map_key" and depth == 1:
                key = value
    except (ijson.JSONError, ValueError):
        return None
    listed = (f"{key}.item" for key in _ARTICLE_LISTS if f"{key}.item" in counts)
    prefix = "item" if top == "start_array" else next(listed, None)
    if prefix is None:  # one article object, or not a list at all: small, and json.loads words the problem
        return None
    if not counts[prefix]:
        raise LoadError(str(path), "no articles in the file (empty list)")
    _check_record_count(path, counts[prefix], max_records)
    return prefix


def _load_parsed_json(path: Path, data: bytes, limits: Limits) -> Iterator[Loaded]:
    try:
        value = _parse_json(decode(path, data))
    except (ValueError, RecursionError) as exc:
        raise LoadError(str(path), _json_problem(exc)) from exc
    if isinstance(value, dict):
        listed = next((value[key] for key in _ARTICLE_LISTS if isinstance(value.get(key), list)), None)
        if listed is None:
            yield from iter_records([(path.name, value)], max_text_chars=limits.max_text_chars,
                                    max_metadata_chars=limits.max_metadata_chars)  # fmt: skip
            return
        value = listed
    if not isinstance(value, list):
        raise LoadError(str(path), f"expected a JSON object or a list of objects, got {_json_type(value)}")
    if not value:
        raise LoadError(str(path), "no articles in the file (empty list)")
    _check_record_count(path, len(value), limits.max_records)
    records = ((f"{path.name} record {n}", item) for n, item in enumerate(value, 1))
    yield from iter_records(records, max_text_chars=limits.max_text_chars, max_metadata_chars=limits.max_metadata_chars)


def _check_record_count(path: Path, count: int, max_records: int) -> None:
    if count > max_records:
        raise LoadError(str(path), f"{count:,} records, over the limit of {max_records:,} per file "
                                   "(QA_APP_MAX_RECORDS; split the file)")  # fmt: skip


def load_jsonl(path: Path, data: bytes, limits: Limits) -> Iterator[Loaded]:
    """One article object per non-empty line, parsed and yielded one line at a time; a bad line fails alone."""
    return _jsonl_records(path, decode(path, data), 1, limits, empty="no records in the file (only blank lines)")


def jsonl_parts(path: Path, part_bytes: int) -> list[tuple[int, int, int]]:
    """(start, end, first line number) byte ranges of about `part_bytes` that begin at line starts.

    A UTF-16 file stays one part (its lines cannot be found in the raw bytes).
    """
    data = path.read_bytes()
    if data.startswith(UTF16_BOMS) or len(data) <= part_bytes:
        return [(0, len(data), 1)]
    parts, start, line = [], 0, 1
    while start < len(data):
        cut = data.find(b"\n", start + part_bytes)
        end = len(data) if cut < 0 else cut + 1
        parts.append((start, end, line))
        line += data.count(b"\n", start, end)
        start = end
    return parts


def load_jsonl_part(
    path: Path, start: int, end: int, first_line: int, *, max_text_chars: int = DEFAULT_MAX_TEXT_CHARS
) -> tuple[list[Document], list[Failure]]:
    """The records of bytes [start, end) of a JSONL file (see `jsonl_parts`), with their identities.

    Labels and identities are those `load_files` gives the same lines, so a file split between workers
    indexes as it does whole.
    """
    try:
        with path.open("rb") as handle:
            handle.seek(start)
            data = handle.read(end - start)
    except OSError as exc:
        raise LoadError(str(path), f"cannot read the file ({exc.strerror or exc})") from exc
    limits = Limits(max_bytes=end - start, max_text_chars=max_text_chars)
    documents, failures = partition(_jsonl_records(path, decode(path, data), first_line, limits))
    return [with_identity(doc, path) for doc in documents], failures


def _jsonl_records(path: Path, text: str, first_line: int, limits: Limits, empty: str = "") -> Iterator[Loaded]:
    """The records of `text`'s lines, counted against `max_records` before the first is parsed."""
    count = sum(1 for line in _lines(text) if line.strip())
    if not count and empty:
        raise LoadError(str(path), empty)
    _check_record_count(path, count, limits.max_records)
    return _parsed_lines(path, text, first_line, limits)


def _lines(text: str) -> Iterator[str]:
    # "\n" only: str.splitlines would also split inside strings holding U+2028.
    return io.StringIO(text, newline="\n")


def _parsed_lines(path: Path, text: str, first_line: int, limits: Limits) -> Iterator[Loaded]:
    for n, line in enumerate(_lines(text), first_line):
        if not line.strip():
            continue
        label = f"{path.name} line {n}"
        try:
            value = _parse_json(line)
        except (ValueError, RecursionError) as exc:
            yield Failure(label, _json_problem(exc, one_line=True))
            continue
        yield from iter_records([(label, value)], max_text_chars=limits.max_text_chars,
                                max_metadata_chars=limits.max_metadata_chars)  # fmt: skip


def load_records(
    records: Iterable[tuple[str, object]],
    *,
    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
    max_metadata_chars: int = DEFAULT_MAX_METADATA_CHARS,
) -> tuple[list[Document], list[Failure]]:
    """Documents from (label, parsed JSON value) pairs, and a Failure (named by label) for each bad one."""
    return partition(iter_records(records, max_text_chars=max_text_chars, max_metadata_chars=max_metadata_chars))


def iter_records(
    records: Iterable[tuple[str, object]], *, max_text_chars: int, max_metadata_chars: int
) -> Iterator[Loaded]:
    """`load_records`, one record at a time."""
    for label, value in records:
        try:
            document = _record_document(label, value)
            check_length(label, document.text, max_text_chars)
            _check_metadata(label, document.metadata, max_metadata_chars)
            yield document
        except LoadError as exc:
            yield Failure(label, exc.reason)


def _check_metadata(label: str, metadata: dict[str, Any], max_chars: int) -> None:
    size = len(json.dumps(metadata, ensure_ascii=False))
    if size > max_chars:
        raise LoadError(label, f"metadata (the fields besides title, body and date) is {size:,} characters as JSON, "
                               f"over the {max_chars:,}-character limit (QA_APP_MAX_METADATA_CHARS)")  # fmt: skip


def _record_document(label: str, record: object) -> Document:
    if not isinstance(record, dict):
        raise LoadError(label, f"a record must be a JSON object, not {_json_type(record)}")
    try:
        record = plain_json(record)
    except ValueError as exc:
        raise LoadError(label, str(exc)) from exc
    if "body" not in record and "text" not in record:
        raise LoadError(label, "missing 'body' (or 'text')")
    body = _string_field(label, record, "body" if "body" in record else "text", required=True)
    title = _string_field(label, record, "title", required=True)
    source, url, published, dated = (_string_field(label, record, key) for key in _OPTIONAL_STRINGS)
    metadata = {key: value for key, value in record.items() if key not in _CONSUMED_FIELDS}
    for key in ("url", "author", "category"):
        if metadata.get(key) is None:
            metadata.pop(key, None)
    if source:  # the outlet; `Document.source` must locate this one article, so that replacing works
        metadata["outlet"] = source
    return make_document(
        title=title,
        text=normalize_text(body),
        source=url or label,
        published_at=published or dated,
        metadata=metadata,
        file=label,
    )


def _string_field(label: str, record: dict[str, Any], key: str, *, required: bool = False) -> str:
    """`record[key]` if it is a string; "" when absent or null and not required."""
    value = record.get(key)
    if value is None and not required:
        return ""
    if value is None:
        raise LoadError(label, f"missing '{key}'")
    if not isinstance(value, str):
        raise LoadError(label, f"'{key}' must be a string, not {_json_type(value)}")
    return value


def _json_type(value: object) -> str:
    return "null" if value is None else _JSON_TYPES.get(type(value), type(value).__name__)
