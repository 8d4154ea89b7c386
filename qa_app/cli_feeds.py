"""`qa-app feeds …`: follow news feeds and index their new items."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from qa_app.config import load_settings
from qa_app.feeds import Feeds, PollResult, poll_every
from qa_app.library import Library

feeds_app = typer.Typer(no_args_is_help=True, help="Follow RSS and Atom news feeds and index their new items.")
err = Console(stderr=True)

IndexDir = Annotated[
    Path | None,
    typer.Option("--index-dir", help="Index directory (default: embeddings/ or $QA_APP_INDEX_DIR)."),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]


def _feeds(index_dir: Path | None) -> Feeds:
    return Feeds(Library(load_settings(index_dir=index_dir)))


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False) + "\n")
    sys.stdout.flush()


@feeds_app.command("add")
def add_feed(url: Annotated[str, typer.Argument(help="The feed's http(s) URL.")], index_dir: IndexDir = None) -> None:
    """Follow a feed; its items are indexed by `qa-app feeds poll`."""
    feed = _feeds(index_dir).add(url)
    err.print(f"following {feed.url} (id {feed.id}); `qa-app feeds poll` indexes its items", markup=False)


@feeds_app.command("list")
def list_feeds(index_dir: IndexDir = None, as_json: AsJson = False) -> None:
    """The followed feeds with their last poll."""
    feeds = _feeds(index_dir).list()
    if as_json:
        _print_json({"feeds": [f.to_json() for f in feeds]})
        return
    for f in feeds:
        last = f"{f.last_status} {f.last_polled_at}, {f.last_new} new" if f.last_polled_at else "not polled yet"
        problem = f" — {f.last_error}" if f.last_error else ""
        typer.echo(f"{f.id:>3}  {f.url}  {f.title or ''}  ({f.items} items; {last}){problem}")
    err.print(f"{len(feeds)} feeds", highlight=False)


@feeds_app.command("remove")
def remove_feed(
    feed: Annotated[str, typer.Argument(help="The feed's URL or id (see `qa-app feeds list`).")],
    index_dir: IndexDir = None,
) -> None:
    """Stop following a feed; the articles it brought stay indexed."""
    removed = _feeds(index_dir).remove(feed)
    err.print(f"stopped following {removed.url}", markup=False, highlight=False)


@feeds_app.command("poll")
def poll(
    every: Annotated[
        float | None, typer.Option("--every", min=1, help="Poll again every MINUTES, until interrupted.")
    ] = None,
    index_dir: IndexDir = None,
    as_json: AsJson = False,
) -> None:
    """Fetch every feed once (or every MINUTES) and index the new items; errors are reported, the rest goes on."""
    feeds = _feeds(index_dir)

    def report(result: PollResult) -> None:
        if as_json:
            _print_json(result.to_json())
        for r in result.results:
            detail = r.reason if r.status == "failed" else f"{r.doc_id} {r.title!r} ({r.chunks} chunks)"
            err.print(f"{r.status:>15}  {r.source}: {detail}", markup=False, highlight=False)
        problem = f": {result.error}" if result.error else ""
        err.print(f"{result.feed}: {result.status}, {result.new} new{problem}", markup=False, highlight=False)

    if every is None:
        results = feeds.poll(report)
        if results and all(r.status == "failed" for r in results):
            raise typer.Exit(1)
        return
    try:
        poll_every(feeds, every, report)
    except KeyboardInterrupt:
        err.print("stopped", highlight=False)
