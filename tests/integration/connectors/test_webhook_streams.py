"""Batching webhooks end to end: a cursor over the outbox, real HTTP receivers, retries, dead letters, switches."""

import json
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi.testclient import TestClient
from tests.builders import channel, location, ok, problem, product
from tests.webhook_receiver import Receiver

from omnihub.config import Settings
from omnihub.connectors.webhooks import service
from omnihub.connectors.webhooks.service import BatchResult
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.core.events import dispatch_pending, emit
from omnihub.worker import WorkerStats, default_handlers, run_worker


def subscribe(api: TestClient, url: str, events: list[str], **extra: Any) -> dict[str, Any]:
    return ok(api.post("/api/v1/webhooks", json={"url": url, "events": events, **extra}), 201)


def webhook(api: TestClient, hook: dict[str, Any]) -> dict[str, Any]:
    return ok(api.get(f"/api/v1/webhooks/{hook['id']}"))


def deliveries(api: TestClient, hook: dict[str, Any], **params: Any) -> list[dict[str, Any]]:
    return ok(api.get(f"/api/v1/webhooks/{hook['id']}/deliveries", params=params))["items"]


def skus_received(rx: Receiver) -> list[str]:
    return [e["data"]["sku"] for r in rx.requests for e in r.envelopes]


def at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_a_batching_webhook_gets_its_events_in_signed_batches_in_order_with_no_row_per_event(
    admin: TestClient, receiver: Callable[..., Receiver], work: Callable[..., Any]
) -> None:
    rx, single_rx = receiver(), receiver()
    hook = subscribe(admin, rx.url, ["product.created"], batch_size=5)
    single = subscribe(admin, single_rx.url, ["product.created"])
    rx.secret = hook["secret"]
    skus = [f"SKU-{n:02d}" for n in range(12)]
    for sku in skus:
        product(admin, sku)

    work()

    batches = [r.json["events"] for r in rx.requests]
    state = webhook(admin, hook)
    assert rx.rejected_signatures == 0
    assert [len(b) for b in batches] == [5, 5, 2]
    assert skus_received(rx) == skus  # the order they happened in
    assert all(set(e) == {"id", "type", "occurred_at", "data"} for b in batches for e in b)
    assert [r.headers["x-omnihub-event"] for r in rx.requests] == ["batch"] * 3
    assert [r.headers["x-omnihub-batch-size"] for r in rx.requests] == ["5", "5", "2"]
    # each envelope is the same bytes a one-event subscriber gets
    assert sorted(json.dumps(e, separators=(",", ":"), ensure_ascii=False) for b in batches for e in b) == \
        sorted(r.body.decode() for r in single_rx.requests)
    assert deliveries(admin, hook) == []  # delivered batches leave no row per event
    assert len(deliveries(admin, single)) == 12
    assert state["stream"]["behind"] == 0
    assert state["stream"]["attempts"] == 0
    assert state["stream"]["last_status_code"] == 200
    assert state["stream"]["last_delivered_at"] is not None
    assert single["stream"] is None


def test_a_stream_sends_only_the_event_types_it_asked_for(
    admin: TestClient, receiver: Callable[..., Receiver], work: Callable[..., Any]
) -> None:
    rx = receiver()
    subscribe(admin, rx.url, ["channel.*", "product.created"], batch_size=50)

    location(admin, "s1")
    product(admin, "SKU-1")
    channel(admin, "web", locations=["s1"])
    work()

    assert [e["type"] for r in rx.requests for e in r.envelopes] == ["product.created", "channel.created"]


def test_a_stream_starts_at_its_subscription_and_gets_nothing_from_before(
    admin: TestClient, receiver: Callable[..., Receiver], work: Callable[..., Any]
) -> None:
    product(admin, "OLD-1")
    work()
    rx = receiver()
    subscribe(admin, rx.url, ["product.created"], batch_size=10)
    product(admin, "NEW-1")
    work()

    assert skus_received(rx) == ["NEW-1"]


