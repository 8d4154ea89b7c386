"""A real uvicorn server for the API tests, on a free 127.0.0.1 port, in a thread of the test process."""

from __future__ import annotations

import threading
import time

import httpx
import uvicorn
from fastapi import FastAPI


class ApiServer:
    """`with ApiServer(app) as server:` serves `app`; `server.client` is an httpx client for it."""

    def __init__(self, app: FastAPI) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="api-test-server", daemon=True)
        self.url = ""

    def __enter__(self) -> ApiServer:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the API server did not start")
            time.sleep(0.02)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.client = httpx.Client(base_url=self.url, timeout=120)
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()
        self._server.should_exit = True
        self._thread.join(timeout=20)
