"""Timing helpers shared by the benchmarks (kept free of test-only imports, so every benchmark venv has them)."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np

from qa_app.embedder import SentenceTransformerEmbedder


def timed(function: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds `function` took, and what it returned."""
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


class TimedEmbedder:
    """A loaded embedder that times its calls and keeps the texts it is given."""

    def __init__(self, inner: SentenceTransformerEmbedder) -> None:
        self.inner, self.name = inner, inner.name
        self.seconds, self.texts = 0.0, []

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def _timed(self, call: Callable[..., Any], texts: Sequence[str], batch_size: int) -> Any:
        """`call(texts, batch_size=…)` on the inner embedder, its time and texts added to this one's."""
        started = time.perf_counter()
        result = call(texts, batch_size=batch_size)
        self.seconds += time.perf_counter() - started
        self.texts.extend(texts)
        return result

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        return self._timed(self.inner.embed, texts, batch_size)

    @property
    def backend(self) -> str:
        return self.inner.backend

    def torch_model(self) -> Any:
        return self.inner.torch_model()

    def gives_token_vectors(self) -> bool:
        return self.inner.gives_token_vectors()

    def token_vectors(self, texts: Sequence[str], batch_size: int = 32) -> list:
        """The inner embedder's token vectors, timed and counted like `embed` (pooled sentence vectors use them)."""
        return self._timed(self.inner.token_vectors, texts, batch_size)


def host() -> dict:
    """What every benchmark records of the machine: CPUs, platform, memory and how busy it was at the start."""
    lines = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "")
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": model or platform.processor(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "load_average_at_start": os.getloadavg(),
    }


@contextmanager
def worktree(revision: str) -> Iterator[Path]:
    """`revision`'s tree in a temporary git worktree (detached), removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="qa-bench-tree-")) / "tree"
    root = Path(__file__).resolve().parent.parent
    subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(folder), revision], cwd=root, check=True)
    try:
        yield folder
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(folder)], cwd=root, check=False)
        shutil.rmtree(folder.parent, ignore_errors=True)


def tree_env(tree: Path, **settings: str) -> dict[str, str]:
    """This environment, offline, importing qa_app from `tree` (a worktree), with extra variables."""
    return {**os.environ, "PYTHONPATH": str(tree), "HF_HUB_OFFLINE": "1", **settings}


def interleaved(root: Path, baseline: str | None, runs: int, run_once: Callable[[Path], dict]) -> dict[str, list[dict]]:
    """`runs` rounds of `run_once(tree)` for the working tree `root` and, when given, `baseline`'s tree (a git
    worktree), alternating so neither gets a warmer machine; each run's figures printed to stderr as it ends."""
    with worktree(baseline) if baseline else nullcontext() as baseline_tree:
        trees = {"working tree": root} | ({f"baseline {baseline}": baseline_tree} if baseline_tree else {})
        results: dict[str, list[dict]] = {name: [] for name in trees}
        for _ in range(runs):
            for name, tree in trees.items():
                results[name].append(run_once(tree))
                print(name, results[name][-1], file=sys.stderr, flush=True)
    return results
