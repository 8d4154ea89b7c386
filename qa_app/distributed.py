"""`qa-app index --ray`: load, chunk and embed on a Ray cluster; the driver's `Library.write` commits.

Ray Data runs the pipeline: one read task per file (large JSONL files split into line ranges), load +
normalise + chunk as CPU tasks, then `map_batches` over a pool of embedding actors (one model each, texts
embedded in document order as in-process). Prepared documents stream back in input order to the one writer on the
driver, which commits them in groups: workers never touch the index directory. Documents already stored are
skipped before embedding, so a killed job is completed by running it again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from qa_app import ingest
from qa_app.config import Settings
from qa_app.documents import iter_files, jsonl_parts, load_jsonl_part
from qa_app.errors import LoadError, QAError
from qa_app.library import Library
from qa_app.records import AddResult, Failure

log = logging.getLogger(__name__)

JSONL_PART_BYTES = 4 * 1024 * 1024  # a JSONL file larger than this is read by several tasks
_LOOPBACK = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # "0": single-node Ray on the loopback address, as on macOS
DOCS_PER_BATCH = 16  # documents per embedding batch (their texts embedded as `ingest.embed_chunked` does)


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide: `address` None means RAY_ADDRESS, else a new local Ray on this machine."""

    address: str | None = None
    embedders: int = 2  # actors in the embedding pool (one model each)
    cpus_per_embedder: float = 0.5  # fractional, so the pool is not starved by the read tasks on small machines
    cpus_per_reader: float = 0.5  # so a 1-CPU node runs a reader beside its embedder
    gpus_per_embedder: float = 0.0


@dataclass(frozen=True)
class ReadTask:
    """One file, or one line range of a large JSONL file."""

    n: int
    path: str
    part: tuple[int, int, int] | None = None  # (start byte, end byte, first line number)


def plan(paths: Sequence[Path], settings: Settings) -> tuple[list[ReadTask], list[Failure]]:
    """The read tasks for `paths` and the paths that cannot be listed (reported as `load_files` would)."""
    tasks: list[ReadTask] = []
    failures: list[Failure] = []
    for path in paths:
        try:
            files = list(iter_files([path]))
        except LoadError as exc:
            failures.append(Failure(exc.source, exc.reason))
            continue
        except OSError as exc:
            failures.append(Failure(str(path), f"cannot read ({exc.strerror or exc})"))
            continue
        for file in files:
            for part in _parts(file, settings):
                tasks.append(ReadTask(len(tasks), str(file), part))
    return tasks, failures


def _parts(file: Path, settings: Settings) -> list[tuple[int, int, int] | None]:
    try:
        size = file.stat().st_size
    except OSError:
        return [None]  # the read task reports it
    if file.suffix.lower() != ".jsonl" or not JSONL_PART_BYTES < size <= settings.max_file_bytes:
        return [None]
    return list(jsonl_parts(file, JSONL_PART_BYTES))


def _row(kind: str, task: int, value: Any) -> dict[str, Any]:
    return {"kind": kind, "task": task, "payload": pickle.dumps(value)}


class Totals:
    """The documents to embed and their chunks, counted by read task (a retried task counts once)."""

    def __init__(self) -> None:
        self._tasks: dict[int, tuple[int, int]] = {}

    def record(self, task: int, documents: int, chunks: int) -> None:
        self._tasks[task] = (documents, chunks)

    def totals(self) -> tuple[int, int, int]:
        """Documents and chunks of the read tasks that finished, and how many tasks finished."""
        return sum(d for d, _ in self._tasks.values()), sum(c for _, c in self._tasks.values()), len(self._tasks)


def load_and_chunk(
    row: dict[str, Any], settings: Settings, known: np.ndarray, totals: Any = None
) -> Iterator[dict[str, Any]]:
    """A read task on a worker: its documents chunked ("new"), already stored ("known"), or failures.

    Ends with a "done" row holding how many document rows it sent, so the driver can tell a finished task;
    `totals` (a `Totals` actor) gets the task's new documents and chunks, for the progress bar's totals.
    """
    task = ReadTask(**{**row, "part": tuple(row["part"]) if row["part"] is not None else None})
    path = Path(task.path)
    try:
        if task.part is None:
            documents, failures = ingest.load([path], settings)
        else:
            documents, failures = load_jsonl_part(path, *task.part, max_text_chars=settings.max_text_chars)
    except Exception as exc:  # a loader bug must not end the job: the file is reported, the rest indexed
        documents, failures = [], [Failure(str(path), f"could not be loaded ({type(exc).__name__}: {exc})")]
    for failure in failures:
        yield _row("failed", task.n, failure)
    new: list[ingest.Chunked] = []
    for doc in documents:
        stored = bool(len(known)) and known[min(np.searchsorted(known, doc.doc_id), len(known) - 1)] == doc.doc_id
        if stored:
            yield _row("known", task.n, doc)
        else:
            new.append(ingest.chunk([doc], settings)[0])
    if totals is not None:
        totals.record.remote(task.n, len(new), sum(len(chunks) for _, chunks in new))
    for item in new:
        yield _row("new", task.n, item)
    yield _row("done", task.n, len(documents))


