"""Webhook subscriptions through the public API: create, read, list, deactivate, validation, roles."""

from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.builders import ok, problem, product
from tests.conftest import make_key
from tests.webhook_receiver import Receiver

from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.core.security import verify_signature


def subscribe(api: TestClient, url: str, events: list[str], **extra: Any) -> dict[str, Any]:
    return ok(api.post("/api/v1/webhooks", json={"url": url, "events": events, **extra}), 201)


def test_created_webhook_returns_a_generated_secret_once(admin: TestClient) -> None:
    created = subscribe(admin, "https://example.com/hooks", ["stock.*", "order.created", "stock.*"])

    read = ok(admin.get(f"/api/v1/webhooks/{created['id']}"))

    assert created["secret"].startswith("whsec_")
    assert len(created["secret"]) > 30
    assert created["events"] == ["stock.*", "order.created"]
    assert created["active"] is True
    assert created["batch_size"] == 1  # one event per request unless asked
    assert "secret" not in read
    assert read == {k: v for k, v in created.items() if k != "secret"}


def test_a_client_chosen_secret_is_kept(admin: TestClient) -> None:
    created = subscribe(admin, "http://127.0.0.1:9/x", ["*"], secret="my-own-secret-0123456789")

    assert created["secret"] == "my-own-secret-0123456789"


def test_webhooks_page_with_cursor(admin: TestClient) -> None:
    ids = [subscribe(admin, f"https://example.com/{i}", ["*"])["id"] for i in range(5)]

    first = ok(admin.get("/api/v1/webhooks", params={"limit": 3}))
    second = ok(admin.get("/api/v1/webhooks", params={"limit": 3, "cursor": first["next_cursor"]}))

    assert [w["id"] for w in first["items"]] + [w["id"] for w in second["items"]] == sorted(ids)
    assert second["next_cursor"] is None
    assert all("secret" not in w for w in first["items"])


def test_delete_deactivates_and_stops_fan_out(admin: TestClient, receiver: Callable[..., Receiver],
                                              work: Callable[..., Any]) -> None:
    rx = receiver()
    hook = subscribe(admin, rx.url, ["product.*"])

    gone = ok(admin.delete(f"/api/v1/webhooks/{hook['id']}"))
    product(admin, "SKU-1")
    work()

    assert gone["active"] is False
    assert gone["deactivated_at"] is not None
    assert ok(admin.get(f"/api/v1/webhooks/{hook['id']}"))["active"] is False
    assert [w["id"] for w in ok(admin.get("/api/v1/webhooks", params={"active": "false"}))["items"]] == [hook["id"]]
    assert ok(admin.get("/api/v1/webhooks", params={"active": "true"}))["items"] == []
    assert ok(admin.get(f"/api/v1/webhooks/{hook['id']}/deliveries"))["items"] == []
    assert rx.count() == 0


def test_deactivating_ends_what_was_still_waiting_as_dead_with_the_reason(
        admin: TestClient, receiver: Callable[..., Receiver], work: Callable[..., Any]) -> None:
    rx = receiver(status=503)
    hook = subscribe(admin, rx.url, ["product.*"])
    product(admin, "SKU-1")
    work()  # one failed attempt: pending, waiting for its retry
    [waiting] = ok(admin.get(f"/api/v1/webhooks/{hook['id']}/deliveries"))["items"]

    ok(admin.delete(f"/api/v1/webhooks/{hook['id']}"))
    [ended] = ok(admin.get(f"/api/v1/webhooks/{hook['id']}/deliveries"))["items"]
    again = problem(admin.post(f"/api/v1/webhooks/{hook['id']}/deliveries/{ended['id']}/redeliver"), 409,
                    "webhook_inactive")

    assert waiting["status"] == "pending"
    assert ended["status"] == "dead"
    assert ended["last_error"] == "webhook deactivated"
    assert ended["attempts"] == 1  # the log keeps what happened
    assert ended["last_status_code"] == 503
    assert ended["next_attempt_at"] is None
    assert again["detail"]
    assert rx.count() == 1


