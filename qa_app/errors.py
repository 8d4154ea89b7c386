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
