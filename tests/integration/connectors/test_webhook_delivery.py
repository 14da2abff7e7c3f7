"""Webhook delivery end to end: catalog change → outbox → worker → real HTTP receiver, and the delivery log."""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi.testclient import TestClient
from tests.builders import channel, location, ok, problem, product
from tests.conftest import SECRET
from tests.webhook_receiver import Receiver

from omnihub.connectors.webhooks import service
from omnihub.connectors.webhooks.service import AttemptResult, ClaimedDelivery, WebhookFanout
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.core.events import dispatch_pending, recent_events
from omnihub.core.security import verify_signature


def subscribe(api: TestClient, url: str, events: list[str], **extra: Any) -> dict[str, Any]:
    return ok(api.post("/api/v1/webhooks", json={"url": url, "events": events, **extra}), 201)


def deliveries(api: TestClient, hook: dict[str, Any], **params: Any) -> list[dict[str, Any]]:
    return ok(api.get(f"/api/v1/webhooks/{hook['id']}/deliveries", params=params))["items"]


def claimed_by_a_worker(db: Database, clock: ManualClock, *, lease_seconds: float) -> ClaimedDelivery:
    """Fan the waiting event out and let a worker claim its one delivery (and, as far as the test goes, stop)."""
    with db.transaction() as conn:
        dispatch_pending(conn, clock, [WebhookFanout(clock)])
    with db.transaction() as conn:
        [claimed] = service.claim_due(conn, clock, limit=10, lease_seconds=lease_seconds, secret_key=SECRET)
    return claimed


def at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_event_reaches_receiver_signed_with_the_envelope_and_headers(
    admin: TestClient, receiver: Callable[..., Receiver], work: Callable[..., Any]
) -> None:
    rx = receiver()
    hook = subscribe(admin, rx.url, ["product.created"])
    rx.secret = hook["secret"]  # the receiver rejects anything not signed with this secret

    product(admin, "SKU-1", name="Runner", category="shoes")
    work()

    [request] = rx.requests
    [delivery] = deliveries(admin, hook)
    envelope = request.json
    assert rx.rejected_signatures == 0
    assert verify_signature(hook["secret"], request.body, request.headers["x-omnihub-signature"])
    assert not verify_signature("some-other-secret", request.body, request.headers["x-omnihub-signature"])
    assert set(envelope) == {"id", "type", "occurred_at", "data"}
    assert envelope["type"] == "product.created"
    assert envelope["data"] == {"sku": "SKU-1", "name": "Runner", "category": "shoes"}
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-omnihub-event"] == "product.created"
    assert request.headers["x-omnihub-event-id"] == envelope["id"]
    assert request.headers["x-omnihub-delivery"] == delivery["id"]
    assert delivery["event_id"] == envelope["id"]
    assert delivery["status"] == "delivered"
    assert delivery["attempts"] == 1
    assert delivery["last_status_code"] == 200
    assert delivery["last_error"] is None
    assert delivery["next_attempt_at"] is None
    assert delivery["delivered_at"] is not None


def test_each_subscription_gets_only_the_event_types_it_asked_for(
    admin: TestClient, receiver: Callable[..., Receiver], work: Callable[..., Any]
) -> None:
    products_rx, channels_rx, all_rx = receiver(), receiver(), receiver()
    subscribe(admin, products_rx.url, ["product.created"])
    subscribe(admin, channels_rx.url, ["channel.*"])
    subscribe(admin, all_rx.url, ["*"])

    location(admin, "s1")
    product(admin, "SKU-1")
    channel(admin, "web", locations=["s1"])
    work()

    assert [r.json["type"] for r in products_rx.requests] == ["product.created"]
    assert [r.json["type"] for r in channels_rx.requests] == ["channel.created"]
    assert {"product.created", "channel.created"} <= {r.json["type"] for r in all_rx.requests}


