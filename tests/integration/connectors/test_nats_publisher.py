"""Events reach NATS JetStream as `omnihub.<type>` with Nats-Msg-Id dedup (against the real local server).

Skipped with a reason when no NATS answers, unless OMNIHUB_TEST_REQUIRE_NATS=1, where that is a failure.
"""

import asyncio
import json
import os
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import nats
import pytest
from fastapi.testclient import TestClient
from nats.js.api import ConsumerConfig, DeliverPolicy
from tests.builders import product

from omnihub.connectors.nats.publisher import STREAM, NatsPublisher, NatsUnavailable, subject_for
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.core.events import dispatch_pending, recent_events

NATS_URL = os.environ.get("OMNIHUB_TEST_NATS_URL", "nats://127.0.0.1:4222")
REQUIRE_NATS = os.environ.get("OMNIHUB_TEST_REQUIRE_NATS") == "1"


def _nats_problem() -> str | None:
    parts = urlsplit(NATS_URL)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 4222), timeout=2):
            return None
    except OSError as exc:
        return f"NATS not reachable at {NATS_URL}: {exc}"


@pytest.fixture
def nats_url() -> str:
    problem = _nats_problem()
    if problem:
        if REQUIRE_NATS:
            pytest.fail(problem)
        pytest.skip(problem)
    return NATS_URL


def read_back(since: datetime, subject: str, wanted: set[str]) -> list[tuple[str, str, dict[str, Any]]]:
    """(subject, Nats-Msg-Id, envelope) of every message on `subject` stored since `since`."""

    async def fetch() -> list[tuple[str, str, dict[str, Any]]]:
        nc = await nats.connect(NATS_URL)
        try:
            js = nc.jetstream()
            sub = await js.pull_subscribe(
                subject, stream=STREAM,
                config=ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_TIME,
                                      opt_start_time=since.isoformat().replace("+00:00", "Z"),
                                      inactive_threshold=30.0),
            )
            seen: list[tuple[str, str, dict[str, Any]]] = []
            while {m[1] for m in seen} < wanted:
                try:
                    batch = await sub.fetch(100, timeout=3)
                except nats.errors.TimeoutError:
                    break
                for msg in batch:
                    seen.append((msg.subject, (msg.headers or {}).get("Nats-Msg-Id", ""), json.loads(msg.data)))
                    await msg.ack()
            await sub.unsubscribe()
            return seen
        finally:
            await nc.close()

    return asyncio.run(fetch())


def test_events_are_published_to_jetstream_once_each(
    admin: TestClient, db: Database, clock: ManualClock, nats_url: str, work: Callable[..., Any]
) -> None:
    since = datetime.now(UTC)
    for i in range(3):
        product(admin, f"SKU-{i}")
    with db.read() as conn:
        events = recent_events(conn, type_="product.created")
    ids = {e.id for e in events}

    work(nats_url=nats_url)  # the real worker, with NATS configured
    publisher = NatsPublisher(nats_url)
    try:
        with db.read() as conn:
            publisher.handle(conn, events)  # a redelivery of the same events
    finally:
        publisher.close()
    messages = [m for m in read_back(since, subject_for("product.created"), ids) if m[1] in ids]

    assert sorted(m[1] for m in messages) == sorted(ids)  # each exactly once: the redelivery was dropped
    assert publisher.duplicates == len(ids)
    assert {m[0] for m in messages} == {"omnihub.product.created"}
    by_id = {m[1]: m[2] for m in messages}
    for event in events:
        assert by_id[event.id] == {"id": event.id, "type": "product.created",
                                   "occurred_at": event.occurred_at.isoformat(), "data": event.data}


def test_unreachable_nats_leaves_events_in_the_outbox(
    admin: TestClient, db: Database, clock: ManualClock
) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    product(admin, "SKU-1")
    publisher = NatsPublisher(f"nats://127.0.0.1:{port}", timeout_seconds=1)

    try:
        with pytest.raises(NatsUnavailable), db.transaction() as conn:
            dispatch_pending(conn, clock, [publisher])
    finally:
        publisher.close()

    with db.transaction() as conn:
        retried = dispatch_pending(conn, clock, [])
    assert retried == 1  # still pending: nothing was marked dispatched
