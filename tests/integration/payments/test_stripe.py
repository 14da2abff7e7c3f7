"""A web order paid by card through Stripe, end to end over HTTP against the local provider receiver: the order
waits `awaiting_payment` with its stock held, the PaymentIntent is created after commit (manual capture), the
signed notification makes it paid exactly once (twice, out of order, before the start was recorded), the
shipment captures it, a returned line is refunded through Stripe's refund API, a failed or expired payment
cancels the order and releases its stock, and a forged notification changes nothing."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.builders import ok, problem
from tests.integration.payments.conftest import (
    STRIPE_KEY,
    STRIPE_WHSEC,
    apply_notifications,
    configure_stripe,
    delivered,
    drive,
    intent_event,
    stripe_signed,
)
from tests.provider_receiver import Call, ProviderReceiver

from omnihub.billing import flow
from omnihub.billing.models import payment_providers, payments
from omnihub.commerce.payment_outcomes import issue_due_invoices
from omnihub.config import Settings
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database

HOOK = "/api/v1/connectors/stripe/webhooks"


def stripe_routes(provider: ProviderReceiver) -> ProviderReceiver:
    """Stripe's PaymentIntents API as it answers (form-encoded requests, JSON answers)."""
    intents: dict[str, dict[str, Any]] = {}

    def create(call: Call) -> tuple[int, Any]:
        form = call.form
        intent_id = f"pi_{len(intents) + 1:04d}"
        intents[intent_id] = {"id": intent_id, "object": "payment_intent", "amount": int(form["amount"]),
                              "currency": form["currency"], "capture_method": form["capture_method"],
                              "client_secret": f"{intent_id}_secret_abc", "status": "requires_payment_method",
                              "metadata": {"payment_id": form["metadata[payment_id]"],
                                           "order_id": form["metadata[order_id]"]},
                              "amount_capturable": 0, "amount_received": 0, "created": 1764770000}
        return 200, intents[intent_id]

    def capture(call: Call) -> tuple[int, Any]:
        intent = intents[call.path.split("/")[3]]
        intent.update(status="succeeded", amount_received=int(call.form["amount_to_capture"]), amount_capturable=0)
        return 200, intent

    def refund(call: Call) -> tuple[int, Any]:
        return 200, {"id": f"re_{len(provider.calls_to('POST', '/v1/refunds')):04d}", "object": "refund",
                     "amount": int(call.form["amount"]), "payment_intent": call.form["payment_intent"],
                     "status": "succeeded"}

    def cancel(call: Call) -> tuple[int, Any]:
        intent = intents[call.path.split("/")[3]]
        intent.update(status="canceled")
        return 200, intent

    provider.route("POST", "/v1/payment_intents", create)
    provider.route("POST", r"^/v1/payment_intents/pi_\d+/capture$", capture)
    provider.route("POST", r"^/v1/payment_intents/pi_\d+/cancel$", cancel)
    provider.route("POST", "/v1/refunds", refund)
    provider.intents = intents  # type: ignore[attr-defined]
    return provider


def web_order(api: TestClient, sku: str = "TEE-M", quantity: int = 1, amount: str = "20.00",
              method: str = "stripe") -> dict[str, Any]:
    return ok(api.post("/api/v1/orders", json={
        "channel": "web", "lines": [{"sku": sku, "quantity": quantity}],
        "fulfilment": {"type": "ship", "address": {"country": "ES", "city": "Madrid", "postal_code": "28001",
                                                   "line1": "Calle Mayor 1"}},
        "customer": {"email": "ana@example.com"}, "payments": [{"method": method, "amount": amount}]}), 201)


def reserved(api: TestClient, sku: str = "TEE-M") -> int:
    return ok(api.get(f"/api/v1/stock/{sku}"))["reserved"]


def notify(api: TestClient, event: dict[str, Any], secret: str = STRIPE_WHSEC) -> Any:
    body, headers = stripe_signed(event, secret)
    return api.post(HOOK, content=body, headers=headers)


def authorised(intent: dict[str, Any], event_id: str = "evt_auth") -> dict[str, Any]:
    return intent_event(event_id, "payment_intent.amount_capturable_updated",
                        {**intent, "status": "requires_capture", "amount_capturable": intent["amount"]})


