"""Fault test on PostgreSQL: keyed writes of four kinds from 8 threads against a real `omnihub serve` process,
the server killed (-9) twice and the worker twice under that load, every unanswered key retried until it is
answered. One effect per key, stock that reconciles, and every effect's event in the outbox, dispatched.

Against the middleware that answered before it recorded the key (and ignored keys on PUT), this fails: a
receipt (or consent) whose answer died with the server is carried out a second time by the retry."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from tests.conftest import SECRET, _truncate_all, make_key
from tests.servers import wait_until_up

from omnihub.core.clock import SystemClock
from omnihub.core.db import Database

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

THREADS = 8
KINDS = ("order", "receipt", "return", "consent")
DEADLINE_SECONDS = 240  # the whole test, load and retries: bounded (1 to 2 min on a quiet machine)
ANSWERED = {200, 201}


def port_in_our_range() -> int:
    """A free port in this project's test range for fault tests (18400-18499)."""
    for port in range(18440, 18500):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 18440-18499")


class Process:
    """A process we start, kill -9 and start again, always the same command."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.args, self.env = args, env
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def start(self) -> None:
        self.proc = subprocess.Popen(self.args, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def kill9(self) -> None:
        assert self.proc is not None and self.proc.poll() is None, "killed a process that was not running"
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.kills += 1

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@dataclass
class Client:
    """One thread's keyed writes, each retried until answered."""

    number: int
    url: str
    headers: dict[str, str]
    order_to_return: str
    customer: str
    answers: dict[str, tuple[str, int, dict[str, Any]]] = field(default_factory=dict)  # key -> kind, status, body
    interrupted: int = 0  # sends that got no answer (the server died, or was down)
    server_errors: Counter[str] = field(default_factory=Counter)  # 5xx answers by code (retried)
    lost: int = 0  # keys answered 409 idempotency_answer_lost
    error: str | None = None

    def request(self, kind: str, key: str, n: int) -> tuple[str, str, dict[str, Any]]:
        if kind == "order":
            return "POST", "/api/v1/orders", {
                "channel": "web", "lines": [{"sku": "MUG", "quantity": 1}],
                "fulfilment": {"type": "ship", "address": {"line1": "Calle Mayor 1", "city": "Madrid",
                                                          "postal_code": "28013", "country": "ES"}},
                "payments": [{"method": "card", "amount": "11.00"}]}
        if kind == "receipt":
            return "POST", "/api/v1/stock/movements", {"movements": [
                {"kind": "receipt", "location": "wh", "sku": "MUG", "quantity": 1, "reference": key}]}
        if kind == "return":
            return "POST", "/api/v1/returns", {"order": self.order_to_return, "lines": [{"sku": "MUG", "quantity": 1}],
                                               "location": "bcn", "condition": "resellable"}
        return "PUT", f"/api/v1/customers/{self.customer}/consents/email_marketing", {"granted": n % 2 == 0}

    def run(self, stop: threading.Event, deadline: float) -> None:
        try:
            with httpx.Client(base_url=self.url, headers=self.headers, timeout=15) as http:
                n = 0
                while not stop.is_set():
                    kind = KINDS[n % len(KINDS)]
                    key = f"t{self.number}-{n:05d}-{kind}"
                    method, path, body = self.request(kind, key, n)
                    self.answers[key] = (kind, *self.until_answered(http, method, path, body, key, deadline))
                    n += 1
        except Exception as exc:  # reported by the test, with the thread that saw it
            self.error = f"{type(exc).__name__}: {exc}"

    def until_answered(self, http: httpx.Client, method: str, path: str, body: dict[str, Any], key: str,
                       deadline: float) -> tuple[int, dict[str, Any]]:
        while time.monotonic() < deadline:
            try:
                response = http.request(method, path, json=body, headers={"Idempotency-Key": key})
            except httpx.HTTPError:
                self.interrupted += 1
                time.sleep(0.2)
                continue
            payload = response.json() if response.content else {}
            if response.status_code in ANSWERED:
                return response.status_code, payload
            if response.status_code == 409 and payload.get("code") == "idempotency_answer_lost":
                self.lost += 1
                return response.status_code, payload
            if response.status_code == 409 and payload.get("code") == "idempotency_request_in_progress":
                time.sleep(0.5)
                continue
            if response.status_code >= 500:  # a request cut off by the kill: retry it
                self.server_errors[f"{response.status_code} {payload.get('code')}"] += 1
                time.sleep(0.2)
                continue
            raise AssertionError(f"{key}: unexpected {response.status_code} {response.text[:300]}")
        raise AssertionError(f"{key}: still unanswered at the deadline")


