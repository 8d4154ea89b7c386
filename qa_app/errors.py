"""The exceptions of qa_app; each message says what went wrong and what to do."""


class QAError(Exception):
    """Base class: a problem a user can act on (the CLI prints it without a traceback)."""


class LoadError(QAError):
    """A file or record could not be turned into a document."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


class IndexMismatchError(QAError):
    """The index on disk was built differently (model, dimension, schema) from what is asked."""


class NotFoundError(QAError):
    """A document id that is not in the index."""


class ConfigError(QAError):
    """A setting with a value that cannot work."""


class StorageError(QAError):
    """The index directory cannot be read or written as asked (damaged, full, read-only, locked)."""


class DatabaseDamagedError(StorageError):
    """library.sqlite is not a readable SQLite database any more."""


class DiskFullError(StorageError):
    """A write ran out of disk space; what was committed before is kept."""


class ReadOnlyIndexError(StorageError):
    """A write was asked of an index directory that can only be read."""


class LockTimeoutError(StorageError):
    """Another writer held the index's write lock for longer than the lock timeout."""
