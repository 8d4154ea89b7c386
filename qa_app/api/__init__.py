"""The HTTP API: `qa-app api` serves `create_app(library)` with uvicorn (see README, "HTTP API")."""

from __future__ import annotations

import threading

from qa_app.api.app import create_app
from qa_app.config import Settings
from qa_app.library import Library

__all__ = ["create_app", "serve"]


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the API until interrupted; the model and indexes load in the background meanwhile."""
    import uvicorn

    library = Library(settings)
    threading.Thread(target=library.warm_up, name="qa-app-warm-up", daemon=True).start()
    try:
        uvicorn.run(create_app(library, bind_host=host), host=host, port=port, log_level="info")
    finally:
        library.close()
