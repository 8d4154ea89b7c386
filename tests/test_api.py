"""The HTTP API for real: uvicorn on 127.0.0.1 driven by httpx, the real model, the CLI's JSON."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from qa_app.api import create_app, schemas
from qa_app.cli import app as cli
from qa_app.config import Settings
from qa_app.embedder import SentenceTransformerEmbedder
from qa_app.library import Library
from tests.api_server import ApiServer
from tests.articles import ARTICLES, write_articles
from tests.fake_llm_server import FakeLLM, Reply
from tests.news_site import NewsSite, Page, article_html

QUESTION = "How much will the bridge repairs cost?"
TOKEN = "s3cret-token-for-tests"


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory, model: SentenceTransformerEmbedder) -> Library:
    """One library with the three test articles, for the tests that only read."""
    root = tmp_path_factory.mktemp("api")
    library = Library(Settings(index_dir=root / "index"), embedder=model)
    library.add(write_articles(root / "articles"))
    yield library
    library.close()


@pytest.fixture(scope="module")
def server(shared: Library) -> ApiServer:
    with ApiServer(create_app(shared)) as running:
        yield running


@pytest.fixture
def writable(library: Library, tmp_path: Path) -> ApiServer:
    """A server over a fresh library with the test articles (bound to loopback, no token: writes open)."""
    library.add(write_articles(tmp_path / "articles"))
    with ApiServer(create_app(library)) as running:
        yield running


def cli_json(*args: str, index_dir: Path) -> dict:
    result = CliRunner().invoke(cli, [*args, "--index-dir", str(index_dir), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


# ---- reading: the CLI's JSON, one schema each -------------------------------------------------------


def test_api_answers_the_json_the_cli_prints(server: ApiServer, shared: Library) -> None:
    answer = server.client.post("/ask", json={"question": QUESTION}).json()
    assert answer == cli_json("ask", QUESTION, index_dir=shared.index_dir)
    assert answer["answered"] and "4.2 million dollars" in answer["answer"]
    schemas.AnswerJSON.model_validate(answer)
    found = server.client.get("/search", params={"q": QUESTION, "k": 2}).json()
    assert found == cli_json("search", QUESTION, "-k", "2", index_dir=shared.index_dir)
    schemas.SearchJSON.model_validate(found)
    listed = server.client.get("/documents").json()
    assert listed == cli_json("list", index_dir=shared.index_dir)
    schemas.DocumentsJSON.model_validate(listed)
    doc_id = listed["documents"][0]["doc_id"]
    shown = server.client.get(f"/documents/{doc_id}").json()
    assert shown == cli_json("show", doc_id, index_dir=shared.index_dir)
    schemas.DocumentJSON.model_validate(shown)


def test_schemas_fit_the_records_exactly(shared: Library) -> None:
    """Each model has exactly the keys the records' JSON has (extra keys are refused, missing ones too)."""
    answer = shared.ask(QUESTION).to_json()
    for key in ("citations", "sentences", "passages"):
        assert answer[key], key
    schemas.AnswerJSON.model_validate(answer)
    with pytest.raises(ValueError, match="extra"):
        schemas.AnswerJSON.model_validate({**answer, "notes": []})
    with pytest.raises(ValueError, match="missing"):
        schemas.CitationJSON.model_validate({k: v for k, v in answer["citations"][0].items() if k != "quote"})


def test_health_and_docs(server: ApiServer, shared: Library) -> None:
    health = server.client.get("/health").json()
    documents, chunks = shared.counts()
    assert health == {"status": "ok", "generation": shared.status().generation, "documents": documents,
                      "chunks": chunks, "model": shared.status().model}  # fmt: skip
    assert "swagger" in server.client.get("/docs").text.lower()
    spec = server.client.get("/openapi.json").json()
    assert {"/ask", "/search", "/documents", "/documents/{doc_id}", "/health"} <= set(spec["paths"])
    assert set(spec["paths"]["/documents"]) == {"get", "post"}
    assert set(spec["paths"]["/documents/{doc_id}"]) == {"get", "delete"}
    citation = spec["components"]["schemas"]["Citation"]["properties"]
    assert set(citation) == {"n", "doc_id", "title", "source", "published_at", "start", "end", "quote", "page", "score"}


