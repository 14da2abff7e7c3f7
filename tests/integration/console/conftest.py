"""Console fixtures: people with roles, and a logged-in test client per person."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from omnihub.app import create_app
from omnihub.config import Settings
from omnihub.console import service
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def make_user(db: Database, clock: ManualClock, role: str, *, location: str | None = None,
              email: str | None = None) -> tuple[str, str]:
    email = email or f"{role}-{location or 'hq'}@shop.es"
    with db.transaction() as conn:
        user, password = service.create_user(conn, clock, email=email, role=role, location=location)
    return user["email"], password


def login(client: TestClient, email: str, password: str, **headers: str) -> TestClient:
    page = client.get("/login", headers=headers)
    answer = client.post("/login", data={"email": email, "password": password, "csrf_token": csrf_of(page.text)},
                         headers=headers, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return client


@pytest.fixture
def browser_for(settings: Settings, db: Database, clock: ManualClock) -> Callable[..., TestClient]:
    """A fresh client (its own cookie jar) per call, closed at the end of the test."""
    clients: list[TestClient] = []
    app = create_app(settings, db=db, clock=clock)

    def make() -> TestClient:
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def shop(admin: TestClient) -> TestClient:
    """Two stores and a warehouse; web and app channels in EUR; a tee with stock at every place."""
    from tests.builders import channel, location, ok, product, stock

    location(admin, "wh", kind="warehouse", lat=40.35, lon=-3.70, pickup=False, name="Getafe DC")
    location(admin, "sol", lat=40.4168, lon=-3.7038, name="Madrid Sol")
    location(admin, "bcn", lat=41.3874, lon=2.1686, name="Barcelona Gracia")
    product(admin, "TEE-M", category="apparel", name="Organic Tee M")
    for code in ("web", "app"):
        channel(admin, code, kind=code, locations=["wh", "sol", "bcn"])
        ok(admin.put(f"/api/v1/channels/{code}/prices", json=[{"sku": "TEE-M", "amount": "20.00"}]))
    stock(admin, "wh", "TEE-M", 20)
    stock(admin, "sol", "TEE-M", 5, safety_stock=4)
    stock(admin, "bcn", "TEE-M", 5)
    return admin


def pickup_order(api: TestClient, store: str, email: str = "ana@correo.es", phone: str = "+34 600 111 222") -> dict:
    from tests.builders import ok

    return ok(api.post("/api/v1/orders", json={
        "channel": "web", "customer": {"email": email, "phone": phone},
        "lines": [{"sku": "TEE-M", "quantity": 1}], "fulfilment": {"type": "pickup", "location": store},
        "payments": [{"method": "card", "amount": "20.00"}]}), 201)