@pytest.fixture
def pg_url(pg_database: str) -> Iterator[str]:
    _truncate_all(pg_database)
    yield pg_database


def setup_shop(http: httpx.Client) -> None:
    def ok(response: httpx.Response) -> Any:
        assert response.status_code in ANSWERED, response.text
        return response.json()

    ok(http.post("/api/v1/locations", json={"code": "wh", "name": "DC", "kind": "warehouse", "lat": 40.3,
                                            "lon": -3.7, "pickup": False}))
    ok(http.post("/api/v1/locations", json={"code": "bcn", "name": "Barcelona", "kind": "store", "lat": 41.39,
                                            "lon": 2.17}))
    ok(http.post("/api/v1/products", json={"sku": "MUG", "name": "Mug", "category": "home"}))
    ok(http.post("/api/v1/channels", json={"code": "web", "name": "Web", "kind": "web", "currency": "EUR",
                                           "country": "ES", "locations": ["wh"]}))
    ok(http.post("/api/v1/channels", json={"code": "store", "name": "Store", "kind": "store", "currency": "EUR",
                                           "country": "ES", "locations": ["bcn"]}))
    for code in ("web", "store"):
        ok(http.put(f"/api/v1/channels/{code}/prices", json=[{"sku": "MUG", "amount": "11.00"}]))
    ok(http.put("/api/v1/stock/wh/MUG", json={"on_hand": 100_000}))
    ok(http.put("/api/v1/stock/bcn/MUG", json={"on_hand": THREADS * 500}))


def counter_sale(http: httpx.Client) -> str:
    response = http.post("/api/v1/orders", json={
        "channel": "store", "lines": [{"sku": "MUG", "quantity": 500}],
        "fulfilment": {"type": "in_store", "location": "bcn"}, "payments": [{"method": "cash", "amount": "5500.00"}]})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def new_customer(http: httpx.Client, n: int) -> str:
    response = http.post("/api/v1/customers", json={"channel": "web",
                                                    "identities": {"email": f"fault-{n}@correo.es"}})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def effects(db: Database, customers: list[str], counter_orders: list[str]) -> dict[str, Any]:
    """What the database holds, per kind: the effects, and the events that tell of them."""
    with db.read() as conn:
        def rows(sql: str, **params: Any) -> list[Any]:
            return list(conn.execute(sa.text(sql), params))

        return {
            "orders": [r.id for r in rows("SELECT id FROM orders WHERE channel_code = 'web'")],
            "receipts": [r.reference for r in rows(
                "SELECT reference FROM stock_ledger WHERE kind = 'receipt' AND location_code = 'wh'")],
            "returns": [r.id for r in rows("SELECT id FROM returns")],
            "consents": len(rows("SELECT id FROM customer_consents WHERE customer_id = ANY(:c)", c=customers)),
            "order_events": [r.id for r in rows(
                "SELECT data->>'id' AS id FROM outbox WHERE type = 'order.created' AND data->>'channel' = 'web'")],
            "receipt_events": [r.reference for r in rows(
                "SELECT data->>'reference' AS reference FROM outbox WHERE type = 'stock.changed' "
                "AND data->>'kind' = 'receipt' AND data->>'location' = 'wh'")],
            "return_events": [r.id for r in rows(
                "SELECT data->>'id' AS id FROM outbox WHERE type = 'return.received'")],
            "consent_events": len(rows(
                "SELECT id FROM outbox WHERE type = 'customer.updated' AND data->>'customer_id' = ANY(:c) "
                "AND data->'changed' @> '[\"consents\"]'", c=customers)),
            "undispatched": len(rows("SELECT id FROM outbox WHERE dispatched_at IS NULL")),
            "returned_to_counter_orders": len(rows(
                "SELECT id FROM returns WHERE order_id = ANY(:o)", o=counter_orders)),
        }


