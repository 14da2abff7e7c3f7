"""Operations: a server that keeps its connections through errors, and says plainly when the database is gone."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.builders import problem
from tests.conftest import SECRET

from omnihub.app import create_app
from omnihub.config import Settings
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database

# Refused at once: nothing listens on port 1.
UNREACHABLE_PG = "postgresql://postgres@127.0.0.1:1/omnihub"
PORTS = range(18500, 18600)  # this suite's own range on the shared development box


def _port() -> int:
    for port in PORTS:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 18500-18599")


@contextmanager
def serving(app: FastAPI) -> Iterator[int]:
    port = _port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def exchange(sock: socket.socket, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send one HTTP/1.1 request on an open connection and read one whole response (Content-Length framed)."""
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before a response")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed mid-body")
        rest += chunk
    return status, headers, rest[:length]


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode()


def test_an_unexpected_error_is_a_500_problem_and_the_connection_stays_open(
        settings: Settings, db: Database, clock: ManualClock) -> None:
    app = create_app(settings, db=db, clock=clock)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("a bug")

    with serving(app) as port, socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        status, headers, body = exchange(sock, get("/boom"))
        assert status == 500
        assert headers["content-type"] == "application/problem+json"
        assert json.loads(body)["code"] == "internal_error"
        assert "a bug" not in body.decode()
        # the same connection serves the next request
        status, _, body = exchange(sock, get("/healthz"))
        assert status == 200
        assert json.loads(body)["status"] == "ok"


def test_a_streamed_body_past_the_limit_is_413(settings: Settings, db: Database, clock: ManualClock) -> None:
    """No Content-Length (chunked): the limit counts the bytes as they arrive."""
    app = create_app(settings.model_copy(update={"max_body_bytes": 2048}), db=db, clock=clock)
    with serving(app) as port, socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        head = (b"POST /api/v1/products HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                b"Idempotency-Key: big-1\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"x" * 1000
        body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(5)) + b"0\r\n\r\n"
        status, headers, answer = exchange(sock, head + body)
        assert status == 413
        assert headers["content-type"] == "application/problem+json"
        assert json.loads(answer)["code"] == "request_too_large"


@pytest.fixture
def no_database(clock: ManualClock) -> Iterator[TestClient]:
    settings = Settings(database_url=UNREACHABLE_PG, secret_key=SECRET, api_key_cache_seconds=0)
    db = Database(settings.database_url, pool_size=2)
    with TestClient(create_app(settings, db=db, clock=clock), raise_server_exceptions=False) as client:
        yield client
    db.dispose()


def test_liveness_and_readiness_are_apart(no_database: TestClient, client: TestClient) -> None:
    assert no_database.get("/healthz").status_code == 200
    answer = problem(no_database.get("/readyz"), 503, "database_unavailable")
    assert answer["status"] == 503
    assert client.get("/readyz").json()["status"] == "ready"


def test_api_calls_answer_503_with_retry_after_when_the_database_is_gone(no_database: TestClient) -> None:
    for response in (
        no_database.get("/api/v1/products", headers={"Authorization": "Bearer ohk_whatever"}),
        no_database.post("/api/v1/products", json={"sku": "A", "name": "A", "category": "c"},
                         headers={"Authorization": "Bearer ohk_whatever", "Idempotency-Key": "k-1"}),
    ):
        problem(response, 503, "database_unavailable")
        assert response.headers["retry-after"].isdigit()