def test_a_failed_batch_is_retried_whole_and_holds_back_later_events_so_order_is_kept(
    admin: TestClient, receiver: Callable[..., Receiver], work: Callable[..., Any], clock: ManualClock
) -> None:
    rx = receiver(fail_first=1)
    hook = subscribe(admin, rx.url, ["product.created"], batch_size=10)
    for sku in ("SKU-1", "SKU-2", "SKU-3"):
        product(admin, sku)

    work()
    failed = webhook(admin, hook)["stream"]
    product(admin, "SKU-4")  # happens while the first batch waits for its retry
    work()  # not due yet: nothing is sent
    attempts_before_due = rx.count()
    clock.advance(seconds=(at(failed["next_attempt_at"]) - clock.now()).total_seconds() + 1)
    work()
    delivered = webhook(admin, hook)["stream"]

    assert (failed["attempts"], failed["last_status_code"], failed["behind"]) == (1, 500, 3)
    assert failed["last_error"].startswith("HTTP 500")
    assert attempts_before_due == 1
    assert [e["data"]["sku"] for e in rx.requests[0].envelopes] == ["SKU-1", "SKU-2", "SKU-3"]
    assert [e["data"]["sku"] for e in rx.requests[1].envelopes] == ["SKU-1", "SKU-2", "SKU-3", "SKU-4"]
    assert (delivered["attempts"], delivered["last_status_code"], delivered["last_error"]) == (0, 200, None)
    assert delivered["behind"] == 0
    assert deliveries(admin, hook) == []


def a_dead_batch_of_two(admin: TestClient, receiver: Callable[..., Receiver], work: Callable[..., Any],
                        clock: ManualClock) -> tuple[Receiver, dict[str, Any], list[dict[str, Any]], datetime]:
    """A stream whose receiver answers 503 until its batch of SKU-1 and SKU-2 has used all 3 attempts.
    Returns (receiver, webhook, the dead letters, a time just before both events)."""
    rx = receiver(status=503)
    hook = subscribe(admin, rx.url, ["product.created"], batch_size=10)
    since = clock.now()
    product(admin, "SKU-1")
    product(admin, "SKU-2")
    for _ in range(4):
        work(webhook_max_attempts=3)
        clock.advance(hours=2)
    return rx, hook, deliveries(admin, hook, status="dead"), since


def test_a_batch_that_uses_every_attempt_becomes_dead_letters_that_can_be_sent_again(
    admin: TestClient, receiver: Callable[..., Receiver], work: Callable[..., Any], clock: ManualClock
) -> None:
    rx, hook, dead, _ = a_dead_batch_of_two(admin, receiver, work, clock)
    tries = rx.count()
    rx.status = 200
    product(admin, "SKU-3")
    work(webhook_max_attempts=3)  # the stream has moved on: the next event goes out at once
    after_recovery = skus_received(rx)[-1:]
    ok(admin.post(f"/api/v1/webhooks/{hook['id']}/deliveries/{dead[-1]['id']}/redeliver"))
    work(webhook_max_attempts=3)

    assert tries == 3
    assert sorted((d["event_type"], d["attempts"], d["last_status_code"]) for d in dead) == \
        [("product.created", 3, 503)] * 2
    assert all(d["last_error"].startswith("HTTP 503") for d in dead)
    assert after_recovery == ["SKU-3"]
    assert webhook(admin, hook)["stream"]["behind"] == 0
    assert rx.requests[-1].envelopes[0]["id"] == dead[-1]["event_id"]  # the dead letter, sent again
    assert {d["status"] for d in deliveries(admin, hook)} == {"dead", "delivered"}


def test_switching_between_one_event_and_batches_loses_nothing_and_repeats_nothing(
    admin: TestClient, receiver: Callable[..., Receiver], work: Callable[..., Any]
) -> None:
    rx = receiver()
    hook = subscribe(admin, rx.url, ["product.created"])
    product(admin, "A-1")
    product(admin, "A-2")
    work()
    ok(admin.patch(f"/api/v1/webhooks/{hook['id']}", json={"batch_size": 10}))
    product(admin, "B-1")
    product(admin, "B-2")
    work()
    streaming = webhook(admin, hook)
    ok(admin.patch(f"/api/v1/webhooks/{hook['id']}", json={"batch_size": 1}))
    product(admin, "C-1")
    work()
    back = webhook(admin, hook)

    assert sorted(skus_received(rx)) == ["A-1", "A-2", "B-1", "B-2", "C-1"]  # each exactly once
    assert [r.headers["x-omnihub-event"] for r in rx.requests] == \
        ["product.created", "product.created", "batch", "product.created"]
    assert streaming["stream"]["draining"] is False
    assert back["stream"]["draining"] is True
    assert back["stream"]["behind"] == 0
    assert sorted(d["event_type"] for d in deliveries(admin, hook)) == ["product.created"] * 3  # C-1


