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