def test_patch_changes_events_and_batch_size_in_place_and_keeps_the_secret(
        admin: TestClient, receiver: Callable[..., Receiver], work: Callable[..., Any]) -> None:
    rx = receiver()
    hook = subscribe(admin, rx.url, ["channel.*"])
    rx.secret = hook["secret"]  # anything not signed with the original secret is rejected

    changed = ok(admin.patch(f"/api/v1/webhooks/{hook['id']}", json={"events": ["product.created"],
                                                                      "batch_size": 10}))
    product(admin, "SKU-1")
    product(admin, "SKU-2")
    work()

    assert changed["events"] == ["product.created"]
    assert changed["batch_size"] == 10
    assert changed["url"] == hook["url"]
    after = ok(admin.get(f"/api/v1/webhooks/{hook['id']}"))
    assert {k: v for k, v in after.items() if k != "stream"} == {k: v for k, v in changed.items() if k != "stream"}
    assert hook["stream"] is None
    assert changed["stream"]["behind"] == 0
    assert after["stream"]["position"] > changed["stream"]["position"]  # moved past the two events it sent
    assert rx.rejected_signatures == 0
    [request] = rx.requests
    assert [e["data"]["sku"] for e in request.json["events"]] == ["SKU-1", "SKU-2"]


def test_bad_patches_are_problems_and_change_nothing(admin: TestClient) -> None:
    hook = subscribe(admin, "https://example.com/hooks", ["stock.*"])
    before = ok(admin.get(f"/api/v1/webhooks/{hook['id']}"))

    empty = problem(admin.patch(f"/api/v1/webhooks/{hook['id']}", json={}), 422, "nothing_to_update")
    bad_url = problem(admin.patch(f"/api/v1/webhooks/{hook['id']}", json={"url": "ftp://x", "batch_size": 5}),
                      422, "invalid_webhook_url")
    bad_size = problem(admin.patch(f"/api/v1/webhooks/{hook['id']}", json={"batch_size": 0}), 422,
                       "validation_error")
    unknown = problem(admin.patch("/api/v1/webhooks/whk_nope", json={"batch_size": 5}), 404, "webhook_not_found")
    unknown_empty = problem(admin.patch("/api/v1/webhooks/whk_nope", json={}), 404, "webhook_not_found")
    ok(admin.delete(f"/api/v1/webhooks/{hook['id']}"))
    inactive = problem(admin.patch(f"/api/v1/webhooks/{hook['id']}", json={"batch_size": 5}), 409,
                       "webhook_inactive")

    assert empty["field"] == "body"
    assert bad_url["field"] == "url"
    assert bad_size["field"] == "batch_size"
    assert unknown["detail"] and inactive["detail"] and unknown_empty["detail"]
    after = ok(admin.get(f"/api/v1/webhooks/{hook['id']}"))
    assert {k: v for k, v in after.items() if k not in ("active", "deactivated_at")} == \
        {k: v for k, v in before.items() if k not in ("active", "deactivated_at")}


def test_unknown_webhook_is_404_problem(admin: TestClient) -> None:
    problem(admin.get("/api/v1/webhooks/whk_nope"), 404, "webhook_not_found")
    problem(admin.delete("/api/v1/webhooks/whk_nope"), 404, "webhook_not_found")
    problem(admin.get("/api/v1/webhooks/whk_nope/deliveries"), 404, "webhook_not_found")
    problem(admin.post("/api/v1/webhooks/whk_nope/deliveries/dlv_nope/redeliver"), 404, "webhook_not_found")


def test_bad_url_is_422_and_changes_nothing(admin: TestClient) -> None:
    for url in ("ftp://example.com/x", "example.com/hook", "http://"):
        body = problem(admin.post("/api/v1/webhooks", json={"url": url, "events": ["*"]}), 422,
                       "invalid_webhook_url")
        assert body["field"] == "url"

    assert ok(admin.get("/api/v1/webhooks"))["items"] == []


