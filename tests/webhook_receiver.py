"""A real local HTTP receiver for webhook tests: records every request, can fail or be slow on purpose."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from omnihub.core.security import verify_signature


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def event_id(self) -> str:
        return self.json["id"]

    @property
    def envelopes(self) -> list[dict[str, Any]]:
        """The events this request carried: a batch's list, or the one envelope."""
        body = self.json
        return list(body.get("events", [body]))


@dataclass
class Receiver:
    """Answers `status` (after failing the first `fail_first` requests with 500), optionally after `delay`."""

    fail_first: int = 0
    status: int = 200
    delay: float = 0.0
    secret: str | None = None  # when set, requests with a bad signature get 401
    requests: list[Received] = field(default_factory=list)
    rejected_signatures: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/hook"

    def event_ids(self) -> set[str]:
        """Every event id received (a batch's envelopes included)."""
        with self._lock:
            return {e["id"] for r in self.requests for e in r.envelopes}

    def received_ids(self) -> list[str]:
        """Every event id received, in arrival order, repeats included (batches flattened)."""
        with self._lock:
            return [e["id"] for r in self.requests for e in r.envelopes]

    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    def wait_for(self, predicate: Any, timeout: float = 60.0) -> bool:
        """Poll until predicate(self) holds (a wait, not a timing assertion: callers assert the result)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self):
                return True
            time.sleep(0.02)
        return bool(predicate(self))

    def _answer(self, headers: dict[str, str], body: bytes) -> int:
        if self.delay:
            time.sleep(self.delay)
        with self._lock:
            if self.secret is not None and not verify_signature(
                self.secret, body, headers.get("x-omnihub-signature", "")
            ):
                self.rejected_signatures += 1
                return 401
            self.requests.append(Received(headers, body))
            if len(self.requests) <= self.fail_first:
                return 500
            return self.status

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                status = receiver._answer(headers, body)
                payload = b"ok" if status < 300 else b"nope"
                self.send_response(status)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *_: Any) -> None:  # keep test output clean
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