def test_kill9_of_server_and_worker_under_keyed_load_makes_exactly_one_effect_per_key(pg_url: str) -> None:
    started = time.monotonic()
    deadline = started + DEADLINE_SECONDS
    db = Database(pg_url)
    admin = make_key(db, SystemClock(), "admin")  # type: ignore[arg-type]
    port = port_in_our_range()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "OMNIHUB_DATABASE_URL": pg_url, "OMNIHUB_SECRET_KEY": SECRET,
           "OMNIHUB_WORKER_POLL_SECONDS": "0.05"}
    server = Process([sys.executable, "-m", "omnihub.cli", "serve", "--port", str(port)], env)
    worker = Process([sys.executable, "-m", "omnihub.worker", "--log-level", "ERROR"], env)
    headers = {"Authorization": f"Bearer {admin}"}
    server.start()
    worker.start()
    try:
        wait_until_up(url, timeout=60)
        with httpx.Client(base_url=url, headers=headers, timeout=30) as http:
            setup_shop(http)
            counter_orders = [counter_sale(http) for _ in range(THREADS)]
            customers = [new_customer(http, n) for n in range(THREADS)]
        clients = [Client(n, url, headers, counter_orders[n], customers[n]) for n in range(THREADS)]
        stop = threading.Event()
        threads = [threading.Thread(target=c.run, args=(stop, deadline), daemon=True) for c in clients]
        for thread in threads:
            thread.start()

        # kill -9 under load: the server, the worker, the server, the worker — each started again at once
        for victim in (server, worker, server, worker):
            time.sleep(4)
            victim.kill9()
            victim.start()
            if victim is server:
                wait_until_up(url, timeout=60)
        time.sleep(3)
        stop.set()  # no new keys; every thread still retries its last one until it is answered
        for thread in threads:
            thread.join(timeout=max(1.0, deadline - time.monotonic()))
        assert not any(t.is_alive() for t in threads), "a thread was still retrying at the deadline"
        assert [c.error for c in clients if c.error] == []

        while True:  # the (restarted) worker dispatches everything that was written
            found = effects(db, customers, counter_orders)
            if found["undispatched"] == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        check = subprocess.run([sys.executable, "-m", "omnihub.cli", "inventory", "check"], env=env,
                               capture_output=True, text=True, timeout=60)
    finally:
        server.stop()
        worker.stop()
        db.dispose()

    answers = {key: a for c in clients for key, a in c.answers.items()}
    keys = {kind: {k for k, a in answers.items() if a[0] == kind} for kind in KINDS}
    answered_orders = {a[2]["id"] for a in answers.values() if a[0] == "order" and a[1] in ANSWERED}

    assert server.kills == 2 and worker.kills == 2
    assert sum(c.interrupted for c in clients) >= 2, "the server kills hit no request in flight"
    assert all(len(keys[kind]) >= 5 for kind in KINDS), {kind: len(k) for kind, k in keys.items()}
    # one effect per key, of every kind
    assert len(found["orders"]) == len(keys["order"])
    assert answered_orders <= set(found["orders"])
    assert Counter(found["receipts"]) == Counter(keys["receipt"])
    assert len(found["returns"]) == found["returned_to_counter_orders"] == len(keys["return"])
    assert found["consents"] == len(keys["consent"])
    # no event lost: each effect's event is in the outbox, and everything was dispatched
    assert sorted(found["order_events"]) == sorted(found["orders"])
    assert Counter(found["receipt_events"]) == Counter(keys["receipt"])
    assert sorted(found["return_events"]) == sorted(found["returns"])
    assert found["consent_events"] == len(keys["consent"])
    assert found["undispatched"] == 0
    assert check.returncode == 0, check.stdout + check.stderr
    assert "No drift" in check.stdout + check.stderr
    print(f"\n{len(answers)} keys ({ {k: len(v) for k, v in keys.items()} }), "
          f"{sum(c.interrupted for c in clients)} sends cut off, "
          f"5xx retried: {dict(sum((c.server_errors for c in clients), Counter()))}, "
          f"{sum(c.lost for c in clients)} answers lost, "
          f"{time.monotonic() - started:.0f} s")