def test_events_dispatched_before_a_switch_to_one_event_still_go_out_as_a_batch(
    admin: TestClient, receiver: Callable[..., Receiver], work: Callable[..., Any], clock: ManualClock
) -> None:
    rx = receiver(status=503)
    hook = subscribe(admin, rx.url, ["product.created"], batch_size=10)
    product(admin, "B-1")
    work()  # dispatched; the batch failed and waits
    ok(admin.patch(f"/api/v1/webhooks/{hook['id']}", json={"batch_size": 1}))
    product(admin, "C-1")
    rx.status = 200
    clock.advance(hours=1)
    work()

    assert sorted(skus_received(rx)[1:]) == ["B-1", "C-1"]  # B-1 drained from the stream, C-1 as a row
    assert webhook(admin, hook)["stream"]["behind"] == 0


def test_a_crashed_workers_batch_comes_back_after_the_lease_and_a_late_result_is_ignored(
    admin: TestClient, receiver: Callable[..., Receiver], work: Callable[..., Any], db: Database,
    clock: ManualClock, settings: Settings
) -> None:
    rx = receiver()
    hook = subscribe(admin, rx.url, ["product.created"], batch_size=10)
    product(admin, "SKU-1")
    work()
    product(admin, "SKU-2")
    with db.transaction() as conn:
        dispatch_pending(conn, clock, default_handlers(clock, settings))
    with db.transaction() as conn:
        [stale] = service.claim_streams(conn, clock, limit=10, lease_seconds=60, secret_key=settings.secret_key)

    work()  # leased by the dead worker: not sent
    while_leased = rx.count()
    clock.advance(seconds=61)
    work()  # the lease ran out: sent and delivered
    with db.transaction() as conn:
        late = service.record_stream_results(conn, clock, [BatchResult(stale, 500, "HTTP 500", clock.now())],
                                             max_attempts=3, base_backoff=2.0)

    assert while_leased == 1
    assert skus_received(rx) == ["SKU-1", "SKU-2"]
    assert late == {"pending": 0, "delivered": 0, "dead": 0}
    assert webhook(admin, hook)["stream"]["attempts"] == 0
    assert webhook(admin, hook)["stream"]["behind"] == 0


def test_concurrent_writers_and_two_workers_deliver_every_event_once_to_every_stream(
    admin: TestClient, receiver: Callable[..., Receiver], settings: Settings, db: Database, clock: ManualClock
) -> None:
    """Positions are given one dispatch at a time, so no cursor can pass an event that commits later."""
    receivers = [receiver() for _ in range(3)]
    for rx in receivers:
        subscribe(admin, rx.url, ["bench.*"], batch_size=25)
    writers, per_writer = 4, 60
    stop = threading.Event()
    stats: list[WorkerStats] = []
    fast = settings.model_copy(update={"worker_poll_seconds": 0.01})

    def worker() -> None:
        stats.append(run_worker(fast, clock=clock, stop=stop, db=db))

    def writer(n: int) -> None:
        for i in range(per_writer):
            with db.transaction() as conn:
                emit(conn, clock, "bench.tick", {"writer": n, "i": i})

    workers = [threading.Thread(target=worker) for _ in range(2)]
    for t in workers:
        t.start()
    producers = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
    for t in producers:
        t.start()
    for t in producers:
        t.join()
    arrived = [rx.wait_for(lambda r: len(r.received_ids()) >= writers * per_writer) for rx in receivers]
    stop.set()
    for t in workers:
        t.join(timeout=60)

    assert arrived == [True] * 3
    expected = {(n, i) for n in range(writers) for i in range(per_writer)}
    for rx in receivers:
        ids = rx.received_ids()
        assert len(ids) == len(set(ids)) == writers * per_writer  # none lost, none twice
        got = {(e["data"]["writer"], e["data"]["i"]) for r in rx.requests for e in r.envelopes}
        assert got == expected
    assert [s.errors for s in stats] == [0, 0]