def test_a_card_order_waits_for_stripe_and_is_paid_once(shop: TestClient, provider: ProviderReceiver, db: Database,
                                                        clock: ManualClock, settings: Settings) -> None:
    stripe_routes(provider)
    shown = configure_stripe(shop, provider.base)
    assert shown["config"] == {"api_base": provider.base, "publishable_key": "pk_test_local"}
    assert sorted(shown["secrets_set"]) == ["secret_key", "webhook_secret"]
    assert STRIPE_KEY not in shop.get("/api/v1/channels/web/payment-providers/stripe").text
    with db.read() as conn:  # sealed at rest
        sealed = conn.execute(sa.select(payment_providers.c.sealed)).scalar_one()
    assert STRIPE_KEY not in sealed and STRIPE_WHSEC not in sealed

    before = reserved(shop)
    order = web_order(shop)
    assert order["status"] == "awaiting_payment" and order["payment_status"] == "unpaid"
    assert reserved(shop) == before + 1  # stock held while the customer pays

    # Started after the order's commit: one PaymentIntent, as Stripe documents the call.
    [call] = provider.calls_to("POST", "/v1/payment_intents")
    assert call.headers["authorization"] == f"Bearer {STRIPE_KEY}"
    assert call.headers["idempotency-key"].startswith("start-ppy")
    form = call.form
    assert (form["amount"], form["currency"], form["capture_method"]) == ("2000", "eur", "manual")
    assert form["metadata[order_id]"] == order["id"] and form["automatic_payment_methods[enabled]"] == "true"
    view = ok(shop.get(f"/api/v1/orders/{order['id']}/provider-payments"))
    [payment] = view["payments"]
    assert payment["reference"] == "pi_0001" and payment["status"] == "started"
    assert payment["next_action"] == {"type": "stripe_client_secret", "client_secret": "pi_0001_secret_abc",
                                      "publishable_key": "pk_test_local"}

    intent = provider.intents["pi_0001"]  # type: ignore[attr-defined]
    first = delivered(shop, notify(shop, authorised(intent)))
    assert first == {"duplicate": False, "outcome": "authorized", "payment_id": payment["id"],
                     "status": "authorized"}
    assert delivered(shop, notify(shop, authorised(intent)))["duplicate"] is True  # the same event again
    late_failure = intent_event("evt_fail_late", "payment_intent.payment_failed",
                                {**intent, "last_payment_error": {"message": "Your card was declined."}})
    assert delivered(shop, notify(shop, late_failure))["outcome"] == "unchanged"  # out of order: success stands

    paid = ok(shop.get(f"/api/v1/orders/{order['id']}"))
    assert (paid["status"], paid["payment_status"]) == ("paid", "paid") and paid["invoice_number"] is None
    # The invoice is numbered by the worker's job, in batches (the notification holds no series lock).
    assert db.run(lambda conn: issue_due_invoices(conn, clock)) == 1
    assert db.run(lambda conn: issue_due_invoices(conn, clock)) == 0
    assert ok(shop.get(f"/api/v1/orders/{order['id']}"))["invoice_number"].startswith("INV-WEB-")
    history = ok(shop.get(f"/api/v1/orders/{order['id']}/history"))
    assert [h["to"] for h in history].count("paid") == 1
    with db.read() as conn:
        taken = conn.execute(sa.select(payments.c.method, payments.c.reference)
                             .where(payments.c.order_id == order["id"])).all()
    assert [tuple(t) for t in taken] == [("stripe", "stripe:pi_0001")]

    # Shipped → captured at Stripe (after the shipment's commit).
    ok(shop.post(f"/api/v1/orders/{order['id']}/shipments", json={"carrier": "SEUR", "tracking_number": "T1"}), 201)
    [capture] = provider.calls_to("POST", "/v1/payment_intents/pi_0001/capture")
    assert capture.form == {"amount_to_capture": "2000"}
    assert ok(shop.get(f"/api/v1/orders/{order['id']}/provider-payments"))["payments"][0]["status"] == "captured"
    assert drive(db, clock, settings) == 0  # nothing twice


def test_the_notification_may_come_before_the_start_is_recorded(shop: TestClient, provider: ProviderReceiver,
                                                                db: Database, clock: ManualClock) -> None:
    """Stripe may notify before the hub recorded the PaymentIntent (the start's answer lost, a slow commit): the
    notification names our payment in its metadata, so it still moves the order — and the start recorded later
    does not set it back."""
    provider.route("POST", "/v1/payment_intents", (503, {"error": {"message": "try later"}}))
    configure_stripe(shop, provider.base)
    order = web_order(shop)
    [payment] = ok(shop.get(f"/api/v1/orders/{order['id']}/provider-payments"))["payments"]
    assert payment["status"] == "pending" and payment["reference"] is None
    intent = {"id": "pi_early", "object": "payment_intent", "amount": 2000, "currency": "eur",
              "metadata": {"payment_id": payment["id"], "order_id": order["id"]}}
    assert delivered(shop, notify(shop, authorised(intent, "evt_early")))["status"] == "authorized"
    assert ok(shop.get(f"/api/v1/orders/{order['id']}"))["status"] == "paid"
    with db.transaction() as conn:
        flow._record_started(conn, clock, payment["id"], "pi_early", {"type": "stripe_client_secret"})
    [after] = ok(shop.get(f"/api/v1/orders/{order['id']}/provider-payments"))["payments"]
    assert (after["status"], after["reference"]) == ("authorized", "pi_early")


