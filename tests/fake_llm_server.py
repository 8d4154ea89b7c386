"""A scripted OpenAI-compatible chat server on 127.0.0.1, for tests of the generative answers.

It speaks `POST /v1/chat/completions` with `"stream": true` as server-sent events, like Ollama, llama.cpp's
server and vLLM do. Each request takes the next scripted `Reply` (the last one repeats), and every request
body and header is kept, so tests can check the prompt and count retries.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    """What the server does with one request."""

    text: str = ""  # streamed in small pieces, then `finish_reason: stop` and `data: [DONE]`
    status: int = 200  # anything but 200 answers with this status and a JSON error body
    hang: bool = False  # accept the request and never answer (until the server stops)
    raw: list[str] = field(default_factory=list)  # lines sent as they are (a malformed stream)
    whole: bool = False  # ignore `"stream": true` and answer `text` as one JSON completion
    pause_after: int | None = None  # pause after this many pieces until `FakeLLM.resume` is set
    piece: int = 7  # characters per streamed piece


def _event(content: str | None = None, finish: str | None = None, role: str | None = None) -> bytes:
    delta = {key: value for key, value in (("role", role), ("content", content)) if value is not None}
    payload = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": "fake",
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}  # fmt: skip
    return f"data: {json.dumps(payload)}\n\n".encode()


class FakeLLM:
    """The server, its script and what it received."""

    def __init__(self) -> None:
        self.replies: list[Reply] = [Reply(text="The articles do not answer this question.")]
        self.requests: list[dict] = []
        self.headers: list[dict[str, str]] = []
        self.stopping = threading.Event()
        self.resume = threading.Event()
        self.paused = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def script(self, *replies: Reply) -> FakeLLM:
        self.replies = list(replies)
        return self

    def start(self) -> FakeLLM:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.resume.set()
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep the test output quiet
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                reply = fake.replies[min(len(fake.requests), len(fake.replies) - 1)]
                fake.requests.append(body)
                fake.headers.append(dict(self.headers))
                if not self.path.endswith("/chat/completions"):
                    return self._send_json(404, {"error": {"message": f"no route {self.path}"}})
                if reply.hang:
                    fake.stopping.wait(30)
                    return None
                if reply.status != 200:
                    return self._send_json(reply.status, {"error": {"message": "scripted failure"}})
                if reply.whole:
                    message = {"role": "assistant", "content": reply.text}
                    choice = {"index": 0, "message": message, "finish_reason": "stop"}
                    return self._send_json(200, {"choices": [choice]})
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                if reply.raw:
                    self._write(b"".join(f"{line}\n".encode() for line in reply.raw))
                    return None
                self._write(_event(role="assistant", content=""))
                pieces = [reply.text[i : i + reply.piece] for i in range(0, len(reply.text), reply.piece)]
                for number, piece in enumerate(pieces, 1):
                    if number == reply.pause_after:
                        fake.paused.set()  # before the piece goes out, so a client that has it sees the pause
                    self._write(_event(piece))
                    if number == reply.pause_after:
                        fake.resume.wait(30)
                self._write(_event(finish="stop") + b"data: [DONE]\n\n")
                return None

            def _write(self, data: bytes) -> None:
                self.wfile.write(data)
                self.wfile.flush()

            def _send_json(self, status: int, value: dict) -> None:
                data = json.dumps(value).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                self.end_headers()
                self._write(data)

        return Handler
