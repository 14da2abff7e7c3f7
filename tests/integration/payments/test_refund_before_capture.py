"""A refund of money only authorised (not captured yet) is never a refund at the provider: the share is released
and the capture takes the rest only — Stripe `amount_to_capture`, PayPal a final partial capture (which voids the
remainder) — and releasing all of it (the paid order cancelled before it ships) voids the authorisation. Checked
against the local receiver: no refund call, the capture's amount, the void."""

from __future__ import annotations

from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from tests.builders import ok
from tests.integration.payments.conftest import configure_stripe, delivered, drive
from tests.integration.payments.test_paypal import (
    CLIENT_ID,
    CLIENT_SECRET,
    HOOK,
    TRANSMISSION,
    WEBHOOK_ID,
    approved,
    paypal_routes,
)
from tests.integration.payments.test_redsys_btcpay import order_paid_with
from tests.integration.payments.test_stripe import authorised, notify, stripe_routes, web_order
from tests.provider_receiver import ProviderReceiver

from omnihub.billing import service as billing_service
from omnihub.config import Settings
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database

SHIP = {"carrier": "SEUR", "tracking_number": "T1"}


def _refund(db: Database, clock: ManualClock, order_id: str, amount: str) -> dict:
    """What a partial refund of a paid order does (the returns and order-edit paths call this in their
    transaction): allocated over the order's payments, each share back through its own gateway."""
    with db.transaction() as conn:
        return billing_service.refund(conn, clock, order_id=order_id, customer_id=None, currency="EUR",
                                      amount=Decimal(amount), method="original", reason="goodwill")


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
def test_stripe_partial_refund_before_capture_captures_the_rest(
        shop: TestClient, provider: ProviderReceiver, db: Database, clock: ManualClock, settings: Settings) -> None:
    stripe_routes(provider)
    configure_stripe(shop, provider.base)
    order = web_order(shop, quantity=2, amount="40.00")
    delivered(shop, notify(shop, authorised(provider.intents["pi_0001"])))  # type: ignore[attr-defined]
    assert ok(shop.get(f"/api/v1/orders/{order['id']}"))["status"] == "paid"

    refund = _refund(db, clock, order["id"], "15.00")
    assert refund["refunds"][0]["reference"].startswith("stripe-release:")
    assert drive(db, clock, settings) == 0 and provider.calls_to("POST", "/v1/refunds") == []
    [released] = ok(shop.get(f"/api/v1/orders/{order['id']}/provider-payments"))["refunds"]
    assert (released["status"], released["amount"]) == ("released", "15.00")

    ok(shop.post(f"/api/v1/orders/{order['id']}/shipments", json=SHIP), 201)
    [capture] = provider.calls_to("POST", "/v1/payment_intents/pi_0001/capture")
    assert capture.form == {"amount_to_capture": "2500"}  # Stripe releases the other 15.00
    [payment] = ok(shop.get(f"/api/v1/orders/{order['id']}/provider-payments"))["payments"]
    assert (payment["status"], payment["captured"]) == ("captured", "25.00")
    # After the capture a refund is a refund again.
    _refund(db, clock, order["id"], "5.00")
    assert drive(db, clock, settings) == 1
    [sent] = provider.calls_to("POST", "/v1/refunds")
    assert sent.form["amount"] == "500" and sent.form["payment_intent"] == "pi_0001"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_stripe_refund_of_everything_before_capture_voids_it(
        shop: TestClient, provider: ProviderReceiver, db: Database, clock: ManualClock, settings: Settings) -> None:
    stripe_routes(provider)
    configure_stripe(shop, provider.base)
    order = web_order(shop)
    delivered(shop, notify(shop, authorised(provider.intents["pi_0001"])))  # type: ignore[attr-defined]
    ok(shop.post(f"/api/v1/orders/{order['id']}/cancel"))  # paid, not shipped: all of it goes back
    drive(db, clock, settings)
    assert len(provider.calls_to("POST", "/v1/payment_intents/pi_0001/cancel")) == 1
    assert provider.calls_to("POST", "/v1/refunds") == [] and provider.calls_to(
        "POST", "/v1/payment_intents/pi_0001/capture") == []
    view = ok(shop.get(f"/api/v1/orders/{order['id']}/provider-payments"))
    assert view["payments"][0]["status"] == "refunded" and view["refunds"][0]["status"] == "released"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_paypal_partial_refund_before_capture_is_a_final_partial_capture(
        shop: TestClient, provider: ProviderReceiver, db: Database, clock: ManualClock, settings: Settings) -> None:
    paypal_routes(provider)
    ok(shop.put("/api/v1/channels/web/payment-providers/paypal", json={
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "webhook_id": WEBHOOK_ID,
        "api_base": provider.base}), 201)
    order = order_paid_with(shop, "paypal_checkout", quantity=2)
    [payment] = ok(shop.get(f"/api/v1/orders/{order['id']}/provider-payments"))["payments"]
    delivered(shop, shop.post(HOOK, content=approved(payment["id"]), headers=TRANSMISSION))
    drive(db, clock, settings)  # authorised
    assert ok(shop.get(f"/api/v1/orders/{order['id']}"))["status"] == "paid"

    _refund(db, clock, order["id"], "20.00")
    ok(shop.post(f"/api/v1/orders/{order['id']}/shipments", json=SHIP), 201)
    [capture] = provider.calls_to("POST", "/v2/payments/authorizations/0AW2184448108334S/capture")
    assert capture.json == {"amount": {"currency_code": "EUR", "value": "20.00"}, "final_capture": True}
    assert provider.calls_to("POST", "/v2/payments/captures/2GG279541U471931P/refund") == []