def test_a_failed_payment_cancels_the_order_and_releases_its_stock(shop: TestClient, provider: ProviderReceiver,
                                                                   ) -> None:
    stripe_routes(provider)
    configure_stripe(shop, provider.base)
    before = reserved(shop)
    order = web_order(shop)
    intent = provider.intents["pi_0001"]  # type: ignore[attr-defined]
    failed = intent_event("evt_failed", "payment_intent.payment_failed",
                          {**intent, "last_payment_error": {"message": "Your card was declined."}})
    assert delivered(shop, notify(shop, failed))["outcome"] == "failed"
    cancelled = ok(shop.get(f"/api/v1/orders/{order['id']}"))
    assert cancelled["status"] == "cancelled" and reserved(shop) == before
    history = ok(shop.get(f"/api/v1/orders/{order['id']}/history"))
    assert history[-1]["note"] == "payment failed: stripe: Your card was declined."
    [payment] = ok(shop.get(f"/api/v1/orders/{order['id']}/provider-payments"))["payments"]
    assert payment["status"] == "failed" and payment["reason"] == "stripe: Your card was declined."
    # A success that arrives after the failure does not revive it: the money is given back (voided).
    assert delivered(shop, notify(shop, authorised(intent, "evt_late")))["outcome"] == "late"
    assert ok(shop.get(f"/api/v1/orders/{order['id']}"))["status"] == "cancelled"


def test_an_unpaid_order_expires_and_its_stock_is_released(shop: TestClient, provider: ProviderReceiver,
                                                           db: Database, clock: ManualClock,
                                                           settings: Settings) -> None:
    stripe_routes(provider)
    configure_stripe(shop, provider.base, hold_minutes=15)
    before = reserved(shop)
    order = web_order(shop)
    from omnihub.worker import Worker

    worker = Worker(settings, db, clock)
    try:
        job = next(j for j in worker.jobs if j.name == "billing.expire_payments")
        clock.advance(minutes=14)
        assert worker.run_job(job) == 0
        clock.advance(minutes=2)
        assert worker.run_job(job) == 1
        assert worker.drive_payments() == 1  # the started PaymentIntent is voided at Stripe
    finally:
        worker.close()
    assert provider.calls_to("POST", "/v1/payment_intents/pi_0001/cancel")[0].form == {
        "cancellation_reason": "abandoned"}
    assert ok(shop.get(f"/api/v1/orders/{order['id']}"))["status"] == "cancelled" and reserved(shop) == before
    assert ok(shop.get(f"/api/v1/orders/{order['id']}/history"))[-1]["note"] == \
        "payment expired: not paid within 15 minutes"


def test_a_returned_line_is_refunded_through_stripe(shop: TestClient, provider: ProviderReceiver, db: Database,
                                                    clock: ManualClock, settings: Settings) -> None:
    stripe_routes(provider)
    configure_stripe(shop, provider.base)
    order = web_order(shop, quantity=2, amount="40.00")
    delivered(shop, notify(shop, authorised(provider.intents["pi_0001"])))  # type: ignore[attr-defined]
    ok(shop.post(f"/api/v1/orders/{order['id']}/shipments", json={"carrier": "SEUR", "tracking_number": "T1"}), 201)
    drive(db, clock, settings)
    back = ok(shop.post("/api/v1/returns", json={"order": order["id"], "location": "wh", "condition": "resellable",
                                                  "lines": [{"sku": "TEE-M", "quantity": 1}]}), 201)
    assert back["refund"]["amount"] == "20.00"
    assert drive(db, clock, settings) == 1
    [sent] = provider.calls_to("POST", "/v1/refunds")
    assert sent.form["payment_intent"] == "pi_0001" and sent.form["amount"] == "2000"
    assert sent.headers["idempotency-key"].startswith("refund-prf")
    [refund] = ok(shop.get(f"/api/v1/orders/{order['id']}/provider-payments"))["refunds"]
    assert (refund["status"], refund["reference"], refund["amount"]) == ("sent", "re_0001", "20.00")


def test_a_forged_or_stale_notification_changes_nothing(shop: TestClient, provider: ProviderReceiver) -> None:
    stripe_routes(provider)
    configure_stripe(shop, provider.base)
    order = web_order(shop)
    event = authorised(provider.intents["pi_0001"])  # type: ignore[attr-defined]
    problem(notify(shop, event, secret="whsec_forged"), 401, "notification_not_verified")
    body, headers = stripe_signed(event, at=1_600_000_000)  # signed long ago: a replay
    problem(shop.post(HOOK, content=body, headers=headers), 401, "notification_not_verified")
    problem(shop.post(HOOK, content=body), 401, "notification_not_verified")  # no signature at all
    assert shop.post("/api/v1/connectors/nopay/webhooks", content=b"{}").status_code == 404
    assert apply_notifications(shop) == 0  # nothing was stored for the worker
    assert ok(shop.get(f"/api/v1/orders/{order['id']}"))["status"] == "awaiting_payment"