def test_failing_receiver_is_retried_with_backoff_then_delivered(
    admin: TestClient, receiver: Callable[..., Receiver], work: Callable[..., Any], clock: ManualClock
) -> None:
    rx = receiver(fail_first=2)
    hook = subscribe(admin, rx.url, ["product.*"])
    product(admin, "SKU-1")

    work()
    [first] = deliveries(admin, hook)
    work()  # not due yet: nothing is sent
    sent_before_due = rx.count()
    clock.advance(seconds=(at(first["next_attempt_at"]) - clock.now()).total_seconds())
    work()
    [second] = deliveries(admin, hook)
    clock.advance(seconds=(at(second["next_attempt_at"]) - clock.now()).total_seconds())
    work()
    [third] = deliveries(admin, hook)

    assert first["status"] == "pending"
    assert first["attempts"] == 1
    assert first["last_status_code"] == 500
    assert "HTTP 500" in first["last_error"]
    # base 2 s, doubling, plus at most 10 % jitter
    assert 2.0 <= (at(first["next_attempt_at"]) - at(first["last_attempt_at"])).total_seconds() <= 2.2
    assert sent_before_due == 1
    assert second["attempts"] == 2
    assert 4.0 <= (at(second["next_attempt_at"]) - at(second["last_attempt_at"])).total_seconds() <= 4.4
    assert third["status"] == "delivered"
    assert third["attempts"] == 3
    assert third["last_status_code"] == 200
    assert rx.count() == 3
    assert len({r.body for r in rx.requests}) == 1  # the same bytes every time
    assert len({r.headers["x-omnihub-delivery"] for r in rx.requests}) == 1


def test_unreachable_receiver_is_dead_after_max_attempts_then_redelivered(
    admin: TestClient, receiver: Callable[..., Receiver], work: Callable[..., Any], clock: ManualClock
) -> None:
    rx = receiver(status=503)
    hook = subscribe(admin, rx.url, ["product.created"])
    product(admin, "SKU-1")

    for _ in range(5):
        work(webhook_max_attempts=3)
        clock.advance(hours=2)
    [dead] = deliveries(admin, hook, status="dead")
    attempts_while_dead = rx.count()
    rx.status = 200
    redelivered = ok(admin.post(f"/api/v1/webhooks/{hook['id']}/deliveries/{dead['id']}/redeliver"))
    work(webhook_max_attempts=3)
    [delivered] = deliveries(admin, hook, status="delivered")

    assert dead["attempts"] == 3
    assert dead["last_status_code"] == 503
    assert dead["next_attempt_at"] is None
    assert dead["delivered_at"] is None
    assert attempts_while_dead == 3  # dead means no more tries, however much time passes
    assert deliveries(admin, hook, status="pending") == []
    assert redelivered["status"] == "pending"
    assert redelivered["attempts"] == 0
    assert delivered["id"] == dead["id"]
    assert delivered["attempts"] == 1
    assert rx.count() == 4
    assert rx.requests[-1].event_id == dead["event_id"]


def test_connection_refused_is_recorded_as_an_error(
    admin: TestClient, receiver: Callable[..., Receiver], work: Callable[..., Any]
) -> None:
    rx = receiver()
    url = rx.url
    rx.stop()  # nothing listens on this port any more
    hook = subscribe(admin, url, ["product.created"])
    product(admin, "SKU-1")

    work()
    [delivery] = deliveries(admin, hook)

    assert delivery["status"] == "pending"
    assert delivery["attempts"] == 1
    assert delivery["last_status_code"] is None
    assert "Connect" in delivery["last_error"]


def test_delivered_one_can_be_sent_again_but_pending_cannot(
    admin: TestClient, receiver: Callable[..., Receiver], work: Callable[..., Any]
) -> None:
    rx = receiver()
    hook = subscribe(admin, rx.url, ["product.created"])
    product(admin, "SKU-1")
    work()
    [delivery] = deliveries(admin, hook)
    path = f"/api/v1/webhooks/{hook['id']}/deliveries/{delivery['id']}/redeliver"

    ok(admin.post(path))
    twice = problem(admin.post(path), 409, "delivery_pending")
    work()

    assert twice["delivery"] == delivery["id"]
    assert [r.event_id for r in rx.requests] == [delivery["event_id"]] * 2
    assert deliveries(admin, hook)[0]["status"] == "delivered"
    problem(admin.post(f"/api/v1/webhooks/{hook['id']}/deliveries/dlv_nope/redeliver"), 404, "delivery_not_found")


