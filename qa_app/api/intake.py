"""`POST /documents`: multipart files, JSON article records, or an article URL, to `Library.add` results."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Request
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from qa_app.api.schemas import RecordsRequest, UrlRequest
from qa_app.app.uploads import index_uploads
from qa_app.errors import LoadError
from qa_app.fetch import check_url, fetch_document
from qa_app.library import Library
from qa_app.records import AddResult


@dataclass(frozen=True)
class _Part:
    """An uploaded file, read (as the web app's uploads are handed over)."""

    name: str
    data: bytes

    def getvalue(self) -> bytes:
        return self.data


async def add_from_request(library: Library, request: Request) -> list[AddResult]:
    """Index what the request carries; HTTPException 400/413/415/422 for a request that cannot be read."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        parts = await _files(request, library.settings.max_upload_files)
        return await run_in_threadpool(index_uploads, library, parts)
    if kind == "application/json":
        return await _from_json(library, await request.body())
    raise HTTPException(415, 'send multipart/form-data files, or JSON: {"records": [...]} or {"url": "..."}')


async def _files(request: Request, max_files: int) -> list[_Part]:
    """Every file of the form (any field name), at most `max_files` of them."""
    form = await request.form(max_files=max_files + 1)
    files = [value for _, value in form.multi_items() if isinstance(value, UploadFile)]
    if not files:
        raise HTTPException(400, "the form holds no files; send them as multipart fields named 'files'")
    if len(files) > max_files:
        raise HTTPException(413, f"more than {max_files} files in one request (QA_APP_MAX_UPLOAD_FILES); "
                                 "send them in smaller batches")  # fmt: skip
    return [_Part(f.filename or "", await f.read()) for f in files]


async def _from_json(library: Library, body: bytes) -> list[AddResult]:
    try:
        value = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise HTTPException(400, f"the body is not valid JSON ({exc})") from exc
    if isinstance(value, dict) and "url" in value:
        url = _validated(UrlRequest, value).url
        try:
            check_url(url, library.settings.allow_private_urls)
        except LoadError as exc:
            raise HTTPException(400, str(exc)) from exc
        return await run_in_threadpool(_add_url, library, url)
    if isinstance(value, dict) and "records" in value:
        records = _validated(RecordsRequest, value).records
        return await run_in_threadpool(library.add_records, _labelled(records))
    raise HTTPException(422, 'expected {"records": [{"title": ..., "body": ...}, ...]} or {"url": "https://..."}')


def _validated(model: type[BaseModel], value: dict) -> Any:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise HTTPException(422, "; ".join(_problem(e) for e in exc.errors())) from exc


def _problem(error: dict) -> str:
    where = ".".join(str(part) for part in error.get("loc", ())) or "body"
    return f"{where}: {error.get('msg', 'invalid')}"


def _add_url(library: Library, url: str) -> list[AddResult]:
    try:
        document = fetch_document(url, library.settings)
    except LoadError as exc:
        return [AddResult(url, "failed", reason=exc.reason)]
    return library.add([document])


def _labelled(records: list[dict]) -> list[tuple[str, object]]:
    """Each record named as failures name it: `record N`, counted from 1."""
    return [(f"record {n}", record) for n, record in enumerate(records, 1)]
