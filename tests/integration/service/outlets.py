"""Real local outlets for reply tests: an SMTP server (aiosmtpd) and a Graph API receiver that answers as Meta
documents (and can fail on purpose)."""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

PORTS = range(18800, 18900)  # this helper's range


def free_port() -> int:
    for port in PORTS:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 18800-18899")


@dataclass
class Mailbox:
    """An SMTP server on 127.0.0.1 that keeps every message it accepts."""

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
        self.port = self.port or free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class Graph:
    """The Graph API send endpoints: records each call, answers `{messages: [{id}]}` (WhatsApp) or `{recipient_id,
    message_id}` (Instagram); the first `fail_first` calls get `fail_status`."""

    fail_first: int = 0
    fail_status: int = 500
    calls: list[Call] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def base(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/v21.0"

    def _answer(self, call: Call) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.calls.append(call)
            n = len(self.calls)
        if n <= self.fail_first:
            return self.fail_status, {"error": {"message": "(#131000) Something went wrong", "type": "OAuthException",
                                                "code": 131000}}
        if "messaging_product" in call.body:
            return 200, {"messaging_product": "whatsapp", "contacts": [{"input": call.body["to"],
                                                                         "wa_id": call.body["to"]}],
                         "messages": [{"id": f"wamid.OUT{n}"}]}
        return 200, {"recipient_id": call.body["recipient"]["id"], "message_id": f"mid.OUT{n}"}

    def start(self) -> Graph:
        graph = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                call = Call("POST", self.path, headers, json.loads(raw or b"{}"))
                status, body = graph._answer(call)
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *_: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
