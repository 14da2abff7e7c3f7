"""Reconciliation with PayPal (its Transaction Search API, OAuth, every page) and Redsys (its query web service,
order by order, each query signed with the order's key), against the local receiver checking each call as the
provider documents it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import re
from datetime import timedelta
from itertools import count
from typing import Any
from xml.etree import ElementTree

import pytest
from fastapi.testclient import TestClient
from tests.builders import ok
from tests.integration.payments.conftest import delivered
from tests.integration.payments.test_paypal import ADDRESS, CLIENT_ID, CLIENT_SECRET, WEBHOOK_ID
from tests.integration.payments.test_redsys_btcpay import (
    FORM,
    MERCHANT,
    REDSYS_KEY,
    order_paid_with,
    redsys_notification,
)
from tests.provider_receiver import Call, ProviderReceiver

from omnihub.billing.providers import redsys
from omnihub.billing.reconcile import reconcile
from omnihub.config import Settings
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.core.outbound import OutboundGuard


def _paypal(provider: ProviderReceiver) -> None:
    basic = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    ids = count(1)
    provider.route("POST", "/v1/oauth2/token", lambda c: (200, {"access_token": "A21AAsearch", "token_type": "Bearer"})
                   if c.headers.get("authorization") == basic else (401, {"error": "invalid_client"}))

    def create(call: Call) -> tuple[int, Any]:
        n = next(ids)
        return 200, {"id": f"5O19012{n}TN364715T", "status": "PAYER_ACTION_REQUIRED",
                     "links": [{"href": f"https://www.paypal.com/checkoutnow?token={n}", "rel": "payer-action"}]}

    provider.route("POST", "/v2/checkout/orders", create)


def _txn(tid: str, status: str, value: str, custom: str | None) -> dict[str, Any]:
    return {"transaction_info": {"paypal_account_id": "6STWC2LSUYYYE", "transaction_id": tid,
                                 "transaction_event_code": "T0006", "transaction_initiation_date":
                                 "2026-12-03T16:05:00+0000", "transaction_amount": {"currency_code": "EUR",
                                                                                    "value": value},
                                 "transaction_status": status, "custom_field": custom}}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_paypal_reconcile_through_transaction_search(shop: TestClient, provider: ProviderReceiver, db: Database,
                                                     clock: ManualClock, settings: Settings) -> None:
    _paypal(provider)
    ok(shop.put("/api/v1/channels/web/payment-providers/paypal", json={
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "webhook_id": WEBHOOK_ID,
        "api_base": provider.base}), 201)
    payments = []
    for _ in range(3):
        order = ok(shop.post("/api/v1/orders", json={
            "channel": "web", "lines": [{"sku": "TEE-M", "quantity": 1}], "fulfilment": {"type": "ship",
                                                                                          "address": ADDRESS},
            "payments": [{"method": "paypal_checkout", "amount": "20.00"}]}), 201)
        [payment] = ok(shop.get(f"/api/v1/orders/{order['id']}/provider-payments"))["payments"]
        payments.append(payment)
    first, second, third = payments

    def search(call: Call) -> tuple[int, Any]:
        if call.bearer != "A21AAsearch":
            return 401, {"name": "AUTHENTICATION_FAILURE"}
        page = int(call.query["page"][0])
        pages = {1: [_txn("0AW2184448108334S", "S", "20.00", first["id"]),  # taken; the hub was not told
                     _txn("1JU08902781691411", "S", "-20.00", first["id"])],  # a refund: not a payment
                 2: [_txn("4RR959492F879224U", "P", "20.00", second["id"]),  # pending: agrees with `started`
                     _txn("9XY000000000000AA", "S", "12.00", None)]}  # a payment the hub never started
        return 200, {"transaction_details": pages[page], "account_number": "XZXSPECPDZHZU", "page": page,
                     "total_items": 4, "total_pages": 2}

    provider.route("GET", "/v1/reporting/transactions", search)
    since, until = clock.now() - timedelta(days=40), clock.now() + timedelta(hours=1)
    report = reconcile(db, secret_key=settings.secret_key, guard=OutboundGuard(settings.outbound_allow),
                       provider="paypal", channel="web", since=since, until=until)

    calls = provider.calls_to("GET", "/v1/reporting/transactions")
    # 41 days: two windows (PayPal answers at most 31 days), two pages each.
    assert [(c.query["start_date"][0], c.query["page"][0]) for c in calls] == [
        (calls[0].query["start_date"][0], "1"), (calls[0].query["start_date"][0], "2"),
        (calls[2].query["start_date"][0], "1"), (calls[2].query["start_date"][0], "2")]
    assert calls[0].query["end_date"] == calls[2].query["start_date"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d-0000", calls[0].query["start_date"][0])
    assert all(c.query["fields"] == ["transaction_info"] and c.query["page_size"] == ["500"] for c in calls)
    assert all(c.bearer == "A21AAsearch" for c in calls)
    assert report["clean"] is False and report["hub"] == 3
    assert [d["payment_id"] for d in report["status_differs"]] == [first["id"]]
    assert report["status_differs"][0]["hub"] == "started" and report["status_differs"][0]["provider"] == "S"
    assert [m["transaction_id"] for m in report["missing_in_hub"]] == ["9XY000000000000AA"]
    assert [m["payment_id"] for m in report["missing_at_provider"]] == [third["id"]]


def _query_answer(order: str, response: str | None) -> bytes:
    if response is None:
        inner = '<Messages><Version Ds_Version="0.0"><Message><ErrorMsg><Ds_ErrorCode>XML0024</Ds_ErrorCode>' \
                "</ErrorMsg></Message></Version></Messages>"
    else:
        inner = (f'<Messages><Version Ds_Version="0.0"><Message><Response><Ds_Order>{order}</Ds_Order>'
                 f"<Ds_Amount>2000</Ds_Amount><Ds_Currency>978</Ds_Currency><Ds_MerchantCode>{MERCHANT}"
                 f"</Ds_MerchantCode><Ds_Terminal>1</Ds_Terminal><Ds_TransactionType>0</Ds_TransactionType>"
                 f"<Ds_State>F</Ds_State><Ds_Response>{response}</Ds_Response></Response></Message></Version>"
                 "</Messages>")
    return ('<?xml version="1.0" encoding="utf-8"?><soapenv:Envelope xmlns:soapenv='
            '"http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><p:consultaOperacionesResponse '
            'xmlns:p="http://webservices.apl02.redsys.es"><consultaOperacionesReturn>'
            f"{html.escape(inner)}</consultaOperacionesReturn></p:consultaOperacionesResponse></soapenv:Body>"
            "</soapenv:Envelope>").encode()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_redsys_reconcile_asks_order_by_order(shop: TestClient, provider: ProviderReceiver, db: Database,
                                              clock: ManualClock, settings: Settings) -> None:
    ok(shop.put("/api/v1/channels/web/payment-providers/redsys", json={
        "secret": REDSYS_KEY, "merchant_code": MERCHANT, "terminal": "1", "api_base": provider.base}), 201)
    references = []
    for _ in range(3):
        order = order_paid_with(shop, "redsys")
        [payment] = ok(shop.get(f"/api/v1/orders/{order['id']}/provider-payments"))["payments"]
        references.append(payment["reference"])
    paid, unpaid, unknown = references
    delivered(shop, shop.post("/api/v1/connectors/redsys/webhooks", content=redsys_notification(paid, "0000"),
                              headers=FORM))
    answers = {paid: "0000", unpaid: "0000", unknown: None}  # `unpaid` was paid at Redsys: the hub never heard

    def query(call: Call) -> tuple[int, Any, dict[str, str]]:
        envelope = ElementTree.fromstring(call.raw)
        cadena = next(e for e in envelope.iter() if e.tag == "cadenaXML").text or ""
        version = re.search(r"<Version Ds_Version=\"0.0\">.*</Version>", cadena).group(0)  # type: ignore[union-attr]
        messages = ElementTree.fromstring(cadena)
        order = messages.findtext(".//Transaction/Ds_Order") or ""
        expected = base64.b64encode(hmac.new(redsys.order_key(REDSYS_KEY, order), version.encode(),
                                             hashlib.sha256).digest()).decode()
        signed = messages.findtext("Signature") == expected and messages.findtext("SignatureVersion") == \
            "HMAC_SHA256_V1"
        if not signed or messages.findtext(".//Transaction/Ds_MerchantCode") != MERCHANT:
            return 200, _query_answer(order, None).replace(b"XML0024", b"SIS0042"), {"Content-Type": "text/xml"}
        return 200, _query_answer(order, answers[order]), {"Content-Type": "text/xml"}

    provider.route("POST", "/apl02/services/SerClsWSConsulta", query)
    report = reconcile(db, secret_key=settings.secret_key, guard=OutboundGuard(settings.outbound_allow),
                       provider="redsys", channel="web", since=clock.now() - timedelta(hours=1),
                       until=clock.now() + timedelta(hours=1))
    calls = provider.calls_to("POST", "/apl02/services/SerClsWSConsulta")
    assert len(calls) == 3 and all(c.headers["soapaction"] == "consultaOperaciones" for c in calls)
    assert all(c.headers["content-type"].startswith("text/xml") for c in calls)
    assert report["provider_count"] == 2 and report["missing_in_hub"] == []
    assert [(d["reference"], d["hub"], d["provider"]) for d in report["status_differs"]] == [
        (unpaid, "started", "Ds_Response 0000")]
    assert [m["reference"] for m in report["missing_at_provider"]] == [unknown]
