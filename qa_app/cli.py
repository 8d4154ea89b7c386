"""The `qa-app` command: index, search, list, show, remove and serve from a terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from qa_app.config import load_settings
from qa_app.errors import QAError
from qa_app.library import Library
from qa_app.library import Progress as AddProgress

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Newsdesk Q&A: grounded answers over news articles.")
err = Console(stderr=True)

IndexDir = Annotated[
    Path | None,
    typer.Option("--index-dir", help="Index directory (default: embeddings/ or $QA_APP_INDEX_DIR)."),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]
TopK = Annotated[int | None, typer.Option("-k", "--k", min=1, max=100, help="Number of passages.")]


def _library(index_dir: Path | None) -> Library:
    return Library(load_settings(index_dir=index_dir))


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False) + "\n")


@app.command()
def index(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (.txt .md .html .htm .pdf .json .jsonl).")],
    index_dir: IndexDir = None,
    as_json: AsJson = False,
) -> None:
    """Index articles; bad files are reported and the rest indexed."""
    library = _library(index_dir)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
               TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=err, transient=False) as bar:
        task = bar.add_task("embedding chunks", total=None, rate="")

        def report(p: AddProgress) -> None:
            elapsed = bar.tasks[0].elapsed or 1e-9
            rate = f"{p.chunks_done / elapsed:.1f} chunks/s, {p.docs_done}/{p.docs_total} docs"
            bar.update(task, total=p.chunks_total, completed=p.chunks_done, rate=rate)

        results = library.add(paths, progress=report)
    if as_json:
        _print_json({"results": [r.to_json() for r in results]})
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
    index_dir: IndexDir = None,
    as_json: AsJson = False,
) -> None:
    """Show the passages that best match a question."""
    passages = _library(index_dir).search(question, k)
    if as_json:
        _print_json({"question": question, "passages": [p.to_json() for p in passages]})
        return
    for rank, p in enumerate(passages, 1):
        typer.echo(f"{rank}. [{p.score:.3f}] {p.title} ({p.published_at or 'undated'}, {p.source})")
        typer.echo(f"   {p.text}\n")


@app.command("list")
def list_documents(index_dir: IndexDir = None, as_json: AsJson = False) -> None:
    """List the indexed documents."""
    documents = _library(index_dir).documents()
    if as_json:
        _print_json({"documents": [d.to_json() for d in documents]})
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
        _print_json({"doc_id": doc.doc_id, "title": doc.title, "source": doc.source, "published_at": doc.published_at,
                     "added_at": doc.added_at, "metadata": doc.metadata, "text": doc.text})  # fmt: skip
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
    env = {**os.environ, "QA_APP_INDEX_DIR": str(Path(settings.index_dir).resolve())}
    page = Path(__file__).parent / "app" / "Chat.py"
    command = [sys.executable, "-m", "streamlit", "run", str(page), "--server.port", str(port),
               "--server.address", host, "--server.headless", "true",
               "--browser.gatherUsageStats", "false"]  # fmt: skip
    raise typer.Exit(subprocess.call(command, env=env))


def main() -> None:
    """Entry point: user errors become one line on stderr and exit code 1."""
    try:
        app()
    except QAError as exc:
        err.print(f"error: {exc}", markup=False, highlight=False)
        sys.exit(1)
