"""The HTTP API (FastAPI): the CLI's commands over HTTP, on the same `Library`, answering the CLI's JSON."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from qa_app import __version__, contract
from qa_app.api import schemas
from qa_app.api.intake import add_from_request
from qa_app.api.security import BodyLimit, check_write_access
from qa_app.errors import NotFoundError, QAError
from qa_app.library import AnswerStream, Library

log = logging.getLogger(__name__)

_DESCRIPTION = """Grounded, cited answers over the indexed news articles. Every response is the JSON that the
matching `qa-app … --json` command prints. Writes (adding and deleting articles) need
`Authorization: Bearer <QA_APP_ADMIN_TOKEN>` when the token is set; without one they are allowed only on a
server bound to loopback. Errors are `{"error": "…"}` with the status saying what kind."""


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse(contract.error_json(message) | extra, status_code=status)


def _errors(api: FastAPI) -> None:
    """Every error as `{"error": ...}`: 400 bad input, 401/403 access, 404, 413, 422; never a traceback."""

    @api.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = _error(exc.status_code, str(exc.detail))
        response.headers.update(exc.headers or {})
        return response

    @api.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = exc.errors()
        if any(p.get("type") == "json_invalid" for p in problems):
            return _error(400, "the body is not valid JSON")
        where = lambda p: ".".join(str(part) for part in p.get("loc", ()))  # noqa: E731
        return _error(422, "; ".join(f"{where(p)}: {p.get('msg')}" for p in problems))

    @api.exception_handler(NotFoundError)
    async def not_found(request: Request, exc: NotFoundError) -> JSONResponse:
        return _error(404, str(exc))

    @api.exception_handler(QAError)
    async def bad_input(request: Request, exc: QAError) -> JSONResponse:
        return _error(400, str(exc))

    @api.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> JSONResponse:
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return _error(500, "internal error; the server's log has the details")


def create_app(library: Library, *, bind_host: str = "127.0.0.1") -> FastAPI:
    """The API over `library`; `bind_host` is where the server listens (writes without a token need loopback)."""
    settings = library.settings
    api = FastAPI(title="Newsdesk Q&A", version=__version__, description=_DESCRIPTION,
                  responses={400: {"model": schemas.ErrorJSON}, 422: {"model": schemas.ErrorJSON}})  # fmt: skip
    api.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes)
    _errors(api)
    bearer = HTTPBearer(auto_error=False, description="QA_APP_ADMIN_TOKEN")

    def writer(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:  # noqa: B008
        """Writes need the admin token (the bearer scheme is declared for /docs; the header is checked here)."""
        check_write_access(request.headers.get("authorization"), settings.admin_token, bind_host)

    write_errors = {401: {"model": schemas.ErrorJSON}, 403: {"model": schemas.ErrorJSON}}

    @api.get("/health", response_model=schemas.HealthJSON, tags=["index"])
    def health() -> JSONResponse:
        """The index's generation, documents, chunks and model."""
        status = library.status()
        return JSONResponse({"status": "ok", "generation": status.generation, "documents": status.documents,
                             "chunks": status.chunks, "model": status.model})  # fmt: skip

    @api.post("/ask", response_model=schemas.AnswerJSON, tags=["questions"],
              responses={200: {"content": {"text/event-stream": {}}}})  # fmt: skip
    def ask(body: schemas.AskRequest) -> Any:
        """A cited answer (`ask --json`); with `"stream": true`, server-sent events (see the README)."""
        chosen = body.filters or schemas.Filters()
        filters = contract.search_filters(chosen.after, chosen.before, chosen.sources)
        stream = library.ask_stream(body.question, body.history, k=body.k, filters=filters)
        if not body.stream:
            return JSONResponse(contract.answer_json(stream.answer))
        return StreamingResponse(_events(stream), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})  # fmt: skip

    @api.get("/search", response_model=schemas.SearchJSON, tags=["questions"])
    def search(
        q: Annotated[str, Query(min_length=1, max_length=2000, description="The question.")],
        k: Annotated[int | None, Query(ge=1, le=100)] = None,
        after: Annotated[str | None, Query(description="Published on or after (ISO date).")] = None,
        before: Annotated[str | None, Query(description="Published on or before (ISO date).")] = None,
        source: Annotated[list[str] | None, Query(description="Source or outlet contains this (repeatable).")] = None,
    ) -> JSONResponse:
        """The best passages for a question (`search --json`)."""
        passages = library.search(q, k, contract.search_filters(after, before, source))
        return JSONResponse(contract.search_json(q, passages))

    @api.get("/documents", response_model=schemas.DocumentsJSON, tags=["documents"])
    def documents() -> JSONResponse:
        """Every indexed document without its text (`list --json`)."""
        return JSONResponse(contract.documents_json(library.documents()))

    @api.get("/documents/{doc_id}", response_model=schemas.DocumentJSON, tags=["documents"],
             responses={404: {"model": schemas.ErrorJSON}})  # fmt: skip
    def document(doc_id: str) -> JSONResponse:
        """One document with its full text and metadata (`show DOC_ID --json`)."""
        return JSONResponse(contract.document_json(library.document(doc_id)))

    @api.post("/documents", response_model=schemas.IndexJSON, tags=["documents"], dependencies=[Depends(writer)],
              responses={**write_errors, 413: {"model": schemas.ErrorJSON}, 415: {"model": schemas.ErrorJSON}},
              openapi_extra=_documents_body())  # fmt: skip
    async def add(request: Request) -> JSONResponse:
        """Index multipart files, JSON article records or an article URL (`index --json` results).

        422 with the results when nothing could be indexed (every file, record or URL failed).
        """
        results = await add_from_request(library, request)
        body = contract.index_json(results)
        if results and all(r.status == "failed" for r in results):
            return _error(422, f"nothing was indexed: {results[0].source}: {results[0].reason}", **body)
        return JSONResponse(body)

    @api.delete(
        "/documents/{doc_id}",
        response_model=schemas.RemovedJSON,
        tags=["documents"],
        dependencies=[Depends(writer)],
        responses={**write_errors, 404: {"model": schemas.ErrorJSON}},
    )
    def remove(doc_id: str) -> JSONResponse:
        """Delete a document, its chunks and vectors."""
        removed = library.remove(doc_id)
        return JSONResponse({"removed": removed.to_json()})

    return api


