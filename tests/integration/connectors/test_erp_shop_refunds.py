"""Orders a shop sold and invoiced itself reach the ERP as invoices (journey 7); their refunds and unpaid
cancellations reach it as credit notes correcting those invoices — the money the shop gave back, once, however
often Shopify sends the refund (its real `refunds/create` payload)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from tests.builders import ok
from tests.integration.connectors.shops import (
    SKUS,
    connect_shopify,
    dataset,
    order_payload,
    post_shopify,
    product_payload,
    shop_world,
)
from tests.integration.connectors.test_journey_7 import ERP_MAPPING as MAPPING
from tests.provider_receiver import ProviderReceiver

from omnihub.worker import WorkerStats

TOKEN = "erp-refunds-token"


@pytest.fixture
def erp() -> Iterator[ProviderReceiver]:
    receiver = ProviderReceiver()
    receiver.route("PUT", r"^/erp/contacts/[^/]+$", (200, {"ok": True}))
    receiver.route("POST", "/erp/invoices", (201, {"id": "F-1"}))
    receiver.route("POST", "/erp/credit-notes", (201, {"id": "R-1"}))
    receiver.start()
    yield receiver
    receiver.stop()


def _connected(admin: TestClient, shopify: ProviderReceiver, erp: ProviderReceiver,
               work: Callable[..., WorkerStats]) -> None:
    shop_world(admin, on_hand={sku: 5 for sku in SKUS})
    connect_shopify(admin, shopify.base)
    ok(admin.put("/api/v1/connectors/erp", json={"endpoint": erp.base + "/erp", "token": TOKEN, "mapping": MAPPING}))
    ok(post_shopify(admin, product_payload(), "products/update"))
    work()


def test_a_shop_refund_is_one_credit_note_for_the_money_given_back(
        admin: TestClient, work: Callable[..., WorkerStats], shopify: ProviderReceiver, erp: ProviderReceiver) -> None:
    _connected(admin, shopify, erp, work)
    sold = ok(post_shopify(admin, order_payload() | {"financial_status": "paid"}, "orders/create"))
    order = ok(admin.get(f"/api/v1/orders/{sold['order_id']}"))
    work()
    work()
    assert [c.json["number"] for c in erp.calls_to("POST", "/erp/invoices")] == [order["number"]]

    refund = dataset("refund.json")["refund"]  # two units back, 209.00 refunded
    ok(post_shopify(admin, refund, "refunds/create", webhook_id="r-1"))
    ok(post_shopify(admin, refund, "refunds/create", webhook_id="r-2"))  # sent again: nothing doubled
    work()
    work()
    [note] = [c.json for c in erp.calls_to("POST", "/erp/credit-notes")]
    assert (note["series"], note["number"], note["corrects"], note["customer"], note["payment_method"],
            note["currency"]) == ("RS", f"{order['number']}-R1", order["number"], "CLI000001", "SHP", "USD")
    assert sorted((ln["article"], ln["quantity"], ln["tax_code"]) for ln in note["lines"]) == [
        ("2008001", 1, "R6"), ("2008003", 1, "R6")]
    assert sum(Decimal(ln["total"]) for ln in note["lines"]) == Decimal("209.00") == Decimal(note["totals"]["total"])
    documents = ok(admin.get("/api/v1/connectors/erp/documents", params={"kind": "credit_note"}))["items"]
    assert [(d["status"], d["payload"]["number"], d["source"]) for d in documents] == [
        ("sent", f"{order['number']}-R1", f"{order['number']}/refund/{refund['id']}")]


def test_an_unpaid_shop_order_cancelled_is_reversed_whole_and_a_paid_one_waits_for_its_refunds(
        admin: TestClient, work: Callable[..., WorkerStats], shopify: ProviderReceiver, erp: ProviderReceiver) -> None:
    _connected(admin, shopify, erp, work)
    unpaid = order_payload() | {"financial_status": "pending"}
    paid = order_payload() | {"id": 1002, "name": "#1002", "financial_status": "paid"}
    first = ok(admin.get(f"/api/v1/orders/{ok(post_shopify(admin, unpaid, 'orders/create'))['order_id']}"))
    second = ok(admin.get(f"/api/v1/orders/{ok(post_shopify(admin, paid, 'orders/create'))['order_id']}"))
    work()
    work()
    invoices = {c.json["number"]: c.json for c in erp.calls_to("POST", "/erp/invoices")}
    assert set(invoices) == {first["number"], second["number"]}

    for payload in (unpaid, paid):
        cancelled = payload | {"cancelled_at": "2026-12-03T10:00:00-05:00", "cancel_reason": "customer"}
        ok(post_shopify(admin, cancelled, "orders/cancelled"))
    assert {ok(admin.get(f"/api/v1/orders/{o['id']}"))["status"] for o in (first, second)} == {"cancelled"}
    work()
    work()
    [note] = [c.json for c in erp.calls_to("POST", "/erp/credit-notes")]
    assert (note["number"], note["corrects"]) == (f"{first['number']}-C", first["number"])
    reversed_invoice = invoices[first["number"]]
    assert [(ln["article"], ln["quantity"], ln["total"]) for ln in note["lines"]] == [
        (ln["article"], ln["quantity"], ln["total"]) for ln in reversed_invoice["lines"]]
    assert note["totals"]["total"] == reversed_invoice["totals"]["total"]