class EmbedActor:
    """One embedding model per actor; each call prepares the batch's new documents."""

    def __init__(self, settings: Settings) -> None:
        from qa_app.embedder import SentenceTransformerEmbedder

        self.settings = settings
        self.embedder = SentenceTransformerEmbedder(settings.embedding_model, backend=settings.embedding_backend,
                                                    precision=settings.embedding_precision)  # fmt: skip

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        kinds = [str(kind) for kind in batch["kind"]]
        payloads = list(batch["payload"])
        new = [i for i, kind in enumerate(kinds) if kind == "new"]
        chunked = [pickle.loads(payloads[i]) for i in new]
        prepared = ingest.embed_chunked(chunked, self.embedder, self.settings.embed_batch_size,
                                        sentences_from=self.settings.sentence_vectors_from)  # fmt: skip
        for i, item in zip(new, prepared, strict=True):
            kinds[i], payloads[i] = "prepared", pickle.dumps(item)
        return {"kind": np.array(kinds), "task": batch["task"], "payload": np.array(payloads, dtype=object)}


def index_with_ray(
    library: Library,
    paths: Sequence[Path],
    options: RayOptions | None = None,
    progress: ingest.ProgressCallback | None = None,
) -> list[AddResult]:
    """Index `paths` through Ray (see the module's docstring); bad files are reported, the rest indexed."""
    options = options or RayOptions()
    address = options.address or os.environ.get("RAY_ADDRESS") or None
    tasks, failures = plan(paths, library.settings)
    results = [AddResult(f.source, "failed", reason=f.reason) for f in failures]
    if not tasks:
        return results
    loopback = address is None and _LOOPBACK not in os.environ
    if loopback:  # a new local instance: Ray keeps its processes on 127.0.0.1 (read when ray is imported)
        os.environ[_LOOPBACK] = "0"
    try:
        ray = _ray()
        _connect(ray, address)
        try:
            with contextlib.redirect_stdout(sys.stderr):  # Ray prints node and worker deaths: stdout is the JSON's
                totals = _totals_actor(ray)
                rows = _pipeline(ray, library, tasks, options, totals).iter_rows()
                results += _write_stream(library, tasks, rows, progress, _TotalsReader(ray, totals, len(tasks)))
        except QAError:
            raise
        except Exception as exc:  # the cluster went away: every group committed so far is kept
            reason = str(exc).splitlines()[0] if str(exc) else ""
            raise QAError(f"the Ray job failed ({type(exc).__name__}: {reason}); what was committed is kept: "
                          "run the same command again to finish") from exc  # fmt: skip
        finally:
            ray.shutdown()
    finally:
        if loopback:
            del os.environ[_LOOPBACK]
    return results


def _ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise QAError("--ray needs Ray: pip install -e '.[ray]' (or `make install`)") from exc
    return ray


