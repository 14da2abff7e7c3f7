"""Bizum through Redsys and bitcoin through BTCPay Server, end to end over HTTP: the form (or checkout link) the
front end needs, notifications signed as each provider signs them, twice → paid once, a refund through Redsys'
REST operation, an underpaid BTCPay invoice that stays unpaid with the reason, and forged signatures refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from tests.builders import ok, problem
from tests.integration.payments.conftest import delivered, drive
from tests.provider_receiver import Call, ProviderReceiver

from omnihub.billing.providers import redsys
from omnihub.config import Settings
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database

REDSYS_KEY = "sq7HjrUOBfKmC576ILgskD5srU870gJ7"  # Redsys' published test key
MERCHANT = "999008881"
ADDRESS = {"country": "ES", "city": "Madrid", "postal_code": "28001", "line1": "Calle Mayor 1"}


def order_paid_with(api: TestClient, method: str, quantity: int = 1) -> dict[str, Any]:
    return ok(api.post("/api/v1/orders", json={
        "channel": "web", "lines": [{"sku": "TEE-M", "quantity": quantity}],
        "fulfilment": {"type": "ship", "address": ADDRESS}, "customer": {"email": "luis@example.com"},
        "payments": [{"method": method, "amount": f"{20 * quantity}.00"}]}), 201)


def redsys_notification(order: str, response: str, *, amount: str = "2000", key: str = REDSYS_KEY,
                        kind: str = "0") -> bytes:
    params = {"Ds_Date": "03%2F12%2F2026", "Ds_Hour": "16%3A05", "Ds_Amount": amount, "Ds_Currency": "978",
              "Ds_Order": order, "Ds_MerchantCode": MERCHANT, "Ds_Terminal": "001", "Ds_Response": response,
              "Ds_TransactionType": kind, "Ds_SecurePayment": "1", "Ds_AuthorisationCode": "836912",
              "Ds_ProcessedPayMethod": "68"}
    encoded = base64.b64encode(json.dumps(params).encode()).decode()
    signature = base64.urlsafe_b64encode(base64.b64decode(redsys.sign(key, order, encoded))).decode()
    return urlencode({"Ds_SignatureVersion": "HMAC_SHA256_V1", "Ds_MerchantParameters": encoded,
                      "Ds_Signature": signature}).encode()


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # one engine: PostgreSQL runs test_stripe and the races
def test_a_bizum_order_through_redsys(shop: TestClient, provider: ProviderReceiver, db: Database,
                                      clock: ManualClock, settings: Settings) -> None:
    def refund(call: Call) -> tuple[int, Any]:
        body = call.json
        params = redsys.decode_parameters(body["Ds_MerchantParameters"])
        assert body["Ds_SignatureVersion"] == "HMAC_SHA256_V1"
        assert body["Ds_Signature"] == redsys.sign(REDSYS_KEY, params["DS_MERCHANT_ORDER"],
                                                   body["Ds_MerchantParameters"])
        answer = {"Ds_Amount": params["DS_MERCHANT_AMOUNT"], "Ds_Currency": "978",
                  "Ds_Order": params["DS_MERCHANT_ORDER"], "Ds_MerchantCode": MERCHANT, "Ds_Terminal": "1",
                  "Ds_Response": "0900", "Ds_AuthorisationCode": "836913", "Ds_TransactionType": "3"}
        encoded = base64.b64encode(json.dumps(answer).encode()).decode()
        return 200, {"Ds_SignatureVersion": "HMAC_SHA256_V1", "Ds_MerchantParameters": encoded,
                     "Ds_Signature": redsys.sign(REDSYS_KEY, answer["Ds_Order"], encoded)}

    provider.route("POST", "/sis/rest/trataPeticionREST", refund)
    ok(shop.put("/api/v1/channels/web/payment-providers/redsys", json={
        "secret": REDSYS_KEY, "merchant_code": MERCHANT, "terminal": "1", "api_base": provider.base,
        "notify_url": "https://shop.example.com/api/v1/connectors/redsys/webhooks"}), 201)
    order = order_paid_with(shop, "redsys_bizum", quantity=2)
    assert order["status"] == "awaiting_payment"
    [payment] = ok(shop.get(f"/api/v1/orders/{order['id']}/provider-payments"))["payments"]
    assert provider.calls == []  # a redirect: nothing is asked of Redsys to start
    form = payment["next_action"]
    assert (form["type"], form["method"], form["url"]) == ("redsys_form", "POST",
                                                           "https://sis.redsys.es/sis/realizarPago")
    fields = form["fields"]
    params = redsys.decode_parameters(fields["Ds_MerchantParameters"])
    assert params["DS_MERCHANT_PAYMETHODS"] == "z" and params["DS_MERCHANT_AMOUNT"] == "4000"
    assert (params["DS_MERCHANT_CURRENCY"], params["DS_MERCHANT_TRANSACTIONTYPE"]) == ("978", "0")
    assert params["DS_MERCHANT_ORDER"] == payment["reference"] and payment["reference"][:4].isdigit()
    assert fields["Ds_Signature"] == redsys.sign(REDSYS_KEY, payment["reference"], fields["Ds_MerchantParameters"])

    body = redsys_notification(payment["reference"], "0000", amount="4000")
    problem(shop.post("/api/v1/connectors/redsys/webhooks", content=redsys_notification(
        payment["reference"], "0000", amount="4000", key=base64.b64encode(b"not-the-merchant-key-24b").decode()),
        headers=FORM), 401, "notification_not_verified")
    assert ok(shop.get(f"/api/v1/orders/{order['id']}"))["status"] == "awaiting_payment"
    hook = "/api/v1/connectors/redsys/webhooks"
    assert delivered(shop, shop.post(hook, content=body, headers=FORM))["status"] == "captured"
    assert delivered(shop, shop.post(hook, content=body, headers=FORM))["duplicate"] is True
    paid = ok(shop.get(f"/api/v1/orders/{order['id']}"))
    assert (paid["status"], paid["payment_status"]) == ("paid", "paid")

    ok(shop.post(f"/api/v1/orders/{order['id']}/shipments", json={"carrier": "SEUR", "tracking_number": "T9"}), 201)
    ok(shop.post("/api/v1/returns", json={"order": order["id"], "location": "wh", "condition": "resellable",
                                           "lines": [{"sku": "TEE-M", "quantity": 1}]}), 201)
    assert drive(db, clock, settings) == 1
    [sent] = provider.calls_to("POST", "/sis/rest/trataPeticionREST")
    sent_params = redsys.decode_parameters(sent.json["Ds_MerchantParameters"])
    assert (sent_params["DS_MERCHANT_TRANSACTIONTYPE"], sent_params["DS_MERCHANT_AMOUNT"]) == ("3", "2000")
    [refund_row] = ok(shop.get(f"/api/v1/orders/{order['id']}/provider-payments"))["refunds"]
    assert (refund_row["status"], refund_row["amount"]) == ("sent", "20.00")
    assert refund_row["reference"] == f"{payment['reference']}:836913"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # one engine: PostgreSQL runs test_stripe and the races
def test_a_declined_redsys_card_cancels_the_order(shop: TestClient, provider: ProviderReceiver) -> None:
    ok(shop.put("/api/v1/channels/web/payment-providers/redsys", json={
        "secret": REDSYS_KEY, "merchant_code": MERCHANT, "terminal": "1"}), 201)
    order = order_paid_with(shop, "redsys")
    [payment] = ok(shop.get(f"/api/v1/orders/{order['id']}/provider-payments"))["payments"]
    assert "DS_MERCHANT_PAYMETHODS" not in redsys.decode_parameters(
        payment["next_action"]["fields"]["Ds_MerchantParameters"])  # a card: Redsys' own page offers it
    delivered(shop, shop.post("/api/v1/connectors/redsys/webhooks",
                              content=redsys_notification(payment["reference"], "0190"), headers=FORM))
    assert ok(shop.get(f"/api/v1/orders/{order['id']}"))["status"] == "cancelled"
    assert ok(shop.get(f"/api/v1/orders/{order['id']}/history"))[-1]["note"] == \
        "payment failed: redsys: declined (Ds_Response 0190)"


BTC_KEY, BTC_HOOK_SECRET, STORE = "btcpay-api-key-1", "btcpay-webhook-secret", "StoreABC"


def btcpay_event(kind: str, invoice: str, payment_id: str, delivery: str, **extra: Any) -> tuple[bytes, dict]:
    original = extra.pop("original", delivery)
    body = json.dumps({"deliveryId": delivery, "webhookId": "wh1", "originalDeliveryId": original,
                       "isRedelivery": False, "type": kind, "timestamp": 1764770000, "storeId": STORE,
                       "invoiceId": invoice, "metadata": {"paymentId": payment_id}, **extra}).encode()
    sig = "sha256=" + hmac.new(BTC_HOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return body, {"BTCPay-Sig": sig, "Content-Type": "application/json"}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # one engine: PostgreSQL runs test_stripe and the races
def test_a_bitcoin_order_through_btcpay(shop: TestClient, provider: ProviderReceiver) -> None:
    invoice = {"id": "Inv9x", "checkoutLink": f"{provider.base}/i/Inv9x", "status": "New", "amount": "20.00",
               "currency": "EUR", "additionalStatus": "None"}
    provider.route("POST", f"/api/v1/stores/{STORE}/invoices", (200, invoice))
    provider.route("GET", f"/api/v1/stores/{STORE}/invoices/Inv9x",
                   lambda _c: (200, {**invoice, "status": "New", "additionalStatus": "PaidPartial"}))
    ok(shop.put("/api/v1/channels/web/payment-providers/btcpay", json={
        "api_key": BTC_KEY, "webhook_secret": BTC_HOOK_SECRET, "store_id": STORE, "api_base": provider.base}), 201)
    order = order_paid_with(shop, "btcpay")
    [created] = provider.calls_to("POST", f"/api/v1/stores/{STORE}/invoices")
    assert created.headers["authorization"] == f"token {BTC_KEY}"
    [payment] = ok(shop.get(f"/api/v1/orders/{order['id']}/provider-payments"))["payments"]
    assert created.json == {"amount": "20.00", "currency": "EUR",  # priced in the store currency
                            "metadata": {"orderId": order["id"], "paymentId": payment["id"]}}
    assert payment["next_action"] == {"type": "redirect", "url": f"{provider.base}/i/Inv9x"}

    hook = "/api/v1/connectors/btcpay/webhooks"
    body, headers = btcpay_event("InvoiceReceivedPayment", "Inv9x", payment["id"], "d1")
    assert delivered(shop, shop.post(hook, content=body, headers=headers))["outcome"] == "underpaid"
    [underpaid] = ok(shop.get(f"/api/v1/orders/{order['id']}/provider-payments"))["payments"]
    assert underpaid["status"] == "started" and underpaid["reason"].startswith("btcpay: underpaid")
    assert ok(shop.get(f"/api/v1/orders/{order['id']}"))["status"] == "awaiting_payment"

    forged = dict(headers, **{"BTCPay-Sig": "sha256=" + "0" * 64})
    settled, settled_headers = btcpay_event("InvoiceSettled", "Inv9x", payment["id"], "d2")
    problem(shop.post(hook, content=settled, headers=forged), 401, "notification_not_verified")
    assert delivered(shop, shop.post(hook, content=settled, headers=settled_headers))["status"] == "captured"
    again, again_headers = btcpay_event("InvoiceSettled", "Inv9x", payment["id"], "d3", original="d2",
                                        isRedelivery=True)
    assert delivered(shop, shop.post(hook, content=again, headers=again_headers))["duplicate"] is True
    history = ok(shop.get(f"/api/v1/orders/{order['id']}/history"))
    assert [h["to"] for h in history] == ["awaiting_payment", "paid"]
