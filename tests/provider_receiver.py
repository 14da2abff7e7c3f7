"""A real local HTTP server standing in for an external provider (Shopify, Stripe, PayPal, Redsys, BTCPay, an
ERP, an SMS gateway, Meta's Graph API). Tests register the routes the provider documents; every request is
recorded with its method, path, query, headers and body so the test can check it as the provider documents it.
Also a real SMTP server (aiosmtpd) that keeps what it accepts.

    provider = ProviderReceiver().start()
    provider.route("POST", "/v1/payment_intents", lambda call: (200, {"id": "pi_1", "status": "requires_capture"}))
    ... point the hub at provider.base ...
    assert provider.calls_to("POST", "/v1/payment_intents")[0].form["amount"] == "2500"
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller


@dataclass(frozen=True)
class Call:
    """One request the provider received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    raw: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.raw or b"null")

    @property
    def form(self) -> dict[str, str]:
        """An application/x-www-form-urlencoded body (Stripe, Redsys, OAuth), last value per key."""
        return {k: v[-1] for k, v in parse_qs(self.raw.decode(), keep_blank_values=True).items()}

    @property
    def bearer(self) -> str | None:
        auth = self.headers.get("authorization", "")
        return auth[7:] if auth.lower().startswith("bearer ") else None


Answer = tuple[int, Any] | tuple[int, Any, dict[str, str]]
Handler = Callable[[Call], Answer]


@dataclass
class _Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    fail_first: int = 0
    fail_status: int = 500
    seen: int = 0


@dataclass
class ProviderReceiver:
    """Routes match by method and a full-path regular expression (or an exact path). An unmatched request is
    recorded and answered 404 so a wrong path fails the test's own assertions, never silently succeeds."""

    calls: list[Call] = field(default_factory=list)
    _routes: list[_Route] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def base(self) -> str:
        """http://127.0.0.1:PORT — append the provider's own prefix (e.g. `/v21.0`, `/admin/api/2024-10`)."""
        assert self._server is not None, "start() first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def route(self, method: str, path: str, handler: Handler | Answer, *, fail_first: int = 0,
              fail_status: int = 500) -> ProviderReceiver:
        """`path` is exact unless it starts with `^` (then a regular expression over the path without query).
        `handler` is a function of the Call or a fixed (status, body[, headers]) answer. The first `fail_first`
        matching calls are answered `fail_status` instead (a provider outage)."""
        pattern = re.compile(path if path.startswith("^") else "^" + re.escape(path) + "$")
        answer = handler if callable(handler) else (lambda _call, fixed=handler: fixed)
        with self._lock:
            self._routes.append(_Route(method.upper(), pattern, answer, fail_first, fail_status))
        return self

    def calls_to(self, method: str, path: str) -> list[Call]:
        pattern = re.compile(path if path.startswith("^") else "^" + re.escape(path) + "$")
        with self._lock:
            return [c for c in self.calls if c.method == method.upper() and pattern.match(c.path)]

    def wait_for(self, predicate: Callable[[ProviderReceiver], bool], timeout: float = 30.0) -> bool:
        """Poll until predicate(self) holds (a wait, not a timing assertion: callers assert the result)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self):
                return True
            time.sleep(0.02)
        return bool(predicate(self))

    def _answer(self, call: Call) -> tuple[int, bytes, dict[str, str]]:
        with self._lock:
            self.calls.append(call)
            route = next((r for r in self._routes if r.method == call.method and r.pattern.match(call.path)), None)
            if route is not None:
                route.seen += 1
                failing = route.seen <= route.fail_first
        if route is None:
            return 404, json.dumps({"error": f"no route {call.method} {call.path}"}).encode(), {
                "Content-Type": "application/json"}
        if failing:
            return route.fail_status, json.dumps({"error": "provider unavailable"}).encode(), {
                "Content-Type": "application/json"}
        answer = route.handler(call)
        status, body = answer[0], answer[1]
        headers = dict(answer[2]) if len(answer) > 2 else {}  # type: ignore[misc]
        if isinstance(body, bytes):
            payload = body
        elif isinstance(body, str):
            payload = body.encode()
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        else:
            payload = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        return status, payload, headers

    def start(self) -> ProviderReceiver:
        receiver = self

        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # the answer's head and body leave at once (TCP_NODELAY), as a real provider's server sends them: else
            # a kept-alive client waits out its delayed ACK (~40 ms) on every request
            disable_nagle_algorithm = True

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                call = Call(self.command, parts.path, parse_qs(parts.query, keep_blank_values=True),
                            {k.lower(): v for k, v in self.headers.items()}, raw)
                status, payload, headers = receiver._answer(call)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

            def log_message(self, *_: Any) -> None:  # keep test output clean
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), RequestHandler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@dataclass
class Mailbox:
    """An SMTP server on 127.0.0.1 (aiosmtpd) that keeps every message it accepts."""

    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    port: int = 0
    _controller: Controller | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))  # type: ignore[arg-type]
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> Mailbox:
        import socket

        if not self.port:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                self.port = s.getsockname()[1]
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