def test_search_filters(server: ApiServer) -> None:
    client = server.client
    hits = client.get("/search", params={"q": "wheat harvest", "source": "wheat"}).json()["passages"]
    assert hits and all(p["source"] == "wheat-harvest.txt" for p in hits)
    assert client.get("/search", params={"q": "wheat harvest", "after": "2030-01-01"}).json()["passages"] == []
    bad = client.get("/search", params={"q": "wheat", "after": "someday"})
    assert bad.status_code == 400 and "someday" in bad.json()["error"]
    answer = client.post("/ask", json={"question": "wheat harvest", "filters": {"sources": ["chess"]}}).json()
    assert {p["source"] for p in answer["passages"]} == {"chess-final.txt"}


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("post", "/ask", b'{"question": "bridge"', 400, "not valid JSON"),
        ("post", "/ask", {"question": "bridge", "k": 0}, 422, "k: Input should be greater than or equal to 1"),
        ("post", "/ask", {"k": 3}, 422, "question: Field required"),
        ("post", "/ask", {"question": "bridge", "top": 3}, 422, "top: Extra inputs are not permitted"),
        ("post", "/ask", {"question": "   "}, 400, "the question is empty"),
        ("get", "/search", None, 422, "q: Field required"),
        ("get", "/documents/0123456789abcdef", None, 404, "no document with id '0123456789abcdef'"),
        ("get", "/nowhere", None, 404, "Not Found"),
        ("put", "/documents", None, 405, "Method Not Allowed"),
    ],
)
def test_errors_are_json_with_the_right_status(
    server: ApiServer, method: str, path: str, body: object, status: int, message: str
) -> None:
    kwargs = {"content": body} if isinstance(body, bytes) else {"json": body} if body is not None else {}
    headers = {"content-type": "application/json"} if isinstance(body, bytes) else {}
    response = server.client.request(method.upper(), path, headers=headers, **kwargs)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert message in response.json()["error"]
    assert "Traceback" not in response.text


# ---- writing ---------------------------------------------------------------------------------------


def test_upload_files_then_show_and_delete(writable: ApiServer, tmp_path: Path) -> None:
    client = writable.client
    storm = b"Storm floods the coast\nA storm flooded the coast of Lorran on Monday."
    files = [("files", ("storm.txt", storm, "text/plain")), ("files", ("notes.exe", b"MZ\x00", "application/x-exe"))]
    response = client.post("/documents", files=files)
    assert response.status_code == 200, response.text
    results = {r["source"]: r for r in response.json()["results"]}
    assert results["storm.txt"]["status"] == "indexed" and results["storm.txt"]["title"] == "Storm floods the coast"
    assert results["notes.exe"]["status"] == "failed" and "unsupported file type" in results["notes.exe"]["reason"]
    schemas.IndexJSON.model_validate(response.json())
    doc_id = results["storm.txt"]["doc_id"]
    assert client.get(f"/documents/{doc_id}").json()["title"] == "Storm floods the coast"
    again = client.post("/documents", files=files[:1]).json()["results"]
    assert again[0]["status"] == "already indexed"
    removed = client.delete(f"/documents/{doc_id}")
    assert removed.status_code == 200 and removed.json()["removed"]["doc_id"] == doc_id
    schemas.RemovedJSON.model_validate(removed.json())
    assert client.get(f"/documents/{doc_id}").status_code == 404
    assert client.delete(f"/documents/{doc_id}").status_code == 404


