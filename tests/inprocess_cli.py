"""Run the `qa-app` entry point inside the test process (the model is imported once), capturing its output."""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

from qa_app import cli


def run_cli(*args: str | Path) -> tuple[int, str, str]:
    """`qa-app *args` in this process: exit code, stdout, stderr (tracebacks included, as a user would see)."""
    out, err = io.StringIO(), io.StringIO()
    argv, sys.argv = sys.argv, ["qa-app", *map(str, args)]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                cli.main()
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = argv
    return code, out.getvalue(), err.getvalue()
