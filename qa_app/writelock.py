"""The index directory's write lock: one writer at a time, a message while waiting, a timeout, the holder's pid.

A file lock (filelock, `flock` underneath) on `.write.lock`; the holder writes its pid to `.write.lock.pid` so
a waiting writer can say whom it waits for. Readers never wait: they take it with `acquire(timeout=0)` to save
a rebuilt index only when no writer is busy.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path
from types import TracebackType

from filelock import FileLock, Timeout

from qa_app.errors import LockTimeoutError, ReadOnlyIndexError
from qa_app.storage_errors import read_only_message

log = logging.getLogger(__name__)

LOCK_NAME = ".write.lock"
_QUIET_WAIT = 1.0  # seconds a writer waits before it says so


class WriteLock:
    """Reentrant in one thread, like the FileLock it wraps; `with lock:` waits up to `timeout` seconds."""

    def __init__(self, index_dir: Path, timeout: float) -> None:
        self.path = index_dir / LOCK_NAME
        self.pid_path = index_dir / f"{LOCK_NAME}.pid"
        self.timeout = timeout
        self._lock = FileLock(str(self.path))

    def holder(self) -> str:
        """Who holds the lock, as far as the pid file tells: "pid 1234 since 12:03:04", or "pid unknown"."""
        try:
            pid = int(self.pid_path.read_text().strip())
            since = time.strftime("%H:%M:%S", time.localtime(self.pid_path.stat().st_mtime))
        except (OSError, ValueError):
            return "pid unknown"
        return f"pid {pid} since {since}"

    def acquire(self, timeout: float | None = None) -> _Held:
        """Take the lock; with `timeout`, raise filelock's `Timeout` after it (readers pass 0), else wait."""
        try:
            if timeout is not None:
                self._lock.acquire(timeout=timeout)
            else:
                self._acquire_as_writer()
        except Timeout:  # an OSError too (TimeoutError): another writer holds it
            raise
        except OSError as exc:  # a read-only directory cannot hold a lock file
            raise ReadOnlyIndexError(read_only_message(self.path.parent)) from exc
        if self._lock.lock_counter == 1:
            self._write_pid()
        return _Held(self)

    def _acquire_as_writer(self) -> None:
        try:
            self._lock.acquire(timeout=min(_QUIET_WAIT, self.timeout))
            return
        except Timeout:
            if self.timeout <= _QUIET_WAIT:
                raise self._timed_out() from None
        log.warning("waiting for another writer: %s holds %s (giving up after %g s; QA_APP_LOCK_TIMEOUT)",
                    self.holder(), self.path, self.timeout)  # fmt: skip
        try:
            self._lock.acquire(timeout=self.timeout - _QUIET_WAIT)
        except Timeout:
            raise self._timed_out() from None

    def _timed_out(self) -> LockTimeoutError:
        return LockTimeoutError(
            f"another writer ({self.holder()}) held {self.path} for over {self.timeout:g} s; wait for it to finish, "
            "or stop it if it hangs (QA_APP_LOCK_TIMEOUT sets how long to wait)"
        )

    def _write_pid(self) -> None:
        with contextlib.suppress(OSError):  # only informative: a full disk must not stop a write that frees space
            self.pid_path.write_text(f"{os.getpid()}\n")

    def release(self) -> None:
        if self._lock.lock_counter == 1:
            with contextlib.suppress(OSError):
                self.pid_path.unlink(missing_ok=True)
        self._lock.release()

    @property
    def is_locked(self) -> bool:
        return self._lock.is_locked

    def __enter__(self) -> WriteLock:
        self.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.release()


class _Held:
    """What `acquire` returns: `with lock.acquire(timeout=0):` releases that one acquisition at the end."""

    def __init__(self, lock: WriteLock) -> None:
        self._lock = lock

    def __enter__(self) -> WriteLock:
        return self._lock

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self._lock.release()