def _connect(ray: Any, address: str | None) -> None:
    kwargs: dict[str, Any] = {"log_to_driver": False, "configure_logging": False, "include_dashboard": False}
    for name in ("ray", "ray.data"):  # Ray Data logs each stage and its tuning hints on stderr
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"ray\.")
    if address is None:  # a new local instance, bound to this machine only
        kwargs["_node_ip_address"] = "127.0.0.1"
    try:
        ray.init(address=address or "local", **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise QAError(f"cannot reach the Ray cluster at {address}: {exc}; check the address (ray status)") from exc


def _totals_actor(ray: Any) -> Any:
    """A `Totals` actor on the driver's node (it must outlive any worker node), taking no CPU."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    return ray.remote(num_cpus=0, scheduling_strategy=here)(Totals).remote()


class _TotalsReader:
    """The totals so far, asked of the `Totals` actor; the last known ones if it cannot answer."""

    def __init__(self, ray: Any, actor: Any, tasks: int) -> None:
        self._ray, self._actor, self._tasks = ray, actor, tasks
        self._known = (0, 0)

    def __call__(self) -> tuple[int, int]:
        if self._actor is not None:
            try:
                documents, chunks, finished = self._ray.get(self._actor.totals.remote(), timeout=10)
                self._known = (documents, chunks)
                if finished == self._tasks:  # final: no need to ask again
                    self._actor = None
            except Exception as exc:  # totals are a detail of the progress bar, never a reason to fail
                log.debug("progress totals unavailable: %s", exc)
        return self._known


def _pipeline(ray: Any, library: Library, tasks: list[ReadTask], options: RayOptions, totals: Any = None) -> Any:
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True  # commits in input order, as in-process indexing
    context.enable_progress_bars = False  # the CLI draws its own progress on stderr
    context.max_errored_blocks = -1  # a task that fails on every retry loses its rows; the driver reports them
    known = np.array(sorted(library.indexed_ids()), dtype=str)
    settings = replace(library.settings, llm_api_key="")  # workers need no secrets
    precision = getattr(library.embedder, "precision", None)
    if precision in ("float32", "bfloat16"):  # workers embed as the library's own model does
        settings = replace(settings, embedding_precision=precision)
    items = [{"n": t.n, "path": t.path, "part": list(t.part) if t.part else None} for t in tasks]
    dataset = ray.data.from_items(items, override_num_blocks=len(items))
    dataset = dataset.flat_map(load_and_chunk, fn_kwargs={"settings": settings, "known": known, "totals": totals},
                               num_cpus=options.cpus_per_reader)  # fmt: skip
    return dataset.map_batches(
        EmbedActor,
        fn_constructor_kwargs={"settings": settings},
        batch_size=DOCS_PER_BATCH,
        # down to one actor: a pool that lost a node goes on with the actors it can still place
        compute=ray.data.ActorPoolStrategy(min_size=1, max_size=options.embedders),
        num_cpus=options.cpus_per_embedder,
        num_gpus=options.gpus_per_embedder,
    )


def _write_stream(
    library: Library,
    tasks: list[ReadTask],
    rows: Any,
    progress: ingest.ProgressCallback | None,
    totals: Callable[[], tuple[int, int]] = lambda: (0, 0),
) -> list[AddResult]:
    """The driver's writer: commit prepared documents in the groups in-process indexing makes (`ingest.groups`).

    Progress as in-process: files embedded as they arrive, saved (and named) at each commit, and the totals
    of documents and chunks to embed, which grow until every read task has counted its files.
    """
    results: list[AddResult] = []
    received = dict.fromkeys(range(len(tasks)), 0)
    expected: dict[int, int] = {}
    embedded = chunks = docs = 0  # documents and chunks embedded (received), documents saved

    def report(saved: tuple[str, ...] = ()) -> None:
        if progress:
            docs_total, chunks_total = totals()
            progress(ingest.Progress(docs, max(docs_total, embedded), chunks, max(chunks_total, chunks), saved,
                                     embedded))  # fmt: skip

    def prepared() -> Iterator[tuple[ingest.PreparedDocument, Sequence[Any]]]:
        nonlocal embedded, chunks
        for row in rows:
            kind, task, value = row["kind"], int(row["task"]), pickle.loads(row["payload"])
            if kind == "failed":
                results.append(AddResult(value.source, "failed", reason=value.reason, file=value.source))
            elif kind == "done":
                expected[task] = value
            else:
                received[task] += 1
                if kind == "known":
                    results.append(AddResult(value.source, "already indexed", value.doc_id, value.title,
                                             file=value.file or None))  # fmt: skip
                else:
                    embedded, chunks = embedded + 1, chunks + len(value.chunks)
                    report()
                    yield value, value.chunks

    for group in ingest.groups(prepared(), ingest.WRITE_GROUP_CHUNKS):
        results.extend(library.write([item for item, _ in group]))
        docs += len(group)
        report(tuple(item.document.file or item.document.source for item, _ in group))
    for task in tasks:
        if expected.get(task.n) != received[task.n]:
            lost = "the worker reading it failed on every retry" if task.n not in expected else "a worker died"
            results.append(AddResult(task.path, "failed", reason=f"{lost}; run the same command again to finish it"))
    return results
