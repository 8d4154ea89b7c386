"""The package version, in one place: `qa_app.__version__`, the API's OpenAPI page and every index manifest read it."""

__version__ = "0.1.0"
