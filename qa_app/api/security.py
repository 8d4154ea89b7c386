"""Who may write through the API, and how large a request may be."""

from __future__ import annotations

import hmac
import ipaddress
import json

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def is_loopback(host: str) -> bool:
    """Whether a bind address only accepts connections from this machine."""
    host = host.strip().strip("[]").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_write_access(authorization: str | None, token: str, bind_host: str) -> None:
    """Raise 401/403 unless this request may add or delete articles.

    With a token set, the request must carry `Authorization: Bearer <token>` (compared in constant time).
    Without one, writes are open only when the server listens on loopback (this machine alone can reach it).
    """
    if not token:
        if is_loopback(bind_host):
            return
        raise HTTPException(403, f"writes are refused: the server listens on {bind_host}, beyond this machine, "
                                 "and no QA_APP_ADMIN_TOKEN is set; set one and send it as a Bearer token")  # fmt: skip
    scheme, _, given = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise HTTPException(401, "this needs the admin token: send 'Authorization: Bearer <QA_APP_ADMIN_TOKEN>'",
                            headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
    if not hmac.compare_digest(given.strip().encode("utf-8"), token.encode("utf-8")):
        raise HTTPException(403, "the admin token is not right")


class BodyLimit:
    """ASGI middleware: 413 for a request body over `max_bytes`, declared or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    def _message(self) -> str:
        return f"the request is over the {self.max_bytes / 1024 / 1024:.1f} MB limit (QA_APP_MAX_REQUEST_MB)"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await _send_json(send, 413, {"error": self._message()})
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:  # a chunked body: the route's handler turns this into a 413
                    raise HTTPException(413, self._message())
            return message

        await self.app(scope, limited, send)


async def _send_json(send: Send, status: int, value: dict) -> None:
    body = json.dumps(value).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"connection", b"close")]  # fmt: skip
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
