"""The customer's return from the provider, verified server-side through HTTP: the hub asks the provider (Stripe's
PaymentIntent, PayPal's order, BTCPay's invoice) or checks Redsys' signed URLOK parameters, and moves the payment
exactly as the notification would — once, whichever of the two arrives first. A redirect naming no payment of ours,
one the provider does not back, or a forged Redsys signature changes nothing."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.builders import ok, problem
from tests.integration.payments.conftest import STRIPE_KEY, configure_stripe, delivered
from tests.integration.payments.test_paypal import (
    CLIENT_ID,
    CLIENT_SECRET,
    HOOK,
    TRANSMISSION,
    WEBHOOK_ID,
    approved,
    paypal_routes,
)
from tests.integration.payments.test_redsys_btcpay import (
    BTC_HOOK_SECRET,
    BTC_KEY,
    FORM,
    MERCHANT,
    REDSYS_KEY,
    STORE,
    btcpay_event,
    order_paid_with,
    redsys_notification,
)
from tests.integration.payments.test_stripe import authorised, notify, stripe_routes, web_order
from tests.provider_receiver import Call, ProviderReceiver

from omnihub.billing.models import payments
from omnihub.core.db import Database


def _paid_once(api: TestClient, db: Database, order_id: str) -> None:
    history = ok(api.get(f"/api/v1/orders/{order_id}/history"))
    assert [h["to"] for h in history] == ["awaiting_payment", "paid"]
    with db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).where(payments.c.order_id == order_id)).scalar_one() == 1


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
def test_stripe_return_is_asked_of_stripe_and_applied_once(shop: TestClient, provider: ProviderReceiver,
                                                           db: Database) -> None:
    stripe_routes(provider)
    intents = provider.intents  # type: ignore[attr-defined]

    def show(call: Call) -> tuple[int, Any]:
        intent = intents.get(call.path.rsplit("/", 1)[1])
        return (200, intent) if intent else (404, {"error": {"type": "invalid_request_error"}})

    provider.route("GET", r"^/v1/payment_intents/pi_\d+$", show)
    configure_stripe(shop, provider.base)
    first, second = web_order(shop), web_order(shop)
    back = "/api/v1/connectors/stripe/return"

    # Back before paying (3-D Secure abandoned): Stripe says it still needs a payment method — nothing moves.
    answer = ok(shop.get(back, params={"payment_intent": "pi_0001", "payment_intent_client_secret": "x",
                                       "redirect_status": "failed"}))
    assert (answer["outcome"], answer["status"], answer["order_id"]) == ("ignored", "started", first["id"])
    [asked] = provider.calls_to("GET", "/v1/payment_intents/pi_0001")
    assert asked.headers["authorization"] == f"Bearer {STRIPE_KEY}"

    # The redirect comes before the notification: it applies; the notification then changes nothing.
    intents["pi_0001"].update(status="requires_capture", amount_capturable=2000)
    answer = ok(shop.get(back, params={"payment_intent": "pi_0001", "redirect_status": "succeeded"}))
    assert (answer["outcome"], answer["status"], answer["duplicate"]) == ("authorized", "authorized", False)
    assert ok(shop.get(back, params={"payment_intent": "pi_0001"}))["duplicate"] is True  # reloaded
    assert delivered(shop, notify(shop, authorised(intents["pi_0001"], "evt_a1")))["outcome"] == "unchanged"
    assert ok(shop.get(f"/api/v1/orders/{first['id']}"))["status"] == "paid"
    _paid_once(shop, db, first["id"])

    # The notification first: the redirect then changes nothing.
    assert delivered(shop, notify(shop, authorised({**intents["pi_0002"]}, "evt_a2")))["status"] == "authorized"
    intents["pi_0002"].update(status="requires_capture", amount_capturable=2000)
    assert ok(shop.get(back, params={"payment_intent": "pi_0002"}))["outcome"] == "unchanged"
    _paid_once(shop, db, second["id"])

    # Forged: an intent the hub never started, a missing parameter — refused before Stripe is asked.
    calls = len(provider.calls)
    problem(shop.get(back, params={"payment_intent": "pi_9999"}), 401, "return_not_verified")
    problem(shop.get(back), 422, "return_unreadable")
    assert len(provider.calls) == calls
    # Ours by reference, but Stripe's intent belongs to another payment: not backed.
    third = web_order(shop)
    intents["pi_0003"].update(status="requires_capture", amount_capturable=2000, metadata={"payment_id": "ppy_x"})
    problem(shop.get(back, params={"payment_intent": "pi_0003"}), 401, "return_not_verified")
    assert ok(shop.get(f"/api/v1/orders/{third['id']}"))["status"] == "awaiting_payment"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_paypal_return_shows_the_order_then_authorises(shop: TestClient, provider: ProviderReceiver,
                                                       db: Database) -> None:
    paypal_routes(provider)
    shown: dict[str, Any] = {"status": "PAYER_ACTION_REQUIRED"}
    provider.route("GET", "/v2/checkout/orders/5O190127TN364715T", lambda c: (200, {
        "id": "5O190127TN364715T", "intent": "AUTHORIZE", "status": shown["status"],
        "purchase_units": [{"custom_id": shown.get("custom_id"), "amount": {"currency_code": "EUR",
                                                                             "value": "20.00"}}]})
                   if c.bearer == "A21AAtoken" else (401, {"name": "AUTHENTICATION_FAILURE"}))
    ok(shop.put("/api/v1/channels/web/payment-providers/paypal", json={
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "webhook_id": WEBHOOK_ID,
        "api_base": provider.base}), 201)
    order = order_paid_with(shop, "paypal_checkout")
    [payment] = ok(shop.get(f"/api/v1/orders/{order['id']}/provider-payments"))["payments"]
    back = "/api/v1/connectors/paypal/return"

    shown.update(status="APPROVED", custom_id="ppy_someone_else")
    problem(shop.get(back, params={"token": "5O190127TN364715T", "PayerID": "QYR5Z8XDVJNXQ"}), 401,
            "return_not_verified")
    shown["custom_id"] = payment["id"]
    answer = ok(shop.get(back, params={"token": "5O190127TN364715T", "PayerID": "QYR5Z8XDVJNXQ"}))
    assert (answer["outcome"], answer["status"]) == ("approved", "authorized")  # authorised right away
    assert len(provider.calls_to("GET", "/v2/checkout/orders/5O190127TN364715T")) == 2
    assert delivered(shop, shop.post(HOOK, content=approved(payment["id"]),
                                     headers=TRANSMISSION))["outcome"] == "unchanged"
    assert len(provider.calls_to("POST", "/v2/checkout/orders/5O190127TN364715T/authorize")) == 1
    _paid_once(shop, db, order["id"])


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_redsys_urlok_is_verified_like_the_notification(shop: TestClient, provider: ProviderReceiver,
                                                        db: Database) -> None:
    ok(shop.put("/api/v1/channels/web/payment-providers/redsys", json={
        "secret": REDSYS_KEY, "merchant_code": MERCHANT, "terminal": "1"}), 201)
    order = order_paid_with(shop, "redsys")
    [payment] = ok(shop.get(f"/api/v1/orders/{order['id']}/provider-payments"))["payments"]
    back = "/api/v1/connectors/redsys/return"
    forged = dict(parse_qsl(redsys_notification(payment["reference"], "0000", key="bm90LXRoZS1tZXJjaGFudC1rZXktMjRi")
                            .decode()))
    problem(shop.get(back, params=forged), 401, "return_not_verified")
    problem(shop.get(back), 401, "return_not_verified")  # unsigned
    assert ok(shop.get(f"/api/v1/orders/{order['id']}"))["status"] == "awaiting_payment"

    signed = redsys_notification(payment["reference"], "0000")
    answer = ok(shop.get(back, params=dict(parse_qsl(signed.decode()))))
    assert (answer["status"], answer["order_id"]) == ("captured", order["id"])
    # Redsys' notification (the same operation) after the customer's return: a duplicate.
    assert delivered(shop, shop.post("/api/v1/connectors/redsys/webhooks", content=signed,
                                     headers=FORM))["duplicate"] is True
    assert provider.calls == []
    _paid_once(shop, db, order["id"])


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_btcpay_return_reads_the_invoice(shop: TestClient, provider: ProviderReceiver, db: Database) -> None:
    invoice = {"id": "Inv9x", "checkoutLink": f"{provider.base}/i/Inv9x", "status": "New", "amount": "20.00",
               "currency": "EUR", "additionalStatus": "None", "metadata": {}}
    provider.route("POST", f"/api/v1/stores/{STORE}/invoices", lambda c: (200, {**invoice, "metadata": c.json[
        "metadata"]}))
    provider.route("GET", f"/api/v1/stores/{STORE}/invoices/Inv9x", lambda c: (200, invoice)
                   if c.headers.get("authorization") == f"token {BTC_KEY}" else (401, {}))
    ok(shop.put("/api/v1/channels/web/payment-providers/btcpay", json={
        "api_key": BTC_KEY, "webhook_secret": BTC_HOOK_SECRET, "store_id": STORE, "api_base": provider.base}), 201)
    order = order_paid_with(shop, "btcpay")
    [payment] = ok(shop.get(f"/api/v1/orders/{order['id']}/provider-payments"))["payments"]
    invoice.update(status="Settled", metadata={"paymentId": payment["id"], "orderId": order["id"]})
    answer = ok(shop.get("/api/v1/connectors/btcpay/return", params={"invoiceId": "Inv9x"}))
    assert (answer["outcome"], answer["status"]) == ("captured", "captured")
    body, headers = btcpay_event("InvoiceSettled", "Inv9x", payment["id"], "d9")
    assert delivered(shop, shop.post("/api/v1/connectors/btcpay/webhooks", content=body,
                                     headers=headers))["outcome"] == "unchanged"
    _paid_once(shop, db, order["id"])
