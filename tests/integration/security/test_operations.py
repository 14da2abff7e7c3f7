"""Operations: a server that keeps its connections through errors, and says plainly when the database is gone."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.builders import problem
from tests.conftest import SECRET

from omnihub.app import create_app
from omnihub.config import DEV_SECRET_KEY, Settings
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.worker import DatabaseWatch, WorkerStats, run_worker

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
    """No Content-Length (chunked): the limit counts the bytes as they arrive — whether the idempotency
    middleware (a keyed request) or the route's own body parsing (no key) is reading them."""
    app = create_app(settings.model_copy(update={"max_body_bytes": 2048}), db=db, clock=clock)
    chunk = b"x" * 1000
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(5)) + b"0\r\n\r\n"
    with serving(app) as port:
        for key in (b"Idempotency-Key: big-1\r\n", b""):
            head = (b"POST /api/v1/products HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                    + key + b"Transfer-Encoding: chunked\r\n\r\n")
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
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


def test_the_worker_backs_off_and_says_once_that_the_database_is_gone(
        clock: ManualClock, caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(database_url=UNREACHABLE_PG, secret_key=SECRET, worker_poll_seconds=0.005)
    stop = threading.Event()

    def progress(stats: WorkerStats) -> None:
        if stats.errors >= 4:
            stop.set()

    caplog.set_level(logging.INFO, logger="omnihub")
    stats = run_worker(settings, clock=clock, stop=stop, progress=progress)

    assert stats.errors >= 4
    said = [r for r in caplog.records if "database unavailable" in r.getMessage()]
    assert len(said) == 1, [r.getMessage() for r in said]
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []


def test_the_watch_logs_each_change_of_state_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="omnihub.worker")
    watch = DatabaseWatch(base_wait=1.0)
    gone = sa.exc.OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))
    waits = [watch.failed(gone) for _ in range(3)]
    assert waits == [1.0, 2.0, 4.0]
    assert watch.failed(ValueError("a bug")) is None  # not the database: the caller logs it in full
    watch.succeeded()
    watch.succeeded()
    assert watch.failed(gone) == 1.0  # backoff starts over after a recovery
    messages = [r.getMessage() for r in caplog.records]
    assert sum("database unavailable" in m for m in messages) == 2
    assert sum("reachable again" in m for m in messages) == 1


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OMNIHUB_")}
    return subprocess.run([sys.executable, *args], env={**environment, **env}, capture_output=True, text=True,
                          timeout=120)


def test_cli_commands_say_in_one_line_that_the_database_is_gone() -> None:
    done = _cli("-m", "omnihub.cli", "apikey", "list", OMNIHUB_DATABASE_URL=UNREACHABLE_PG,
                OMNIHUB_SECRET_KEY=SECRET)
    assert done.returncode == 3
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "database unavailable" in lines[0], done.stderr


@pytest.mark.parametrize("command", [["-m", "omnihub.cli", "serve", "--port", "18599"],
                                     ["-m", "omnihub.cli", "worker", "--once"],
                                     ["-m", "omnihub.worker", "--once"]])
def test_serve_and_worker_refuse_the_default_secret(command: list[str], tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'never.db'}"
    for secret in ({}, {"OMNIHUB_SECRET_KEY": DEV_SECRET_KEY}):
        done = _cli(*command, OMNIHUB_DATABASE_URL=url, **secret)
        assert done.returncode != 0
        assert "secrets.token_urlsafe(48)" in done.stderr
        assert not (tmp_path / "never.db").exists()  # refused before touching anything


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_write_that_waits_out_a_held_sqlite_file_is_a_503_with_nothing_changed(
        admin: TestClient, db: Database, db_url: str) -> None:
    """Another process holds the file's write lock past the busy timeout (here 0.2 s, 30 s by default) and the
    retries: the client is told to come back (503 database_busy, Retry-After), never a 500; nothing changed."""
    import sqlite3

    from sqlalchemy import event

    db.engine.dispose()

    @event.listens_for(db.engine, "connect")
    def _short_wait(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.execute("PRAGMA busy_timeout=200")

    holder = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        answer = admin.post("/api/v1/products", json={"sku": "WAITED", "name": "Waited", "category": "c"})
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    body = problem(answer, 503, "database_busy")
    assert answer.headers["retry-after"] and "nothing was changed" in body["detail"]
    assert admin.get("/api/v1/products/WAITED").status_code == 404
    assert admin.post("/api/v1/products", json={"sku": "WAITED", "name": "Waited", "category": "c"}
                      ).status_code == 201  # the file free again: the same write goes through