def test_upload_records(writable: ApiServer) -> None:
    records = [
        {"title": "Port strike ends", "body": "Dock workers in Port Ellis ended a nine-day strike on Friday.",
         "url": "https://gazette.test/port-strike", "published_at": "2025-05-09", "author": "R. Vale"},
        {"title": "No body here"},
    ]  # fmt: skip
    response = writable.client.post("/documents", json={"records": records})
    assert response.status_code == 200
    indexed, failed = sorted(response.json()["results"], key=lambda r: r["status"] == "failed")
    assert indexed["status"] == "indexed" and indexed["source"] == "https://gazette.test/port-strike"
    # a JSON record has no file
    assert failed == {"source": "record 2", "status": "failed", "doc_id": None, "title": None, "chunks": 0,
                      "reason": "missing 'body' (or 'text')", "file": None}  # fmt: skip
    shown = writable.client.get(f"/documents/{indexed['doc_id']}").json()
    assert shown["published_at"] == "2025-05-09" and shown["metadata"]["author"] == "R. Vale"
    changed = [{**records[0], "body": records[0]["body"].replace("nine-day", "ten-day")}]
    assert writable.client.post("/documents", json={"records": changed}).json()["results"][0]["status"] == "replaced"
    nothing = writable.client.post("/documents", json={"records": [{"title": "x", "body": "   "}]})
    assert nothing.status_code == 422 and nothing.json()["error"].startswith("nothing was indexed: record 1")
    assert nothing.json()["results"][0]["status"] == "failed"


def test_upload_url(library: Library, tmp_path: Path) -> None:
    site = NewsSite().start()
    try:
        site.pages["/bridge"] = Page(article_html("Harbor bridge closes", ARTICLES["harbor-bridge.txt"], "2025-05-03"))
        allowed = Library(replace(library.settings, allow_private_urls=True), embedder=library.embedder)
        with ApiServer(create_app(allowed)) as open_server:
            response = open_server.client.post("/documents", json={"url": site.url("/bridge")})
            assert response.status_code == 200, response.text
            [result] = response.json()["results"]
            assert (result["status"], result["source"]) == ("indexed", site.url("/bridge"))
            missing = open_server.client.post("/documents", json={"url": site.url("/gone")})
            assert missing.status_code == 422 and "HTTP 404" in missing.json()["error"]
        allowed.close()
        with ApiServer(create_app(library)) as default_server:  # private addresses refused by default
            refused = default_server.client.post("/documents", json={"url": site.url("/bridge")})
            assert refused.status_code == 400 and "loopback or private address" in refused.json()["error"]
            scheme = default_server.client.post("/documents", json={"url": "file:///etc/passwd"})
            assert scheme.status_code == 400 and "only http and https" in scheme.json()["error"]
        assert site.hits("/bridge") == 1
    finally:
        site.stop()


def test_request_limits(library: Library) -> None:
    small = Library(replace(library.settings, max_request_mb=0.05, max_upload_files=2, max_file_mb=0.01),
                    embedder=library.embedder)  # fmt: skip
    with ApiServer(create_app(small)) as running:
        client = running.client
        big = client.post("/documents", files=[("files", ("big.txt", b"word " * 20_000, "text/plain"))])
        assert big.status_code == 413 and "QA_APP_MAX_REQUEST_MB" in big.json()["error"]
        chunked = client.post("/documents", content=iter([b'{"records": [' + b" " * 60_000, b"]}"]),
                              headers={"content-type": "application/json"})  # fmt: skip
        assert chunked.status_code == 413 and "QA_APP_MAX_REQUEST_MB" in chunked.json()["error"]
        three = [("files", (f"a{n}.txt", b"Title\nSome text here.", "text/plain")) for n in range(3)]
        many = client.post("/documents", files=three)
        assert many.status_code == 413 and "more than 2 files" in many.json()["error"]
        over = client.post("/documents", files=[("files", ("long.txt", b"word " * 4_000, "text/plain"))])
        assert over.status_code == 422 and "QA_APP_MAX_FILE_MB" in over.json()["error"]
        plain = client.post("/documents", content=b"hello", headers={"content-type": "text/plain"})
        assert plain.status_code == 415
        empty_form = client.post("/documents", files={"note": (None, b"no files")})
        assert empty_form.status_code == 400 and "no files" in empty_form.json()["error"]
    assert small.documents() == []
    small.close()


# ---- access -----------------------------------------------------------------------------------------


