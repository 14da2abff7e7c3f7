"""Kill the worker process in the middle of a batch and restart it: every event still reaches the receiver."""

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from tests.builders import ok, product
from tests.conftest import SECRET, TEST_RECEIVERS
from tests.webhook_receiver import Receiver

from omnihub.connectors.webhooks import queries
from omnihub.core.db import Database
from omnihub.core.events import recent_events

EVENTS = 240
LATE_EVENTS = 40


@contextmanager
def worker_process(db_url: str) -> Iterator[subprocess.Popen[bytes]]:
    env = {**os.environ, "OMNIHUB_DATABASE_URL": db_url, "OMNIHUB_SECRET_KEY": SECRET,
           "OMNIHUB_WORKER_POLL_SECONDS": "0.05", "OMNIHUB_WEBHOOK_TIMEOUT_SECONDS": "5",
           "OMNIHUB_OUTBOUND_ALLOW": TEST_RECEIVERS}
    proc = subprocess.Popen(
        [sys.executable, "-m", "omnihub.worker", "--concurrency", "8", "--batch-size", "40",
         "--lease-seconds", "3", "--log-level", "WARNING"],
        env=env,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def product_event_ids(db: Database) -> set[str]:
    with db.read() as conn:
        return {e.id for e in recent_events(conn, type_="product.created", limit=10_000)}


def all_delivered(db: Database, webhook_id: str) -> bool:
    with db.read() as conn:
        counts = queries.delivery_counts(conn, webhook_id)
    return counts["pending"] == 0 and counts["dead"] == 0 and counts["delivered"] == EVENTS + LATE_EVENTS


@pytest.mark.slow
def test_killed_worker_loses_nothing_after_restart(
    admin: TestClient, db: Database, db_url: str, receiver: Callable[..., Receiver]
) -> None:
    rx = receiver(delay=0.03)  # slow enough that a batch is still being sent when the worker dies
    hook = ok(admin.post("/api/v1/webhooks", json={"url": rx.url, "events": ["product.created"]}), 201)
    for i in range(EVENTS):
        product(admin, f"SKU-{i:04d}")

    with worker_process(db_url) as first:
        started = rx.wait_for(lambda r: r.count() >= 40)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    received_before_restart = len(rx.event_ids())
    with db.read() as conn:
        in_log_after_kill = queries.delivery_counts(conn, hook["id"])

    with worker_process(db_url) as second:
        for i in range(LATE_EVENTS):  # new events while the restarted worker runs are not lost either
            product(admin, f"LATE-{i:04d}")
        expected = product_event_ids(db)
        # The killed batch may have reached the receiver without being recorded: those rows stay leased
        # until the lease runs out, then are sent again (at least once). Wait for the log to settle too.
        everything = rx.wait_for(lambda r: expected <= r.event_ids() and all_delivered(db, hook["id"]),
                                 timeout=120)
        second.send_signal(signal.SIGTERM)
        exit_code = second.wait(timeout=30)

    assert started
    assert first.returncode == -signal.SIGKILL
    assert received_before_restart < EVENTS  # it really died in the middle
    assert in_log_after_kill["delivered"] < EVENTS
    assert len(expected) == EVENTS + LATE_EVENTS
    assert everything, f"missing {len(expected - rx.event_ids())} of {len(expected)} events"
    assert rx.event_ids() == expected
    assert exit_code == 0  # SIGTERM stops it cleanly
    with db.read() as conn:
        assert queries.delivery_counts(conn, hook["id"]) == {"pending": 0, "delivered": EVENTS + LATE_EVENTS,
                                                             "dead": 0}


def stream_caught_up(db: Database, webhook_id: str) -> bool:
    with db.read() as conn:
        stream = queries.get_webhook(conn, webhook_id)["stream"]
    return stream is not None and stream["behind"] == 0 and stream["attempts"] == 0


@pytest.mark.slow
def test_killed_worker_loses_nothing_from_a_batching_webhooks_stream_after_restart(
    admin: TestClient, db: Database, db_url: str, receiver: Callable[..., Receiver]
) -> None:
    rx = receiver(delay=0.2)  # a batch is in flight when the worker dies
    hook = ok(admin.post("/api/v1/webhooks", json={"url": rx.url, "events": ["product.created"],
                                                   "batch_size": 20}), 201)
    for i in range(EVENTS):
        product(admin, f"SKU-{i:04d}")

    with worker_process(db_url) as first:
        started = rx.wait_for(lambda r: r.count() >= 2)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    received_before_restart = len(rx.event_ids())

    with worker_process(db_url) as second:
        for i in range(LATE_EVENTS):
            product(admin, f"LATE-{i:04d}")
        expected = product_event_ids(db)
        # A batch sent but not recorded stays leased until the lease runs out, then goes again (at least once).
        everything = rx.wait_for(lambda r: expected <= r.event_ids() and stream_caught_up(db, hook["id"]),
                                 timeout=120)
        second.send_signal(signal.SIGTERM)
        exit_code = second.wait(timeout=30)

    arrival = [e["data"]["sku"] for r in rx.requests for e in r.envelopes]
    first_seen = list(dict.fromkeys(arrival))
    assert started
    assert received_before_restart < EVENTS  # it really died in the middle
    assert len(expected) == EVENTS + LATE_EVENTS
    assert everything, f"missing {len(expected - rx.event_ids())} of {len(expected)} events"
    assert rx.event_ids() == expected
    # a stream keeps the order they happened in, across the crash too (a repeat only ever re-sends a batch)
    assert first_seen == [f"SKU-{i:04d}" for i in range(EVENTS)] + [f"LATE-{i:04d}" for i in range(LATE_EVENTS)]
    assert exit_code == 0
    with db.read() as conn:
        assert queries.delivery_counts(conn, hook["id"])["dead"] == 0
