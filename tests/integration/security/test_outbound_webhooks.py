"""Webhook URLs cannot be turned against the hub's network (SSRF), nor carry credentials, and the delivery log
keeps only a short excerpt of what answered."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.builders import ok, problem, product
from tests.webhook_receiver import Receiver

from omnihub.app import create_app
from omnihub.config import Settings
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.worker import run_worker


@pytest.fixture
def closed_network(settings: Settings, db: Database, clock: ManualClock, admin_key: str) -> Iterator[TestClient]:
    """The API as deployed by default: no private receivers allowed."""
    app = create_app(settings.model_copy(update={"outbound_allow": ""}), db=db, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as api:
        api.headers["Authorization"] = f"Bearer {admin_key}"
        yield api


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/hook", "http://localhost/hook", "http://[::1]/hook",
                                 "http://169.254.169.254/latest/meta-data/", "http://10.0.0.7/hook",
                                 "https://192.168.1.1/hook"])
def test_private_targets_are_refused_when_subscribing(closed_network: TestClient, url: str) -> None:
    answer = problem(closed_network.post("/api/v1/webhooks", json={"url": url, "events": ["*"]}), 422,
                     "webhook_url_not_allowed")
    assert answer["field"] == "url"
    assert ok(closed_network.get("/api/v1/webhooks"))["items"] == []


def test_changing_the_url_to_a_private_target_is_refused(closed_network: TestClient) -> None:
    hook = ok(closed_network.post("/api/v1/webhooks", json={"url": "https://93.184.216.34/hook",
                                                            "events": ["*"]}), 201)
    problem(closed_network.patch(f"/api/v1/webhooks/{hook['id']}", json={"url": "http://127.0.0.1/x"}), 422,
            "webhook_url_not_allowed")
    assert ok(closed_network.get(f"/api/v1/webhooks/{hook['id']}"))["url"] == "https://93.184.216.34/hook"


def test_credentials_in_a_url_are_refused_and_never_echoed(admin: TestClient) -> None:
    response = admin.post("/api/v1/webhooks", json={"url": "https://shop:hunter2-secret@93.184.216.34/hook",
                                                    "events": ["*"]})
    answer = problem(response, 422, "invalid_webhook_url")
    assert answer["field"] == "url"
    assert "hunter2" not in response.text
    assert ok(admin.get("/api/v1/webhooks"))["items"] == []


def test_a_target_that_turns_private_is_not_reached_at_send_time(
        admin: TestClient, settings: Settings, db: Database, clock: ManualClock) -> None:
    """Subscribed while allowed (by name), sent after the allow-list closed: the worker resolves the name,
    finds a loopback address and never connects. The log says why."""
    receiver = Receiver().start()
    try:
        url = receiver.url.replace("127.0.0.1", "localhost")
        hook = ok(admin.post("/api/v1/webhooks", json={"url": url, "events": ["product.created"]}), 201)
        product(admin, "TEE")
        run_worker(settings.model_copy(update={"outbound_allow": ""}), clock=clock, once=True, db=db)
        assert receiver.count() == 0
        [delivery] = ok(admin.get(f"/api/v1/webhooks/{hook['id']}/deliveries"))["items"]
        assert delivery["status"] == "pending" and delivery["attempts"] == 1
        assert "OutboundRefused" in delivery["last_error"] and "loopback" in delivery["last_error"]
        # allowed again, the same delivery goes out on its retry
        clock.advance(hours=1)
        run_worker(settings, clock=clock, once=True, db=db)
        assert receiver.count() == 1
    finally:
        receiver.stop()


class _Chatty(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    body = b"internal-detail " * 4000  # 64 KB of what a foreign server had to say

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(502)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *_: Any) -> None:
        pass


def test_the_delivery_log_keeps_only_an_excerpt_of_a_foreign_answer(
        admin: TestClient, settings: Settings, db: Database, clock: ManualClock) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Chatty)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        port = server.server_address[1]
        hook = ok(admin.post("/api/v1/webhooks", json={"url": f"http://127.0.0.1:{port}/hook",
                                                       "events": ["product.created"]}), 201)
        product(admin, "TEE")
        run_worker(settings, clock=clock, once=True, db=db)
        [delivery] = ok(admin.get(f"/api/v1/webhooks/{hook['id']}/deliveries"))["items"]
        assert delivery["last_status_code"] == 502
        assert delivery["last_error"].startswith("HTTP 502: internal-detail")
        assert len(delivery["last_error"]) <= 220
    finally:
        server.shutdown()
        server.server_close()
