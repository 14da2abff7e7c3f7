"""A provider notification the worker gave up on is visible over HTTP with its error (`GET /payment-notifications
?status=failed`) and goes back to the queue with `POST …/retry` once the cause is fixed: then applied once, the
order paid once. Retrying a pending one changes nothing; an applied one is a 409; an unknown id a 404."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from tests.builders import ok, problem
from tests.integration.console.conftest import browser_for, csrf_of, login, make_user  # noqa: F401 — a fixture
from tests.integration.payments.conftest import apply_notifications, configure_stripe, outcome_listener
from tests.integration.payments.test_notifications import paid_once
from tests.integration.payments.test_stripe import authorised, notify, stripe_routes, web_order
from tests.provider_receiver import ProviderReceiver

from omnihub.billing import notifications
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database

LIST = "/api/v1/payment-notifications"


def test_a_failed_notification_is_listed_with_its_error_and_retried_once_fixed(
        shop: TestClient, provider: ProviderReceiver, db: Database, clock: ManualClock) -> None:
    stripe_routes(provider)
    configure_stripe(shop, provider.base)
    order, other = web_order(shop), web_order(shop)
    broken = {"order": order["id"]}

    def listener(_conn: Any, _clock: Any, payment: dict[str, Any], _outcome: str, _reason: str | None) -> None:
        if payment["order_id"] == broken["order"]:
            raise RuntimeError("the order room is having a bad day")

    with outcome_listener(listener):
        ok(notify(shop, authorised(provider.intents["pi_0001"], "evt_broken")))  # type: ignore[attr-defined]
        ok(notify(shop, authorised(provider.intents["pi_0002"], "evt_fine")))  # type: ignore[attr-defined]
        for _ in range(notifications.MAX_ATTEMPTS):
            apply_notifications(shop)
            clock.advance(minutes=5)

        [failed] = ok(shop.get(LIST, params={"status": "failed"}))["items"]
        assert (failed["provider"], failed["event_id"], failed["attempts"]) == ("stripe", "evt_broken",
                                                                                 notifications.MAX_ATTEMPTS)
        assert failed["error"] == "RuntimeError: the order room is having a bad day"
        assert failed["next_attempt_at"] is None and failed["notice"]["event_id"] == "evt_broken"
        everything = ok(shop.get(LIST, params={"provider": "stripe"}))["items"]
        assert [n["event_id"] for n in everything] == ["evt_fine", "evt_broken"]  # newest first
        assert everything[0]["status"] == "done" and everything[0]["result"] is not None
        assert ok(shop.get(LIST, params={"provider": "paypal"}))["items"] == []
        assert ok(shop.get(f"{LIST}/{failed['id']}")) == failed
        assert ok(shop.get(f"/api/v1/orders/{order['id']}"))["status"] == "awaiting_payment"

        broken["order"] = ""  # the cause fixed
        retried = ok(shop.post(f"{LIST}/{failed['id']}/retry"))
        assert (retried["status"], retried["attempts"]) == ("pending", 0) and retried["next_attempt_at"]
        assert ok(shop.post(f"{LIST}/{failed['id']}/retry")) == retried  # pending already: left as it is
        assert apply_notifications(shop) == 1
    assert ok(shop.get(f"{LIST}/{failed['id']}"))["status"] == "done"
    paid_once(shop, db, order["id"])
    paid_once(shop, db, other["id"])
    problem(shop.post(f"{LIST}/{failed['id']}/retry"), 409, "notification_applied")
    problem(shop.get(f"{LIST}/pnt_nothing"), 404, "notification_not_found")
    problem(shop.post(f"{LIST}/pnt_nothing/retry"), 404, "notification_not_found")
    problem(shop.get(LIST, params={"status": "lost"}), 422, "validation_error")


def test_the_console_lists_a_failed_notification_with_its_error_and_retries_it(
        shop: TestClient, provider: ProviderReceiver, db: Database, clock: ManualClock, browser_for: Any  # noqa: F811
        ) -> None:
    stripe_routes(provider)
    configure_stripe(shop, provider.base)
    order = web_order(shop)

    def listener(_conn: Any, _clock: Any, _payment: dict[str, Any], _outcome: str, _reason: str | None) -> None:
        raise RuntimeError("stock room locked for inventory")

    with outcome_listener(listener):
        ok(notify(shop, authorised(provider.intents["pi_0001"], "evt_console")))  # type: ignore[attr-defined]
        for _ in range(notifications.MAX_ATTEMPTS):
            apply_notifications(shop)
            clock.advance(minutes=5)
    [failed] = ok(shop.get(LIST, params={"status": "failed"}))["items"]
    email, password = make_user(db, clock, "admin")
    console = login(browser_for(), email, password)

    listing = console.get("/connectors/payment-notifications")  # the failed ones by default
    detail = console.get(f"/connectors/payment-notifications/{failed['id']}")
    forged = console.post(f"/connectors/payment-notifications/{failed['id']}/retry", data={"csrf_token": "nope"})
    retried = console.post(f"/connectors/payment-notifications/{failed['id']}/retry",
                           data={"csrf_token": csrf_of(detail.text)}, follow_redirects=False)
    after = console.get(f"/connectors/payment-notifications/{failed['id']}", params={"done": "retry"})
    again = console.post(f"/connectors/payment-notifications/{failed['id']}/retry",
                         data={"csrf_token": csrf_of(detail.text)}, follow_redirects=False)
    applied = apply_notifications(shop)
    done = console.get(f"/connectors/payment-notifications/{failed['id']}")
    spanish = console.get("/connectors/payment-notifications", params={"status": "done"},
                          headers={"Accept-Language": "es"})

    assert "evt_console" in listing.text and "stock room locked for inventory" in listing.text
    assert "RuntimeError: stock room locked for inventory" in detail.text and "Retry" in detail.text
    assert forged.status_code == 403
    assert retried.status_code == 303 and "Back in the queue" in after.text and ">pending<" in after.text
    assert again.status_code == 303  # pending already: left as it is
    assert applied == 1 and ">applied<" in done.text and "Retry</button>" not in done.text
    assert "Notificaciones de pago" in spanish.text and "aplicada" in spanish.text
    paid_once(shop, db, order["id"])
    assert console.get("/connectors/payment-notifications/pnt_nothing").status_code == 404