def test_delivery_log_pages_newest_first_and_filters_by_status(
    admin: TestClient, receiver: Callable[..., Receiver], work: Callable[..., Any]
) -> None:
    rx = receiver(fail_first=2)
    hook = subscribe(admin, rx.url, ["product.created"])
    for i in range(5):
        product(admin, f"SKU-{i}")
    work()

    first = ok(admin.get(f"/api/v1/webhooks/{hook['id']}/deliveries", params={"limit": 3}))
    rest = ok(admin.get(f"/api/v1/webhooks/{hook['id']}/deliveries",
                        params={"limit": 3, "cursor": first["next_cursor"]}))
    ids = [d["id"] for d in first["items"] + rest["items"]]

    assert len(ids) == 5
    assert ids == sorted(ids, reverse=True)
    assert rest["next_cursor"] is None
    assert len(deliveries(admin, hook, status="pending")) == 2
    assert len(deliveries(admin, hook, status="delivered")) == 3


def test_a_crashed_workers_claims_come_back_after_the_lease(
    admin: TestClient, receiver: Callable[..., Receiver], work: Callable[..., Any], db: Database,
    clock: ManualClock
) -> None:
    rx = receiver()
    hook = subscribe(admin, rx.url, ["product.created"])
    product(admin, "SKU-1")
    work()  # fans out and delivers the first event; then a second one is claimed by a worker that dies
    product(admin, "SKU-2")
    claimed = claimed_by_a_worker(db, clock, lease_seconds=60)

    work()
    while_leased = rx.count()
    clock.advance(seconds=61)
    work()

    assert while_leased == 1
    assert rx.count() == 2
    assert rx.requests[-1].event_id == claimed.event_id
    assert [d["status"] for d in deliveries(admin, hook)] == ["delivered", "delivered"]


def test_a_late_worker_cannot_overwrite_the_result_of_the_one_that_took_over(
    admin: TestClient, receiver: Callable[..., Receiver], work: Callable[..., Any], db: Database,
    clock: ManualClock
) -> None:
    rx = receiver()
    hook = subscribe(admin, rx.url, ["product.created"])
    product(admin, "SKU-1")
    stale = claimed_by_a_worker(db, clock, lease_seconds=5)
    clock.advance(seconds=6)
    work()  # takes over the expired claim and delivers
    with db.transaction() as conn:
        service.record_results(conn, clock, [AttemptResult(stale, 500, "HTTP 500", clock.now())],
                               max_attempts=3, base_backoff=2.0)

    [delivery] = deliveries(admin, hook)
    assert delivery["status"] == "delivered"
    assert delivery["attempts"] == 1
    assert rx.count() == 1


def test_fan_out_of_the_same_event_twice_makes_one_delivery(
    admin: TestClient, receiver: Callable[..., Receiver], db: Database, clock: ManualClock
) -> None:
    rx = receiver()
    hook = subscribe(admin, rx.url, ["product.created"])
    product(admin, "SKU-1")
    fanout = WebhookFanout(clock)

    with db.transaction() as conn:
        events = recent_events(conn, type_="product.created")
        fanout.handle(conn, events)
        fanout.handle(conn, events)

    [delivery] = deliveries(admin, hook)
    assert delivery["event_id"] == events[0].id
    assert delivery["status"] == "pending"


def test_a_delivery_in_flight_when_its_webhook_is_deactivated_ends_dead_if_the_attempt_fails(
    admin: TestClient, receiver: Callable[..., Receiver], db: Database, clock: ManualClock
) -> None:
    rx = receiver()
    hook = subscribe(admin, rx.url, ["product.created"])
    product(admin, "SKU-1")
    in_flight = claimed_by_a_worker(db, clock, lease_seconds=60)

    ok(admin.delete(f"/api/v1/webhooks/{hook['id']}"))  # its sender still holds the delivery
    still_claimed = deliveries(admin, hook)[0]["status"]
    with db.transaction() as conn:
        service.record_results(conn, clock, [AttemptResult(in_flight, 503, "HTTP 503", clock.now())],
                               max_attempts=8, base_backoff=2.0)
    [ended] = deliveries(admin, hook)

    assert still_claimed == "pending"
    assert ended["status"] == "dead"
    assert ended["last_error"] == "webhook deactivated"
    assert ended["attempts"] == 1
    assert ended["last_status_code"] == 503
    assert ended["next_attempt_at"] is None
