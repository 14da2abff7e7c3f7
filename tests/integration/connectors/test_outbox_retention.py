"""Outbox retention: the worker purges old dispatched events, never undispatched ones nor what a stream owes."""

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.builders import ok, product
from tests.webhook_receiver import Receiver

from omnihub.config import Settings
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.core.events import recent_events
from omnihub.worker import Worker


def skus_in_outbox(db: Database) -> list[str]:
    with db.read() as conn:
        return sorted(e.data["sku"] for e in recent_events(conn, type_="product.created", limit=1000))


def test_old_events_are_purged_except_undispatched_ones_and_what_a_lagging_stream_still_owes(
    admin: TestClient, receiver: Callable[..., Receiver], work: Callable[..., Any], settings: Settings,
    db: Database, clock: ManualClock
) -> None:
    product(admin, "ANCIENT-1")
    work()  # dispatched before any stream existed
    healthy, down = receiver(), receiver(status=503)
    ok(admin.post("/api/v1/webhooks", json={"url": healthy.url, "events": ["product.created"], "batch_size": 10}),
       201)
    lagging = ok(admin.post("/api/v1/webhooks", json={"url": down.url, "events": ["product.created"],
                                                      "batch_size": 10}), 201)
    product(admin, "OLD-1")
    product(admin, "OLD-2")
    work()  # the healthy stream sends them; the lagging one keeps failing and holds its cursor before them
    clock.advance(days=8)
    product(admin, "NEW-1")  # not dispatched yet
    worker = Worker(settings, db, clock, handlers=[])
    try:
        first = worker.purge_outbox(force=True)
        after_first = skus_in_outbox(db)
        ok(admin.delete(f"/api/v1/webhooks/{lagging['id']}"))  # a deactivated webhook holds nothing back
        second = worker.purge_outbox(force=True)
        after_second = skus_in_outbox(db)
        forever = Worker(settings.model_copy(update={"outbox_retention_days": 0}), db, clock, handlers=[])
        clock.advance(days=30)
        kept_forever = forever.purge_outbox(force=True)
        forever.close()
    finally:
        worker.close()

    assert first >= 1  # ANCIENT-1's event (and the set-up's other old events)
    assert after_first == ["NEW-1", "OLD-1", "OLD-2"]
    assert second >= 2
    assert after_second == ["NEW-1"]  # undispatched: never purged, whatever its age
    assert kept_forever == 0
    assert [e["data"]["sku"] for r in healthy.requests for e in r.envelopes] == ["OLD-1", "OLD-2"]


def test_the_purge_runs_once_per_period_not_every_step(
    admin: TestClient, work: Callable[..., Any], settings: Settings, db: Database, clock: ManualClock
) -> None:
    product(admin, "A-1")
    work()
    minute_retention = settings.model_copy(update={"outbox_retention_days": 1 / 1440,
                                                   "outbox_purge_every_seconds": 3600})
    worker = Worker(minute_retention, db, clock, handlers=[])
    try:
        at_start = worker.purge_outbox()  # due (never ran), but nothing is a minute old yet
        clock.advance(minutes=5)
        not_due = worker.purge_outbox()  # old enough now, but the last purge was 5 minutes ago
        clock.advance(hours=1)
        due = worker.purge_outbox()
    finally:
        worker.close()

    assert at_start == 0
    assert not_due == 0
    assert due >= 1
    assert skus_in_outbox(db) == []


def test_a_purge_racing_a_replay_keeps_what_the_rewound_stream_must_send_again(
    admin: TestClient, receiver: Callable[..., Receiver], work: Callable[..., Any], settings: Settings,
    db: Database, clock: ManualClock, db_url: str
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite runs one writer at a time: a purge cannot overlap a replay there")
    import threading

    from omnihub.connectors.webhooks import service as webhooks

    rx = receiver()
    hook = ok(admin.post("/api/v1/webhooks", json={"url": rx.url, "events": ["product.created"],
                                                   "batch_size": 10}), 201)
    since = clock.now()
    product(admin, "OLD-1")
    product(admin, "OLD-2")
    work()  # sent: the stream's cursor is past both, so a purge may take them once they are old
    clock.advance(days=8)
    worker = Worker(settings, db, clock, handlers=[])
    purged: list[int] = []
    try:
        with db.transaction() as conn:  # a replay, not yet committed, rewinds the stream before both events
            webhooks.replay(conn, clock, hook["id"], since)
            purge = threading.Thread(target=lambda: purged.append(worker.purge_outbox(force=True)))
            purge.start()
            purge.join(timeout=1)  # it waits for the replay's lock (without it, it would delete both now)
        purge.join()
        kept = skus_in_outbox(db)
    finally:
        worker.close()
    work()  # the stream sends them again (after which they may go)

    assert purged == [0] and kept == ["OLD-1", "OLD-2"]
    assert [e["data"]["sku"] for r in rx.requests for e in r.envelopes] == ["OLD-1", "OLD-2", "OLD-1", "OLD-2"]


def test_the_delivery_log_forgets_what_arrived_after_its_retention_and_keeps_dead_ones(
    admin: TestClient, receiver: Callable[..., Receiver], work: Callable[..., Any], clock: ManualClock
) -> None:
    healthy, down = receiver(), receiver(status=503)
    arrived = ok(admin.post("/api/v1/webhooks", json={"url": healthy.url, "events": ["product.created"]}), 201)
    failing = ok(admin.post("/api/v1/webhooks", json={"url": down.url, "events": ["product.created"]}), 201)
    product(admin, "OLD-1")
    for _ in range(12):  # the failing one runs out of attempts: dead
        work()
        clock.advance(hours=12)
    product(admin, "RECENT-1")
    work()

    def log(webhook: dict[str, Any]) -> list[tuple[str, str]]:
        items = ok(admin.get(f"/api/v1/webhooks/{webhook['id']}/deliveries"))["items"]
        return sorted((i["status"], i["event_type"]) for i in items)

    assert [d["status"] for d in ok(admin.get(f"/api/v1/webhooks/{failing['id']}/deliveries"))["items"]].count(
        "dead") == 1
    before = len(ok(admin.get(f"/api/v1/webhooks/{arrived['id']}/deliveries"))["items"])
    clock.advance(days=25)  # OLD-1 arrived ~31 days ago, RECENT-1 25 days ago
    work(webhook_delivery_retention_days=0)  # 0 keeps everything
    assert len(ok(admin.get(f"/api/v1/webhooks/{arrived['id']}/deliveries"))["items"]) == before == 2
    work()  # the default: 30 days
    kept = ok(admin.get(f"/api/v1/webhooks/{arrived['id']}/deliveries"))["items"]
    assert [k["status"] for k in kept] == ["delivered"] and len(kept) == 1  # RECENT-1's
    assert log(failing)[0][0] == "dead"  # dead ones stay, whatever their age
