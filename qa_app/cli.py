"""The `qa-app` command: index, search, list, show, remove and serve from a terminal."""

from __future__ import annotations

import errno
import ipaddress
import json
import os
import re
import sys
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from typer.core import TyperCommand

from qa_app import cli_text, contract
from qa_app.cli_feeds import feeds_app
from qa_app.config import load_settings
from qa_app.distributed import RayOptions, index_with_ray
from qa_app.errors import DatabaseDamagedError, QAError
from qa_app.fetch import fetch_documents, is_url
from qa_app.integrity import CheckReport, check_index
from qa_app.library import Library
from qa_app.library import Progress as AddProgress
from qa_app.records import AddResult, SearchFilters
from qa_app.terminal import EscapingStream, unescaped

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Newsdesk Q&A: grounded answers over news articles.")
app.add_typer(feeds_app, name="feeds")
err = Console(stderr=True, soft_wrap=True)  # no wrapping at 80 columns: an error stays one line
_STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO}

IndexDir = Annotated[
    Path | None,
    typer.Option("--index-dir", help="Index directory (default: embeddings/ or $QA_APP_INDEX_DIR)."),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]
TopK = Annotated[int | None, typer.Option("-k", "--k", min=1, max=100, help="Number of passages.")]


After = Annotated[str | None, typer.Option("--after", help="Only articles published on or after this date.")]
Before = Annotated[str | None, typer.Option("--before", help="Only articles published on or before this date.")]
Sources = Annotated[
    list[str] | None, typer.Option("--source", help="Only articles whose source or outlet contains this.")
]


RayAddress = Annotated[
    str | None,
    typer.Option(
        "--ray",
        metavar="[ADDRESS]",
        help="Load, chunk and embed on Ray: a new local Ray, or the cluster at ADDRESS (HOST:PORT, ray://…, "
        "auto) or $RAY_ADDRESS.",
    ),
]


def _library(index_dir: Path | None) -> Library:
    return Library(load_settings(index_dir=index_dir))


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False) + "\n")


_RAY_ADDRESS = re.compile(r"(auto|ray://\S+|[\w.-]+:\d+)")  # what may follow `--ray` as its ADDRESS


