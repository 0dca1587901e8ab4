"""A small OpenAI-compatible HTTP server for tests: scripted replies and injected faults.

It answers ``POST /v1/chat/completions``, ``POST /v1/completions`` (a prompt or a list of prompts, one
choice per prompt, as vLLM does; ``prompt_lists=False`` refuses lists with HTTP 400 like a server that
does not batch) and ``GET /v1/models`` on 127.0.0.1 (a free port, or the
one given), in a background thread, one thread per connection (``Connection: close`` on every
answer, so a stopped server really is gone). What it answers comes from a script:

- a function of the request body (``dict``) returning the assistant's text or a :class:`Reply`;
- or a sequence of replies consumed in order (then ``default`` answers, or HTTP 500 when unset).

Faults are replies too: ``Reply.error(429)``, ``Reply.slow("text", 2.0)``, ``Reply.malformed()``
(a body that is not JSON), ``Reply.dropped()`` (the connection closes without an answer).
``server.inject(fault, times=n)`` puts faults in front of the script for the next ``n`` requests;
``server.delay`` slows every answer; ``concurrency`` bounds the requests served at once (the others wait,
as on a server with that many slots) and ``per_prompt`` adds seconds per prompt of a list. ``stop()`` /
``start()`` (or ``restart()``) keep the port, so a client configured with ``server.url`` meets a server
that went away and came back. Every request received is recorded in ``server.requests`` (and the chat
bodies in ``server.chat_requests``); the user text of every answer actually sent (HTTP 200) in
``server.answered``; ``server.max_active`` is the most requests it answered at once.

    with FakeLLMServer(lambda req: "yes") as server:
        client = LLMClient(LLMConfig(base_url=server.url, model=server.model))
"""

from __future__ import annotations

import collections
import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass(frozen=True)
class Reply:
    """One scripted answer: text after ``delay`` seconds, or a fault."""

    content: str = ""
    delay: float = 0.0
    status: int = 200
    malformed: bool = False
    drop: bool = False
    retry_after: float | None = None

    @classmethod
    def error(cls, status: int, delay: float = 0.0, retry_after: float | None = None) -> Reply:
        """An HTTP error answer (429 rate limit, 500 server error, 401, ...), with a ``Retry-After`` header."""
        return cls(status=status, delay=delay, retry_after=retry_after)

    @classmethod
    def slow(cls, content: str, delay: float) -> Reply:
        return cls(content=content, delay=delay)

    @classmethod
    def malformed_json(cls) -> Reply:
        """HTTP 200 with a body that is not JSON."""
        return cls(malformed=True)

    @classmethod
    def dropped(cls) -> Reply:
        """Close the connection without sending anything back."""
        return cls(drop=True)


@dataclass
class Received:
    """A request the server got."""

    method: str
    path: str
    body: Any
    headers: dict[str, str]  # lower-case names
    time: float = field(default_factory=time.monotonic)


Script = Callable[[dict], "str | Reply"] | Iterable["str | Reply"] | str | None


def user_text(request: dict) -> str:
    """The last user message of a chat request, or the prompt of a one-prompt completion (handy in scripts)."""
    if isinstance(request.get("prompt"), str):
        return request["prompt"]
    for message in reversed(request.get("messages", [])):
        if message.get("role") == "user":
            return str(message.get("content", ""))
    return ""