def test_bad_event_type_is_422_naming_the_entry_and_changes_nothing(admin: TestClient) -> None:
    body = problem(admin.post("/api/v1/webhooks", json={"url": "https://example.com", "events": ["order.created",
                                                                                              "Stock.*"]}),
                   422, "invalid_event_type")

    assert body["field"] == "events.1"
    assert ok(admin.get("/api/v1/webhooks"))["items"] == []


def test_shape_errors_are_422_validation_problems(admin: TestClient) -> None:
    missing = problem(admin.post("/api/v1/webhooks", json={"url": "https://example.com"}), 422, "validation_error")
    empty = problem(admin.post("/api/v1/webhooks", json={"url": "https://example.com", "events": []}), 422,
                    "validation_error")
    typo = problem(admin.post("/api/v1/webhooks", json={"url": "https://example.com", "events": ["*"],
                                                        "evnts": ["*"]}), 422, "validation_error")
    short_secret = problem(admin.post("/api/v1/webhooks", json={"url": "https://example.com", "events": ["*"],
                                                                "secret": "short"}), 422, "validation_error")

    assert missing["field"] == "events"
    assert empty["field"] == "events"
    assert typo["field"] == "evnts"
    assert short_secret["field"] == "secret"
    assert ok(admin.get("/api/v1/webhooks"))["items"] == []


@pytest.mark.parametrize("batch_size", [0, 1001, "ten"])
def test_batch_size_out_of_range_is_422_and_changes_nothing(admin: TestClient, batch_size: object) -> None:
    body = problem(admin.post("/api/v1/webhooks", json={"url": "https://example.com", "events": ["*"],
                                                        "batch_size": batch_size}), 422, "validation_error")

    assert body["field"] == "batch_size"
    assert ok(admin.get("/api/v1/webhooks"))["items"] == []


def test_bad_status_filter_is_422(admin: TestClient) -> None:
    hook = subscribe(admin, "https://example.com", ["*"])

    body = problem(admin.get(f"/api/v1/webhooks/{hook['id']}/deliveries", params={"status": "lost"}), 422,
                   "validation_error")

    assert body["field"] == "status"


def test_webhooks_are_admin_only(client: TestClient, db: Database, clock: ManualClock) -> None:
    key = make_key(db, clock, "channel", channel="web")
    headers = {"Authorization": f"Bearer {key}"}

    problem(client.post("/api/v1/webhooks", json={"url": "https://example.com", "events": ["*"]}, headers=headers),
            403, "role_not_allowed")
    problem(client.get("/api/v1/webhooks", headers=headers), 403, "role_not_allowed")
    problem(client.get("/api/v1/webhooks"), 401, "missing_api_key")


def test_rotating_the_secret_signs_with_both_during_the_grace_period_then_only_the_new_one(
        admin: TestClient, receiver: Callable[..., Receiver], work: Callable[..., Any], clock: ManualClock) -> None:
    rx = receiver()
    hook = subscribe(admin, rx.url, ["product.created"])
    rotated = ok(admin.post(f"/api/v1/webhooks/{hook['id']}/rotate-secret", json={"grace_seconds": 3600}))
    shown = ok(admin.get(f"/api/v1/webhooks/{hook['id']}"))
    product(admin, "DURING-1")
    work()
    clock.advance(seconds=3601)
    product(admin, "AFTER-1")
    work()
    during, after = rx.requests

    assert rotated["secret"] != hook["secret"] and rotated["secret"].startswith("whsec_")
    assert "secret" not in shown
    assert shown["previous_secret_expires_at"] == rotated["previous_secret_expires_at"] is not None
    assert during.headers["x-omnihub-signature"].count("v1=") == 2
    assert verify_signature(rotated["secret"], during.body, during.headers["x-omnihub-signature"])
    assert verify_signature(hook["secret"], during.body, during.headers["x-omnihub-signature"])
    assert after.headers["x-omnihub-signature"].count("v1=") == 1
    assert verify_signature(rotated["secret"], after.body, after.headers["x-omnihub-signature"])
    assert not verify_signature(hook["secret"], after.body, after.headers["x-omnihub-signature"])