def _events(stream: AnswerStream) -> Iterator[str]:
    """Server-sent events: `sentence` for each checked sentence as it is written, then `citations` (the quotes
    the sentences cite, checked against the stored articles), then `answer` (the whole `ask --json` object)."""
    try:
        for sentence in stream:
            yield _event("sentence", sentence.to_json())
        answer = contract.answer_json(stream.answer)
        yield _event("citations", {"citations": answer["citations"]})
        yield _event("answer", answer)
    except QAError as exc:
        yield _event("error", contract.error_json(str(exc)))
    except Exception as exc:  # the status line is gone: report in the stream, log the details
        log.error("streamed answer failed", exc_info=exc)
        yield _event("error", contract.error_json("internal error; the server's log has the details"))


def _event(name: str, value: dict) -> str:
    return f"event: {name}\ndata: {json.dumps(value, ensure_ascii=False)}\n\n"


def _documents_body() -> dict:
    """The three request bodies `POST /documents` takes, for the OpenAPI document."""
    files = {"type": "array", "items": {"type": "string", "format": "binary"}}
    file_form = {"type": "object", "properties": {"files": files}}
    json_body = {"oneOf": [schemas.RecordsRequest.model_json_schema(), schemas.UrlRequest.model_json_schema()]}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": file_form},
                                                          "application/json": {"schema": json_body}}}}  # fmt: skip