class _IndexCommand(TyperCommand):
    """`index`, where `--ray` may go without its ADDRESS (typer has no optional option values)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        options = args[: args.index("--")] if "--" in args else args
        pairs = zip(options, [*options[1:], ""], strict=True)
        fixed = ["--ray=" if a == "--ray" and not _RAY_ADDRESS.fullmatch(b) else a for a, b in pairs]
        return super().parse_args(ctx, fixed + args[len(options) :])


@app.command(cls=_IndexCommand)
def index(
    paths: Annotated[
        list[str], typer.Argument(help="Files or folders (.txt .md .html .htm .pdf .json .jsonl), or article URLs.")
    ],
    index_dir: IndexDir = None,
    as_json: AsJson = False,
    ray: RayAddress = None,
) -> None:
    """Index articles from files, folders and http(s) URLs; bad inputs are reported and the rest indexed."""
    library = _library(index_dir)
    urls = [p for p in paths if is_url(p)]
    fetched, fetch_failures = fetch_documents(urls, library.settings)
    inputs = [*(Path(p) for p in paths if not is_url(p)), *fetched]
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
               TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=Console(file=unescaped(sys.stderr)), transient=False) as bar:
        task = bar.add_task("embedding chunks", total=None, rate="")

        def report(p: AddProgress) -> None:
            elapsed = bar.tasks[0].elapsed or 1e-9
            rate = f"{p.chunks_done / elapsed:.1f} chunks/s, {p.files_text()}"  # files embedded, then saved
            bar.update(task, total=p.chunks_total or None, completed=p.chunks_done, rate=rate)

        results = [AddResult(f.source, "failed", reason=f.reason) for f in fetch_failures]
        if ray is None:
            results += library.add(inputs, progress=report) if inputs else []
        else:  # fetched pages are few and in memory: added here; the files go through Ray
            results += library.add(fetched, progress=report) if fetched else []
            files = [Path(p) for p in paths if not is_url(p)]
            results += index_with_ray(library, files, RayOptions(address=ray or None), report) if files else []
    if as_json:
        _print_json(contract.index_json(results))
    for r in results:
        detail = r.reason if r.status == "failed" else f"{r.doc_id} {r.title!r} ({r.chunks} chunks)"
        err.print(f"{r.status:>15}  {r.source}: {detail}", markup=False, highlight=False)
    counts = {s: sum(r.status == s for r in results) for s in ("indexed", "replaced", "already indexed", "failed")}
    err.print(", ".join(f"{n} {s}" for s, n in counts.items()), highlight=False)
    if results and counts["failed"] == len(results):
        raise typer.Exit(1)


@app.command()
def search(
    question: Annotated[str, typer.Argument(help="What to look for.")],
    k: TopK = None,
    after: After = None,
    before: Before = None,
    source: Sources = None,
    index_dir: IndexDir = None,
    as_json: AsJson = False,
    scores: Annotated[bool, typer.Option("--scores", help="Show each passage's fused, dense and BM25 scores.")] = False,
) -> None:
    """Show the passages that best match a question: title, date, outlet and an excerpt of each."""
    library = _library(index_dir)
    passages = library.search(question, k, contract.search_filters(after, before, source))
    if as_json:
        _print_json(contract.search_json(question, passages))
        return
    cli_text.print_passages(passages, _outlets(library), typer.echo, scores=scores)


def _outlets(library: Library) -> dict[str, str]:
    """The outlet of each article that names one (site name, `source:` front matter, a record's source)."""
    return {d.doc_id: d.outlet for d in library.documents() if d.outlet}


def _ask_batch(library: Library, batch: Path, k: int | None, filters: SearchFilters | None) -> None:
    """One JSON answer per input line, in order; a bad line gets an error object and the rest go on."""
    try:
        lines = batch.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise QAError(f"{batch}: cannot read the batch file ({exc})") from exc
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            question = record.get("question") if isinstance(record, dict) else None
            if not isinstance(question, str) or not question.strip():
                raise QAError('expected an object with a non-empty "question" string')
            _print_json(contract.answer_json(library.ask(question, k=k, filters=filters)))
        except (json.JSONDecodeError, QAError) as exc:
            _print_json({"line": number, "error": f"{batch.name} line {number}: {exc}"})


@app.command()
def ask(
    question: Annotated[str | None, typer.Argument(help="The question.")] = None,
    batch: Annotated[Path | None, typer.Option("--batch", help='JSONL file, one {"question": ...} per line.')] = None,
    k: TopK = None,
    after: After = None,
    before: Before = None,
    source: Sources = None,
    index_dir: IndexDir = None,
    as_json: AsJson = False,
    llm_base_url: Annotated[
        str | None,
        typer.Option(
            "--llm-base-url",
            help='OpenAI-compatible server for generative answers ("" = off; default: $QA_APP_LLM_BASE_URL).',
            show_default=False,
        ),
    ] = None,
    llm_model: Annotated[
        str | None, typer.Option("--llm-model", help="Model name on that server (default: $QA_APP_LLM_MODEL).")
    ] = None,
) -> None:
    """Answer a question with verbatim, cited quotes from the articles.

    When the articles do not support an answer, it says so and lists the closest passages; the exit status is
    still 0 (only errors exit non-zero): with --json, read "answered" (true or false).
    """
    if (question is None) == (batch is None):
        raise QAError("give either a question or --batch FILE.jsonl")
    library = Library(load_settings(index_dir=index_dir, llm_base_url=llm_base_url, llm_model=llm_model))
    filters = contract.search_filters(after, before, source)
    if batch is not None:
        _ask_batch(library, batch, k, filters)
        return
    answer = library.ask(question, k=k, filters=filters)
    if answer.searched_for:
        err.print(f"searched for: {answer.searched_for}", markup=False, highlight=False)
    for note in answer.notes:
        if not note.in_text:  # which mode answered and why (disagreement notes are part of the text)
            err.print(f"note: {note.text}", markup=False, highlight=False)
    if as_json:
        _print_json(contract.answer_json(answer))
    else:
        cli_text.print_answer(answer, _outlets(library), typer.echo)


@app.command()
def feedback(index_dir: IndexDir = None, as_json: AsJson = False) -> None:
    """Export the thumbs up/down given to answers in the web app."""
    rows = _library(index_dir).feedback()
    if as_json:
        _print_json({"feedback": [row.to_json() for row in rows]})
        return
    for row in rows:
        typer.echo(f"{row.created_at}  {'+1' if row.rating > 0 else '-1'}  {row.question}")


@app.command()
def check(
    repair: Annotated[bool, typer.Option("--repair", help="Rebuild the FAISS and BM25 files from SQLite.")] = False,
    index_dir: IndexDir = None,
    as_json: AsJson = False,
) -> None:
    """Verify that the database, the FAISS file and the BM25 index agree."""
    try:
        report = check_index(_library(index_dir), repair=repair)
    except DatabaseDamagedError as exc:  # the database cannot even be opened: --json still prints its report
        if not as_json:
            raise
        report = CheckReport(problems=[str(exc)])
    if as_json:
        _print_json(report.to_json())
    else:
        facts = report.facts
        typer.echo(f"{facts['documents']} documents, {facts['chunks']} chunks, generation {facts['generation']}, "
                   f"model {facts['model']}")  # fmt: skip
        for line in report.repaired:
            typer.echo(f"repaired: {line}")
        for problem in report.problems:
            typer.echo(f"problem: {problem}")
        typer.echo("ok" if not report.problems else "run `qa-app check --repair` to rebuild from the database")
    if report.problems:
        raise typer.Exit(1)


@app.command("list")
def list_documents(index_dir: IndexDir = None, as_json: AsJson = False) -> None:
    """List the indexed documents."""
    documents = _library(index_dir).documents()
    if as_json:
        _print_json(contract.documents_json(documents))
        return
    for d in documents:
        typer.echo(f"{d.doc_id}  {d.published_at or 'undated':10}  {d.chunks:4} chunks  {d.title}  ({d.source})")
    err.print(f"{len(documents)} documents", highlight=False)


@app.command()
def show(
    doc_id: Annotated[str, typer.Argument(help="Document id (see `qa-app list`).")],
    index_dir: IndexDir = None,
    as_json: AsJson = False,
) -> None:
    """Print one document with its full text and metadata."""
    doc = _library(index_dir).document(doc_id)
    if as_json:
        _print_json(contract.document_json(doc))
        return
    typer.echo(f"{doc.title}\n{doc.published_at or 'undated'} · {doc.source} · {doc.doc_id}")
    for key, value in doc.metadata.items():
        typer.echo(f"{key}: {value}")
    typer.echo(f"\n{doc.text}")


@app.command()
def remove(
    doc_id: Annotated[str, typer.Argument(help="Document id (see `qa-app list`).")],
    index_dir: IndexDir = None,
) -> None:
    """Delete a document from the index."""
    info = _library(index_dir).remove(doc_id)
    err.print(f"removed {info.doc_id} {info.title!r} ({info.chunks} chunks)", markup=False, highlight=False)


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8501,
    host: Annotated[str, typer.Option(help="Address to bind; 0.0.0.0 exposes the app to the network.")] = "127.0.0.1",
    index_dir: IndexDir = None,
) -> None:
    """Start the web app (Streamlit)."""
    settings = load_settings(index_dir=index_dir)
    warning = exposure_warning(host, settings.admin_token)
    if warning:
        err.print(f"warning: {warning}", markup=False, highlight=False)
    env = {**os.environ, "QA_APP_INDEX_DIR": str(Path(settings.index_dir).resolve())}
    page = Path(__file__).parent / "app" / "Chat.py"
    # no Streamlit "magic" (see .streamlit/config.toml: it parses each script with ast, unsafe across threads)
    # Streamlit's `run`, with the page's modules and models loading while the server starts (app/server.py)
    command = [sys.executable, "-m", "qa_app.app.server", str(page), "--server.port", str(port),
               "--server.address", host, "--server.headless", "true",
               "--browser.gatherUsageStats", "false",
               "--runner.magicEnabled", "false"]  # fmt: skip
    os.execve(sys.executable, command, env)  # become Streamlit, so stopping `serve` stops the server