def test_a_rotation_without_grace_drops_the_old_secret_at_once_also_for_batches(
        admin: TestClient, receiver: Callable[..., Receiver], work: Callable[..., Any]) -> None:
    rx = receiver()
    hook = subscribe(admin, rx.url, ["product.created"], batch_size=10)
    chosen = "my-own-new-secret-0123456789"
    rotated = ok(admin.post(f"/api/v1/webhooks/{hook['id']}/rotate-secret",
                            json={"secret": chosen, "grace_seconds": 0}))
    product(admin, "SKU-1")
    work()
    [request] = rx.requests

    assert rotated["secret"] == chosen
    assert rotated["previous_secret_expires_at"] is None
    assert request.headers["x-omnihub-signature"].count("v1=") == 1
    assert verify_signature(chosen, request.body, request.headers["x-omnihub-signature"])
    assert not verify_signature(hook["secret"], request.body, request.headers["x-omnihub-signature"])


def test_bad_rotations_are_problems_and_change_nothing(admin: TestClient) -> None:
    hook = subscribe(admin, "https://example.com/hooks", ["stock.*"], secret="the-first-secret-0123")
    path = f"/api/v1/webhooks/{hook['id']}/rotate-secret"

    same = problem(admin.post(path, json={"secret": "the-first-secret-0123"}), 422, "secret_unchanged")
    short = problem(admin.post(path, json={"secret": "short"}), 422, "validation_error")
    too_long = problem(admin.post(path, json={"grace_seconds": 604801}), 422, "validation_error")
    unknown = problem(admin.post("/api/v1/webhooks/whk_nope/rotate-secret", json={}), 404, "webhook_not_found")
    ok(admin.delete(f"/api/v1/webhooks/{hook['id']}"))
    inactive = problem(admin.post(path, json={}), 409, "webhook_inactive")

    assert (same["field"], short["field"], too_long["field"]) == ("secret", "secret", "grace_seconds")
    assert unknown["detail"] and inactive["detail"]
    assert ok(admin.get(f"/api/v1/webhooks/{hook['id']}"))["previous_secret_expires_at"] is None


def test_signing_secrets_are_stored_sealed_and_plain_ones_from_before_are_sealed_by_the_worker(
        admin: TestClient, db: Database, work: Callable[..., Any], receiver: Callable[..., Receiver]) -> None:
    from omnihub.connectors.webhooks.models import webhook_subscriptions as subs

    rx = receiver()
    hook = subscribe(admin, rx.url, ["product.created"])
    rotated = ok(admin.post(f"/api/v1/webhooks/{hook['id']}/rotate-secret", json={"grace_seconds": 3600}))
    with db.transaction() as conn:
        stored = conn.execute(sa.select(subs.c.secret, subs.c.previous_secret)).one()
    dump = " ".join(stored)
    assert hook["secret"] not in dump and rotated["secret"] not in dump  # a database dump signs nothing
    assert stored.secret.startswith("gAAAAA") and stored.previous_secret.startswith("gAAAAA")
    # a secret an earlier version stored in clear still signs, and the worker seals it
    legacy = subscribe(admin, rx.url, ["product.created"], secret="legacy-plain-secret-0123")
    with db.transaction() as conn:
        conn.execute(subs.update().where(subs.c.id == legacy["id"]).values(secret="legacy-plain-secret-0123"))
    rx.secret = "legacy-plain-secret-0123"
    product(admin, "SEAL-1")
    work()
    assert rx.count() >= 1 and rx.rejected_signatures == 1  # the legacy hook signed right; the other did not
    with db.transaction() as conn:
        resealed = conn.execute(sa.select(subs.c.secret).where(subs.c.id == legacy["id"])).scalar_one()
    assert resealed.startswith("gAAAAA") and "legacy-plain-secret-0123" not in resealed