class FakeLLMServer:
    """An OpenAI-compatible server on 127.0.0.1 whose answers are scripted (see the module docstring)."""

    def __init__(
        self,
        script: Script = None,
        *,
        default: Callable[[dict], str | Reply] | str | None = None,
        model: str = "fake-model",
        port: int = 0,
        delay: float = 0.0,
        concurrency: int | None = None,
        per_prompt: float = 0.0,
        prompt_lists: bool = True,
    ) -> None:
        self.model = model
        self.delay = delay
        self.per_prompt = per_prompt
        self.prompt_lists = prompt_lists
        self._slots = threading.BoundedSemaphore(concurrency) if concurrency else None
        self.requests: list[Received] = []
        self.answered: list[str] = []
        self.answered_at: list[float] = []  # time.time() of each answer in ``answered``
        self.active = 0  # completion requests being answered now
        self.max_active = 0  # the most at once
        self._lock = threading.Lock()
        self._faults: collections.deque[Reply] = collections.deque()
        self._function: Callable[[dict], str | Reply] | None = None
        self._queue: collections.deque[str | Reply] = collections.deque()
        if callable(script):
            self._function = script
        elif isinstance(script, str | Reply):
            self._function = lambda _request, reply=script: reply
        elif script is not None:
            self._queue.extend(script)
        self._default = (lambda _request, reply=default: reply) if isinstance(default, str | Reply) else default
        self._port = port
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._open: set[socket.socket] = set()
        self._completions = 0

    # -- life cycle -------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        """The OpenAI base URL (``http://127.0.0.1:PORT/v1``)."""
        return f"http://127.0.0.1:{self._port}/v1"

    @property
    def running(self) -> bool:
        return self._httpd is not None

    def start(self) -> FakeLLMServer:
        if self._httpd is not None:
            return self
        self._stopping.clear()
        handler = _make_handler(self)
        httpd = None
        for _ in range(50):  # the same port right after a stop may need a moment to be free again
            try:
                httpd = _Server(("127.0.0.1", self._port), handler)
                break
            except OSError:
                if not self._port:
                    raise
                time.sleep(0.05)
        if httpd is None:
            raise OSError(f"port {self._port} stayed busy")
        self._httpd = httpd
        self._port = httpd.server_address[1]
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop answering: close the listening socket and every open connection (in-flight answers drop)."""
        if self._httpd is None:
            return
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._lock:
            for conn in list(self._open):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def restart(self, *, down_for: float = 0.0) -> None:
        """Stop, wait ``down_for`` seconds, start again on the same port."""
        self.stop()
        time.sleep(down_for)
        self.start()

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- script -----------------------------------------------------------------------------------

    def inject(self, fault: Reply, *, times: int = 1) -> None:
        """Answer the next ``times`` chat requests with ``fault`` before the script is consulted."""
        with self._lock:
            self._faults.extend([fault] * times)

    def push(self, *replies: str | Reply) -> None:
        """Append replies to the scripted queue."""
        with self._lock:
            self._queue.extend(replies)

    @property
    def chat_requests(self) -> list[dict]:
        """Bodies of the chat completion requests received, in order."""
        return [r.body for r in self.requests if r.path.endswith("/chat/completions") and isinstance(r.body, dict)]

    @property
    def completion_requests(self) -> list[dict]:
        """Bodies of the ``/v1/completions`` requests received, in order."""
        return [r.body for r in self.requests if r.path.rstrip("/") == "/v1/completions" and isinstance(r.body, dict)]

    @property
    def completions(self) -> int:
        """Chat requests answered with HTTP 200 and a valid completion."""
        return self._completions

    def _next_reply(self, request: dict) -> Reply:
        with self._lock:
            queued = self._queue.popleft() if self._queue else None
        if queued is None:
            if self._function is not None:
                queued = self._function(request)
            elif self._default is not None:
                queued = self._default(request)
            else:
                return Reply(status=500, content="script exhausted")
        return queued if isinstance(queued, Reply) else Reply(content=str(queued))

    def _text_completion_body(self, request: dict, texts: list[str]) -> dict:
        return {
            "id": f"cmpl-fake-{len(self.requests)}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": request.get("model", self.model),
            "choices": [
                {"index": i, "text": t, "finish_reason": "stop", "logprobs": None} for i, t in enumerate(texts)
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }

    def _completion_body(self, request: dict, text: str) -> dict:
        prompt = sum(len(str(m.get("content", ""))) for m in request.get("messages", []))
        return {
            "id": f"chatcmpl-fake-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.get("model", self.model),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": prompt // 4,
                "completion_tokens": len(text) // 4,
                "total_tokens": (prompt + len(text)) // 4,
            },
        }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def _make_handler(server: FakeLLMServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def setup(self) -> None:
            super().setup()
            with server._lock:
                server._open.add(self.connection)

        def finish(self) -> None:
            with server._lock:
                server._open.discard(self.connection)
            with contextlib.suppress(OSError):
                super().finish()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet in tests
            pass

        def _record(self, body: Any) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            server.requests.append(Received(self.command, self.path, body, headers))

        def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            self._send_raw(status, data, headers)

        def _send_raw(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 - http.server naming
            self._record(None)
            if self.path.rstrip("/") == "/v1/models":
                self._send_json(
                    200,
                    {
                        "object": "list",
                        "data": [{"id": server.model, "object": "model", "created": 0, "owned_by": "fake"}],
                    },
                )
            else:
                self._send_json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode(errors="replace")
            self._record(body)
            route = self.path.rstrip("/")
            if route not in ("/v1/chat/completions", "/v1/completions"):
                self._send_json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
                return
            if route == "/v1/completions":
                prompts = body.get("prompt") if isinstance(body, dict) else None
                if isinstance(prompts, str):
                    prompts = [prompts]
                if not isinstance(prompts, list) or not prompts or (len(prompts) > 1 and not server.prompt_lists):
                    self._send_json(400, {"error": {"message": "prompt must be a string", "type": "invalid"}})
                    return
                requests = [{**body, "prompt": p, "messages": [{"role": "user", "content": p}]} for p in prompts]
            elif not isinstance(body, dict) or "messages" not in body:
                self._send_json(400, {"error": {"message": "expected a JSON body with 'messages'", "type": "invalid"}})
                return
            else:
                requests = [body]
            if server._slots is not None:
                server._slots.acquire()
            with server._lock:
                server.active += 1
                server.max_active = max(server.max_active, server.active)
            try:
                self._answer(route, body, requests)
            finally:
                with server._lock:
                    server.active -= 1
                if server._slots is not None:
                    server._slots.release()

        def _answer(self, route: str, body: dict, requests: list[dict]) -> None:
            fault = None
            with server._lock:
                if server._faults:
                    fault = server._faults.popleft()
            replies = [fault] * len(requests) if fault is not None else [server._next_reply(r) for r in requests]
            wait = max(r.delay for r in replies) + server.delay + server.per_prompt * (len(requests) - 1)
            if wait > 0 and server._stopping.wait(wait):
                self._drop()
                return
            bad = next((r for r in replies if r.drop or r.malformed or r.status != 200), None)
            if bad is not None and bad.drop:
                self._drop()
            elif bad is not None and bad.malformed:
                self._send_raw(200, b'{"id": "chatcmpl-broken", "choices": [{"message": {"content": "tru')
            elif bad is not None:
                message = bad.content or {429: "rate limited", 500: "internal error"}.get(bad.status, "error")
                headers = {"Retry-After": f"{bad.retry_after:g}"} if bad.retry_after is not None else {}
                self._send_json(bad.status, {"error": {"message": message, "type": "fake", "code": bad.status}},
                                headers)  # fmt: skip
            else:
                texts = [r.content for r in replies]
                if route == "/v1/completions":
                    payload = server._text_completion_body(body, texts)
                else:
                    payload = server._completion_body(body, texts[0])
                # counted before the reply leaves, so a client that has its answer sees it counted (no race with
                # a test reading the counters); taken back when the reply cannot be sent
                asked = [user_text(r) for r in requests]
                with server._lock:
                    server._completions += len(texts)
                    server.answered.extend(asked)
                    server.answered_at.extend([time.time()] * len(asked))
                try:
                    self._send_json(200, payload)
                except OSError:
                    with server._lock:
                        server._completions -= len(texts)
                        for text in asked:
                            i = len(server.answered) - 1 - server.answered[::-1].index(text)
                            del server.answered[i], server.answered_at[i]

        def _drop(self) -> None:
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True

    return Handler


@pytest.fixture
def fake_llm():
    """A started :class:`FakeLLMServer` answering ``"ok"``; set ``fake_llm.push`` / ``inject`` in the test."""
    with FakeLLMServer(default="ok") as server:
        yield server