def test_writes_need_the_token_when_it_is_set(library: Library) -> None:
    guarded = Library(replace(library.settings, admin_token=TOKEN), embedder=library.embedder)
    record = {"records": [{"title": "Token test", "body": "A record sent with the admin token."}]}
    with ApiServer(create_app(guarded)) as running:
        client = running.client
        missing = client.post("/documents", json=record)
        assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
        assert "Authorization: Bearer" in missing.json()["error"]
        wrong = client.post("/documents", json=record, headers={"Authorization": "Bearer not-the-token"})
        assert wrong.status_code == 403 and wrong.json() == {"error": "the admin token is not right"}
        basic = client.post("/documents", json=record, headers={"Authorization": f"Basic {TOKEN}"})
        assert basic.status_code == 401
        assert client.delete("/documents/0123456789abcdef").status_code == 401
        right = client.post("/documents", json=record, headers={"Authorization": f"Bearer {TOKEN}"})
        assert right.status_code == 200 and right.json()["results"][0]["status"] == "indexed"
        assert client.get("/documents").status_code == 200  # reading stays open
        assert client.post("/ask", json={"question": "token test"}).status_code == 200
        assert TOKEN not in repr(guarded.settings)
    guarded.close()


def test_without_a_token_writes_need_a_loopback_bind(library: Library) -> None:
    # the server listens on 127.0.0.1 (tests never open a port beyond this machine) but is told it binds 0.0.0.0
    with ApiServer(create_app(library, bind_host="0.0.0.0")) as running:
        record = {"records": [{"title": "Open test", "body": "A record sent without any token."}]}
        refused = running.client.post("/documents", json=record)
        assert refused.status_code == 403 and "QA_APP_ADMIN_TOKEN" in refused.json()["error"]
        assert running.client.delete("/documents/0123456789abcdef").status_code == 403
        assert running.client.get("/documents").status_code == 200
    assert library.documents() == []


# ---- streaming ---------------------------------------------------------------------------------------


def events(response: httpx.Response) -> list[tuple[str, dict]]:
    """The (event, data) pairs of a server-sent event stream."""
    found, name, data = [], "message", []
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line[len("event: ") :]
        elif line.startswith("data: "):
            data.append(line[len("data: ") :])
        elif not line and data:
            found.append((name, json.loads("\n".join(data))))
            name, data = "message", []
    return found


def test_streamed_generative_answer(shared: Library) -> None:
    llm = FakeLLM().start()
    try:
        generative = Library(replace(shared.settings, llm_base_url=llm.url, llm_timeout=5.0), embedder=shared.embedder)
        n = next(i for i, p in enumerate(shared.search(QUESTION), 1) if "4.2 million" in p.text)
        llm.script(Reply(text=f"City engineer Dana Whitlock said the repairs will cost 4.2 million dollars [{n}]. "
                              f"The bridge will be closed for eight weeks [{n}]."))  # fmt: skip
        with ApiServer(create_app(generative)) as running:
            body = {"question": QUESTION, "stream": True}
            with running.client.stream("POST", "/ask", json=body) as response:
                assert response.headers["content-type"].startswith("text/event-stream")
                got = events(response)
        names = [name for name, _ in got]
        assert names == ["sentence", "sentence", "citations", "answer"]
        first, second = got[0][1], got[1][1]
        assert first == {"text": "City engineer Dana Whitlock said the repairs will cost 4.2 million dollars.",
                         "citations": [1], "supported": True}  # fmt: skip
        assert second["text"] == "The bridge will be closed for eight weeks."
        answer = got[3][1]
        assert answer["mode"] == "generative" and answer["sentences"] == [first, second]
        assert got[2][1] == {"citations": answer["citations"]} and answer["citations"][0]["n"] == 1
        assert "4.2 million dollars" in answer["citations"][0]["quote"]
        schemas.AnswerJSON.model_validate(answer)
        generative.close()
    finally:
        llm.stop()