@app.command()
def api(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    host: Annotated[str, typer.Option(help="Address to bind; 0.0.0.0 exposes the API to the network.")] = "127.0.0.1",
    index_dir: IndexDir = None,
) -> None:
    """Serve the HTTP API (FastAPI, OpenAPI docs at /docs)."""
    from qa_app.api import serve as serve_api  # FastAPI and uvicorn load only for this command

    serve_api(load_settings(index_dir=index_dir), host=host, port=port)


def exposure_warning(host: str, admin_token: str) -> str | None:
    """What to tell someone who serves the app beyond this machine without an admin token, or None."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to any interface
        loopback = False
    if loopback or admin_token:
        return None
    return (f"serving on {host} without QA_APP_ADMIN_TOKEN: anyone who can reach this address can upload and "
            "delete articles; set QA_APP_ADMIN_TOKEN, or bind 127.0.0.1")  # fmt: skip


def main() -> None:
    """Entry point: user errors become one line on stderr and exit code 1."""
    # no "Loading weights" bar from transformers on every command (read when huggingface_hub is imported)
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    # stored text (titles, file names, quotes) never reaches the terminal as control sequences (terminal.py)
    sys.stdout, sys.stderr = EscapingStream(sys.stdout), EscapingStream(sys.stderr)
    try:
        app()
    except QAError as exc:
        err.print(f"error: {exc}", markup=False, highlight=False)
        sys.exit(1)
    except OSError as exc:  # the disk under the index or the files (full, read-only, gone): one line, no traceback
        if exc.errno not in _STORAGE_ERRNOS:
            raise
        err.print(f"error: {exc.filename or ''}: {exc.strerror}", markup=False, highlight=False)
        sys.exit(1)
    finally:
        sys.stdout, sys.stderr = unescaped(sys.stdout), unescaped(sys.stderr)