def test_the_channel_needs_an_account_and_secrets_are_checked(shop: TestClient, provider: ProviderReceiver) -> None:
    problem(web_order_raw(shop), 422, "provider_not_configured")
    problem(shop.put("/api/v1/channels/web/payment-providers/stripe", json={"secret_key": "sk"}), 422,
            "provider_field_missing")
    problem(shop.put("/api/v1/channels/web/payment-providers/stripe", json={
        "secret_key": "sk", "webhook_secret": "wh", "merchant_code": "1"}), 422, "provider_field_unknown")
    problem(shop.put("/api/v1/channels/web/payment-providers/stripe", json={
        "secret_key": "sk", "webhook_secret": "wh", "api_base": "http://169.254.169.254"}), 422,
        "provider_url_refused")
    problem(shop.put("/api/v1/channels/nowhere/payment-providers/stripe", json={
        "secret_key": "sk", "webhook_secret": "wh"}), 404, "channel_not_found")


def web_order_raw(api: TestClient) -> Any:
    return api.post("/api/v1/orders", json={
        "channel": "web", "lines": [{"sku": "TEE-M", "quantity": 1}],
        "fulfilment": {"type": "ship", "address": {"country": "ES", "city": "Madrid", "postal_code": "28001",
                                                   "line1": "Calle Mayor 1"}},
        "payments": [{"method": "stripe", "amount": "20.00"}]})


@pytest.mark.parametrize("db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_a_duplicate_storm_pays_once_on_postgres(shop: TestClient, provider: ProviderReceiver, db: Database,
                                                 clock: ManualClock) -> None:
    """The same notification three times and a differently numbered one for the same payment, all at once:
    one state change, one payment recorded, one invoice."""
    stripe_routes(provider)
    configure_stripe(shop, provider.base)
    order = web_order(shop)
    intent = provider.intents["pi_0001"]  # type: ignore[attr-defined]
    events = [authorised(intent, "evt_a")] * 3 + [authorised(intent, "evt_b")] * 3 + [
        intent_event("evt_c", "payment_intent.succeeded", {**intent, "status": "succeeded", "amount_received": 2000})]
    results: list[Any] = []
    barrier = threading.Barrier(len(events))

    def send(event: dict[str, Any]) -> None:
        barrier.wait()
        results.append(notify(shop, event))

    threads = [threading.Thread(target=send, args=(e,)) for e in events]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.status_code == 200 for r in results), [r.text for r in results]
    assert sum(not r.json()["duplicate"] for r in results) == 3  # evt_a, evt_b, evt_c stored once each
    assert apply_notifications(shop) == 3
    with db.read() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(payments)
                             .where(payments.c.order_id == order["id"])).scalar_one()
    assert count == 1
    history = ok(shop.get(f"/api/v1/orders/{order['id']}/history"))
    assert [h["to"] for h in history].count("paid") == 1
    assert db.run(lambda conn: issue_due_invoices(conn, clock)) == 1  # queued once: one invoice


def test_a_click_and_collect_order_is_captured_at_the_hand_over(shop: TestClient, provider: ProviderReceiver,
                                                                associate: Any) -> None:
    stripe_routes(provider)
    configure_stripe(shop, provider.base)
    order = ok(shop.post("/api/v1/orders", json={
        "channel": "web", "lines": [{"sku": "TEE-M", "quantity": 1}],
        "fulfilment": {"type": "pickup", "location": "mad"},
        "customer": {"email": "ana@example.com"}, "payments": [{"method": "stripe", "amount": "20.00"}]}), 201)
    delivered(shop, notify(shop, authorised(provider.intents["pi_0001"])))  # type: ignore[attr-defined]
    mad = associate("mad")
    code = ok(shop.post(f"/api/v1/orders/{order['id']}/ready", headers=mad))["pickup"]["code"]
    assert provider.calls_to("POST", "/v1/payment_intents/pi_0001/capture") == []  # not before the hand-over
    ok(shop.post(f"/api/v1/orders/{order['id']}/collect", json={"code": code}, headers=mad))
    [capture] = provider.calls_to("POST", "/v1/payment_intents/pi_0001/capture")
    assert capture.form == {"amount_to_capture": "2000"}
    assert ok(shop.get(f"/api/v1/orders/{order['id']}/provider-payments"))["payments"][0]["status"] == "captured"