def test_streamed_extractive_answer_is_its_citations_then_the_answer(server: ApiServer, shared: Library) -> None:
    with server.client.stream("POST", "/ask", json={"question": QUESTION, "stream": True}) as response:
        got = events(response)
    answer = shared.ask(QUESTION).to_json()
    assert answer["citations"] and got == [("citations", {"citations": answer["citations"]}), ("answer", answer)]


# ---- concurrency ---------------------------------------------------------------------------------------


def test_ten_askers_while_one_uploads(writable: ApiServer, library: Library, capsys: pytest.CaptureFixture) -> None:
    records = [{"title": f"Council budget vote {n}", "url": f"https://gazette.test/budget-{n}",
                "body": f"The council of district {n} approved a budget of {n + 10} million on Monday. "
                        f"Councillor Ilse Moreau{n} said schools get {n + 2} new buses. The vote was {n + 5} to 3."}
               for n in range(40)]  # fmt: skip
    questions = [QUESTION, "Who won the national chess championship?", "How much wheat did farmers harvest?"]
    before = {d.doc_id for d in library.documents()}
    done = threading.Event()
    latencies: list[float] = []
    during: list[float] = []
    errors: list[str] = []

    def ask_loop(worker: int) -> None:
        with httpx.Client(base_url=writable.url, timeout=60) as client:
            for n in range(200):  # bounded; stops soon after the upload ends
                started = time.perf_counter()
                response = client.post("/ask", json={"question": questions[(worker + n) % 3]})
                took = time.perf_counter() - started
                if response.status_code != 200 or not response.json()["answered"]:
                    errors.append(f"{response.status_code} {response.text[:200]}")
                latencies.append(took)
                if not done.is_set():
                    during.append(took)
                else:
                    return

    alone = []
    for n in range(9):  # the same questions one at a time, nothing else running, for comparison
        started = time.perf_counter()
        assert writable.client.post("/ask", json={"question": questions[n % 3]}).status_code == 200
        alone.append(time.perf_counter() - started)
    alone.sort()
    askers = [threading.Thread(target=ask_loop, args=(w,)) for w in range(10)]
    for thread in askers:
        thread.start()
    started = time.perf_counter()
    upload = writable.client.post("/documents", json={"records": records})
    upload_took = time.perf_counter() - started
    done.set()
    for thread in askers:
        thread.join(timeout=120)
    assert upload.status_code == 200
    assert [r["status"] for r in upload.json()["results"]] == ["indexed"] * 40
    assert errors == []
    assert len(during) >= 10  # the askers really asked while the upload ran
    after = writable.client.get("/documents").json()["documents"]
    assert len(after) == len(before) + 40  # nothing lost
    assert {d["doc_id"] for d in after} >= before
    during.sort()
    with capsys.disabled():
        print(f"\n[concurrency] upload of 40 records: {upload_took:.1f} s; {len(during)} asks during it: "
              f"p50 {during[len(during) // 2] * 1000:.0f} ms, p95 {during[int(len(during) * 0.95)] * 1000:.0f} ms, "
              f"max {during[-1] * 1000:.0f} ms; {len(latencies)} asks in all, 0 errors; one ask alone: p50 "
              f"{alone[4] * 1000:.0f} ms")  # fmt: skip


# ---- the command ---------------------------------------------------------------------------------------


def test_qa_app_api_command_serves_the_index(library: Library, tmp_path: Path) -> None:
    library.add(write_articles(tmp_path / "articles"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "qa_app", "api", "--port", str(port), "--index-dir", str(library.index_dir)]
    process = subprocess.Popen(command, env={**os.environ, "QA_APP_ADMIN_TOKEN": ""}, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        health = None
        for _ in range(600):  # up to 60 s for the import and the model
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).json()
                break
            except httpx.HTTPError:
                assert process.poll() is None, process.stderr.read()
                time.sleep(0.1)
        assert health is not None and health["documents"] == 3
        answer = httpx.post(f"http://127.0.0.1:{port}/ask", json={"question": QUESTION}, timeout=60).json()
        assert "4.2 million dollars" in answer["answer"]
    finally:
        process.terminate()
        process.wait(timeout=30)