def test_replay_moves_a_stream_back_to_resend_what_happened_since_a_time(
    admin: TestClient, receiver: Callable[..., Receiver], work: Callable[..., Any], clock: ManualClock
) -> None:
    rx = receiver()
    hook = subscribe(admin, rx.url, ["product.created"], batch_size=10)
    product(admin, "A-1")
    clock.advance(minutes=10)
    since = clock.now()
    product(admin, "B-1")
    product(admin, "C-1")
    work()
    replayed = ok(admin.post(f"/api/v1/webhooks/{hook['id']}/replay", json={"since": since.isoformat()}))
    work()
    future = ok(admin.post(f"/api/v1/webhooks/{hook['id']}/replay",
                           json={"since": clock.advance(days=1).isoformat()}))

    assert skus_received(rx) == ["A-1", "B-1", "C-1", "B-1", "C-1"]
    assert replayed["stream_rewound_by"] >= 2 and replayed["deliveries_reset"] == 0
    assert replayed["webhook"]["stream"]["behind"] >= 2
    assert (future["stream_rewound_by"], future["deliveries_reset"]) == (0, 0)
    assert webhook(admin, hook)["stream"]["behind"] == 0


def test_replay_puts_a_one_event_webhooks_finished_deliveries_since_then_back_to_pending(
    admin: TestClient, receiver: Callable[..., Receiver], work: Callable[..., Any], clock: ManualClock
) -> None:
    rx = receiver()
    hook = subscribe(admin, rx.url, ["product.created"])
    product(admin, "A-1")
    work()
    clock.advance(minutes=10)
    since = clock.now()
    product(admin, "B-1")
    work()
    replayed = ok(admin.post(f"/api/v1/webhooks/{hook['id']}/replay", json={"since": since.isoformat()}))
    work()

    assert (replayed["deliveries_reset"], replayed["stream_rewound_by"]) == (1, 0)
    assert replayed["webhook"]["stream"] is None
    assert [r.json["data"]["sku"] for r in rx.requests] == ["A-1", "B-1", "B-1"]
    assert {d["status"] for d in deliveries(admin, hook)} == {"delivered"}


def test_replay_of_an_unknown_or_inactive_webhook_or_without_a_time_is_a_problem(
    admin: TestClient, receiver: Callable[..., Receiver]
) -> None:
    hook = subscribe(admin, receiver().url, ["product.created"], batch_size=5)
    path = f"/api/v1/webhooks/{hook['id']}/replay"

    missing = problem(admin.post(path, json={}), 422, "validation_error")
    garbage = problem(admin.post(path, json={"since": "yesterday"}), 422, "validation_error")
    unknown = problem(admin.post("/api/v1/webhooks/whk_nope/replay", json={"since": "2026-01-01T00:00:00Z"}), 404,
                      "webhook_not_found")
    ok(admin.delete(f"/api/v1/webhooks/{hook['id']}"))
    inactive = problem(admin.post(path, json={"since": "2026-01-01T00:00:00Z"}), 409, "webhook_inactive")

    assert (missing["field"], garbage["field"]) == ("since", "since")
    assert unknown["detail"] and inactive["detail"]


def test_behind_counts_the_subscribed_events_still_to_send_not_every_event(
    admin: TestClient, receiver: Callable[..., Receiver], work: Callable[..., Any]
) -> None:
    rx = receiver(status=503)
    hook = subscribe(admin, rx.url, ["product.created"], batch_size=10)
    location(admin, "s1")
    product(admin, "SKU-1")
    product(admin, "SKU-2")
    channel(admin, "web", locations=["s1"])
    work()  # everything dispatched (location, channel, availability…); the batch of two products failed

    stream = webhook(admin, hook)["stream"]
    assert (stream["behind"], stream["attempts"]) == (2, 1)


def test_replay_after_a_dead_batch_sends_each_event_once_not_again_as_a_dead_letter(
    admin: TestClient, receiver: Callable[..., Receiver], work: Callable[..., Any], clock: ManualClock
) -> None:
    rx, hook, dead, since = a_dead_batch_of_two(admin, receiver, work, clock)
    rx.status = 200
    sent_while_down = len(rx.requests)

    replayed = ok(admin.post(f"/api/v1/webhooks/{hook['id']}/replay", json={"since": since.isoformat()}))
    work(webhook_max_attempts=3)
    work(webhook_max_attempts=3)

    assert len(dead) == 2
    assert replayed["deliveries_reset"] == 0 and replayed["stream_rewound_by"] >= 2
    received = [e["data"]["sku"] for r in rx.requests[sent_while_down:] for e in r.envelopes]
    assert received == ["SKU-1", "SKU-2"]  # once each, in order, by the stream
    assert {d["status"] for d in deliveries(admin, hook)} == {"dead"}
