from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from tests.integration.service.outlets import Graph, Mailbox

from omnihub.app import create_app
from omnihub.config import Settings
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.worker import Worker


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox().start()
    yield box
    box.stop()


@pytest.fixture
def graph() -> Iterator[Graph]:
    receiver = Graph().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def desk_settings(settings: Settings, mailbox: Mailbox) -> Settings:
    return settings.model_copy(update={"smtp_url": mailbox.url, "support_email": "support@tienda.es",
                                       "service_send_backoff_seconds": 30.0, "service_send_max_attempts": 3,
                                       "outbound_allow": "127.0.0.1"})  # the local Graph receiver


@pytest.fixture
def desk(desk_settings: Settings, db: Database, clock: ManualClock, admin_key: str) -> Iterator[TestClient]:
    """An admin client of a hub with SMTP configured (the local mailbox)."""
    app = create_app(desk_settings, db=db, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {admin_key}"
        yield client


@pytest.fixture
def worker(desk_settings: Settings, db: Database, clock: ManualClock) -> Iterator[Worker]:
    w = Worker(desk_settings, db, clock, handlers=[])
    yield w
    w.close()
