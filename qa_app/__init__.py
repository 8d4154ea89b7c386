"""Newsdesk Q&A: grounded, cited answers over a corpus of news articles."""

from qa_app.errors import ConfigError, IndexMismatchError, LoadError, NotFoundError, QAError
from qa_app.library import Library
from qa_app.records import AddResult, Answer, Chunk, Citation, Document, DocumentInfo, Passage
from qa_app.version import __version__ as __version__

__all__ = [
    "AddResult",
    "Answer",
    "Chunk",
    "Citation",
    "ConfigError",
    "Document",
    "DocumentInfo",
    "IndexMismatchError",
    "Library",
    "LoadError",
    "NotFoundError",
    "Passage",
    "QAError",
]
