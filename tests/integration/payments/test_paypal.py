"""PayPal Orders v2 end to end against the local receiver: OAuth client credentials, the order created after
commit with `intent: AUTHORIZE` and the buyer's approve link, the approval webhook verified by asking PayPal,
authorised by the hub (after commit) → paid once, captured on shipment, a line refunded; a webhook PayPal does
not confirm changes nothing."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.builders import ok, problem
from tests.integration.payments.conftest import delivered, drive
from tests.provider_receiver import Call, ProviderReceiver

from omnihub.config import Settings
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database

CLIENT_ID, CLIENT_SECRET, WEBHOOK_ID = "AYpaypal-client", "EPpaypal-secret", "8PT597110X687430LKGECATA"
ADDRESS = {"country": "ES", "city": "Madrid", "postal_code": "28001", "line1": "Calle Mayor 1"}
HOOK = "/api/v1/connectors/paypal/webhooks"
SIGNATURE = ("lmI95Jx3Y9nhR5SJWlHVIWpg4AgFk7n9bCHSRxbrd8A9zrhdu2rMyFrmz+Zjh3s3boXB07VXCXUZy/UFzUlnGJn0wDugt7FlSvdK"
             "eIJenLRemUxYCPVoEZzg9VFNqOa48gMkvF+XTpxBeUx/kWy6B5cp7GkT2+pOowfRK7OaynuxUoKW3JcMWw272VKjLTtTAShncla7"
             "tGF+55rxyt2KNZIIqxNMJ48RDZheGU5w1npu9dZHnPgTXB9iomeVRoD8O/jhRpnKsGrDschyNdkeh81BJJMH4Ctc6lnCCquoP/Gz"
             "Czz33MMsNdid7vL/NIWaCsekQpW26FpWPi/tfj8nLA==")
TRANSMISSION = {"PAYPAL-AUTH-ALGO": "SHA256withRSA",
                "PAYPAL-CERT-URL": "https://api.paypal.com/v1/notifications/certs/CERT-1",
                "PAYPAL-TRANSMISSION-ID": "69cd13f0-d67a-11e5-baa3-778b53f4ae55",
                "PAYPAL-TRANSMISSION-SIG": SIGNATURE,
                "PAYPAL-TRANSMISSION-TIME": "2026-12-03T16:05:00Z", "Content-Type": "application/json"}


def paypal_routes(provider: ProviderReceiver, *, verified: bool = True) -> ProviderReceiver:
    basic = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()

    def oauth(call: Call) -> tuple[int, Any]:
        if call.headers.get("authorization") != basic or call.form != {"grant_type": "client_credentials"}:
            return 401, {"error": "invalid_client"}
        return 200, {"scope": "https://uri.paypal.com/services/payments/payment", "access_token": "A21AAtoken",
                     "token_type": "Bearer", "app_id": "APP-80W284485P519543T", "expires_in": 32400}

    def authed(handler: Any) -> Any:
        def answer(call: Call) -> tuple[int, Any]:
            if call.bearer != "A21AAtoken":
                return 401, {"name": "AUTHENTICATION_FAILURE"}
            return handler(call)
        return answer

    def create(call: Call) -> tuple[int, Any]:
        body = call.json
        unit = body["purchase_units"][0]
        return 200, {"id": "5O190127TN364715T", "status": "PAYER_ACTION_REQUIRED", "intent": body["intent"],
                     "purchase_units": [unit],
                     "links": [{"href": "https://api-m.paypal.com/v2/checkout/orders/5O190127TN364715T", "rel": "self",
                                "method": "GET"},
                               {"href": "https://www.paypal.com/checkoutnow?token=5O190127TN364715T",
                                "rel": "payer-action", "method": "GET"}]}

    def authorize(call: Call) -> tuple[int, Any]:
        return 201, {"id": "5O190127TN364715T", "status": "COMPLETED", "purchase_units": [{"payments": {
            "authorizations": [{"id": "0AW2184448108334S", "status": "CREATED",
                                "amount": {"currency_code": "EUR", "value": "40.00"}}]}}]}

    def capture(call: Call) -> tuple[int, Any]:
        return 201, {"id": "2GG279541U471931P", "status": "COMPLETED"}

    def refund(call: Call) -> tuple[int, Any]:
        return 201, {"id": "1JU08902781691411", "status": "COMPLETED", "amount": call.json["amount"]}

    def verify(call: Call) -> tuple[int, Any]:
        body = call.json
        ok_call = body["webhook_id"] == WEBHOOK_ID and body["transmission_id"] == TRANSMISSION[
            "PAYPAL-TRANSMISSION-ID"] and verified
        return 200, {"verification_status": "SUCCESS" if ok_call else "FAILURE"}

    provider.route("POST", "/v1/oauth2/token", oauth)
    provider.route("POST", "/v2/checkout/orders", authed(create))
    provider.route("POST", "/v2/checkout/orders/5O190127TN364715T/authorize", authed(authorize))
    provider.route("POST", "/v2/payments/authorizations/0AW2184448108334S/capture", authed(capture))
    provider.route("POST", "/v2/payments/captures/2GG279541U471931P/refund", authed(refund))
    provider.route("POST", "/v1/notifications/verify-webhook-signature", authed(verify))
    return provider


def approved(payment_id: str, event_id: str = "WH-7Y7254563A4550640-11V2185806837105M") -> bytes:
    return json.dumps({"id": event_id, "event_version": "1.0", "create_time": "2026-12-03T16:05:00.000Z",
                       "resource_type": "checkout-order", "event_type": "CHECKOUT.ORDER.APPROVED",
                       "summary": "An order has been approved by buyer",
                       "resource": {"id": "5O190127TN364715T", "intent": "AUTHORIZE", "status": "APPROVED",
                                    "purchase_units": [{"custom_id": payment_id,
                                                        "amount": {"currency_code": "EUR", "value": "40.00"}}]}}
                      ).encode()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # one engine: PostgreSQL runs test_stripe and the races
def test_a_paypal_order_authorised_on_approval_and_captured_on_shipment(
        shop: TestClient, provider: ProviderReceiver, db: Database, clock: ManualClock, settings: Settings) -> None:
    paypal_routes(provider)
    ok(shop.put("/api/v1/channels/web/payment-providers/paypal", json={
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "webhook_id": WEBHOOK_ID,
        "api_base": provider.base}), 201)
    order = ok(shop.post("/api/v1/orders", json={
        "channel": "web", "lines": [{"sku": "TEE-M", "quantity": 2}],
        "fulfilment": {"type": "ship", "address": ADDRESS},
        "payments": [{"method": "paypal_checkout", "amount": "40.00"}]}), 201)
    assert order["status"] == "awaiting_payment"
    [created] = provider.calls_to("POST", "/v2/checkout/orders")
    assert created.bearer == "A21AAtoken" and created.headers["paypal-request-id"].startswith("start-ppy")
    [payment] = ok(shop.get(f"/api/v1/orders/{order['id']}/provider-payments"))["payments"]
    assert created.json == {"intent": "AUTHORIZE", "purchase_units": [{
        "reference_id": order["id"], "custom_id": payment["id"], "amount": {"currency_code": "EUR", "value": "40.00"}}]}
    assert payment["next_action"] == {"type": "redirect",
                                      "url": "https://www.paypal.com/checkoutnow?token=5O190127TN364715T"}

    answer = delivered(shop, shop.post(HOOK, content=approved(payment["id"]), headers=TRANSMISSION))
    assert answer["outcome"] == "approved"
    [asked] = provider.calls_to("POST", "/v1/notifications/verify-webhook-signature")
    assert asked.json["webhook_event"]["event_type"] == "CHECKOUT.ORDER.APPROVED"
    assert asked.json["cert_url"] == TRANSMISSION["PAYPAL-CERT-URL"]
    assert delivered(shop, shop.post(HOOK, content=approved(payment["id"]), headers=TRANSMISSION))["duplicate"] is True
    assert drive(db, clock, settings) == 1  # the hub authorises, after commit
    paid = ok(shop.get(f"/api/v1/orders/{order['id']}"))
    assert (paid["status"], paid["payment_status"]) == ("paid", "paid")
    assert len(provider.calls_to("POST", "/v2/checkout/orders/5O190127TN364715T/authorize")) == 1

    ok(shop.post(f"/api/v1/orders/{order['id']}/shipments", json={"carrier": "SEUR", "tracking_number": "P1"}), 201)
    assert drive(db, clock, settings) == 0  # captured after the shipment's commit already
    [capture] = provider.calls_to("POST", "/v2/payments/authorizations/0AW2184448108334S/capture")
    assert capture.json == {"amount": {"currency_code": "EUR", "value": "40.00"}, "final_capture": True}
    ok(shop.post("/api/v1/returns", json={"order": order["id"], "location": "wh", "condition": "resellable",
                                           "lines": [{"sku": "TEE-M", "quantity": 1}]}), 201)
    assert drive(db, clock, settings) == 1
    [refund] = provider.calls_to("POST", "/v2/payments/captures/2GG279541U471931P/refund")
    assert refund.json["amount"] == {"currency_code": "EUR", "value": "20.00"}
    assert ok(shop.get(f"/api/v1/orders/{order['id']}/provider-payments"))["refunds"][0]["reference"] == \
        "1JU08902781691411"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # one engine: PostgreSQL runs test_stripe and the races
def test_a_webhook_paypal_does_not_confirm_changes_nothing(shop: TestClient, provider: ProviderReceiver) -> None:
    paypal_routes(provider, verified=False)
    ok(shop.put("/api/v1/channels/web/payment-providers/paypal", json={
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "webhook_id": WEBHOOK_ID,
        "api_base": provider.base}), 201)
    order = ok(shop.post("/api/v1/orders", json={
        "channel": "web", "lines": [{"sku": "TEE-M", "quantity": 1}],
        "fulfilment": {"type": "ship", "address": ADDRESS},
        "payments": [{"method": "paypal_checkout", "amount": "20.00"}]}), 201)
    [payment] = ok(shop.get(f"/api/v1/orders/{order['id']}/provider-payments"))["payments"]
    problem(shop.post(HOOK, content=approved(payment["id"]), headers=TRANSMISSION), 401, "notification_not_verified")
    problem(shop.post(HOOK, content=approved(payment["id"]), headers={"Content-Type": "application/json"}), 401,
            "notification_not_verified")
    [after] = ok(shop.get(f"/api/v1/orders/{order['id']}/provider-payments"))["payments"]
    assert after["status"] == "started" and ok(shop.get(f"/api/v1/orders/{order['id']}"))["status"] == \
        "awaiting_payment"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_events_without_an_id_are_told_apart_by_their_body(shop: TestClient, provider: ProviderReceiver) -> None:
    """A verified event that carries no id is named by its body's SHA-256: the same body again is a duplicate,
    another order's event is its own — never both stored under one empty id, the second dropped."""
    paypal_routes(provider)
    ok(shop.put("/api/v1/channels/web/payment-providers/paypal", json={
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "webhook_id": WEBHOOK_ID,
        "api_base": provider.base}), 201)
    bodies = []
    for _ in range(2):
        order = ok(shop.post("/api/v1/orders", json={
            "channel": "web", "lines": [{"sku": "TEE-M", "quantity": 1}],
            "fulfilment": {"type": "ship", "address": ADDRESS},
            "payments": [{"method": "paypal_checkout", "amount": "20.00"}]}), 201)
        [payment] = ok(shop.get(f"/api/v1/orders/{order['id']}/provider-payments"))["payments"]
        event = json.loads(approved(payment["id"]))
        del event["id"]
        bodies.append(json.dumps(event).encode())
    first = delivered(shop, shop.post(HOOK, content=bodies[0], headers=TRANSMISSION))
    second = delivered(shop, shop.post(HOOK, content=bodies[1], headers=TRANSMISSION))
    again = delivered(shop, shop.post(HOOK, content=bodies[0], headers=TRANSMISSION))
    assert (first["duplicate"], second["duplicate"], again["duplicate"]) == (False, False, True)
    assert first["outcome"] == second["outcome"] == "approved" and first["payment_id"] != second["payment_id"]
