"""Journey 7 end to end through HTTP (../shared/DESIGN.md): a signed Shopify `orders/create` with the real payload
(../shared/datasets/shopify) becomes one hub order however often it is sent, takes the units from the mapped
location, and the new availability goes back to a local Shopify as Shopify documents it (GraphQL Admin API
`inventorySetQuantities`, `X-Shopify-Access-Token`); a bad HMAC changes nothing; a payload that cannot be mapped
is a dead letter, replayed once the mapping is fixed; each order reaches a local ERP as a contact upsert and an
invoice in the ERP's codes."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.builders import ok, problem
from tests.integration.connectors.shops import (
    FIFTH_AVENUE,
    GRAPHQL,
    SHOP,
    SHOPIFY_SECRET,
    SHOPIFY_TOKEN,
    SKUS,
    connect_shopify,
    order_payload,
    post_shopify,
    product_payload,
    shop_world,
    shopify_headers,
)
from tests.provider_receiver import ProviderReceiver

from omnihub.core.db import Database
from omnihub.worker import WorkerStats

ERP_TOKEN = "erp-journey-token"
ERP_MAPPING = """
customer_prefix: "CLI"
guest_customer: "CLI999999"
articles: {IPOD2008GREEN: "2008001", IPOD2008RED: "2008002", IPOD2008BLACK: "2008003"}
tax_codes: {0: "EX", 3: "R3", 6: "R6"}
payment_methods: {shopify: "SHP"}
date_format: "%d/%m/%Y"
series: {invoice: "FS", credit_note: "RS"}
"""
BERLIN = "1034478814"  # another location of the dataset's locations.json, not mapped at first


@pytest.fixture
def erp() -> Iterator[ProviderReceiver]:
    receiver = ProviderReceiver()
    receiver.route("PUT", r"^/erp/contacts/[^/]+$", (200, {"ok": True}))
    receiver.route("POST", "/erp/invoices", (201, {"id": "F-1"}))
    receiver.start()
    yield receiver
    receiver.stop()


def count(db: Database, table: str) -> int:
    with db.read() as conn:
        return conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()


def on_hand(api: TestClient, where: str, sku: str) -> int:
    return ok(api.get(f"/api/v1/stock/{where}/{sku}"))["on_hand"]


def test_journey_7(admin: TestClient, db: Database, work: Callable[..., WorkerStats], shopify: ProviderReceiver,
                   erp: ProviderReceiver) -> None:
    shop_world(admin, on_hand={sku: 5 for sku in SKUS})
    ok(admin.post("/api/v1/locations", json={"code": "berlin", "name": "Berlin Store", "kind": "store",
                                             "lat": 52.52, "lon": 13.40}), 201)
    connect_shopify(admin, shopify.base)
    ok(admin.put("/api/v1/connectors/erp", json={"endpoint": erp.base + "/erp", "token": ERP_TOKEN,
                                                 "mapping": ERP_MAPPING}))
    ok(post_shopify(admin, product_payload(), "products/update"))  # Shopify's inventory item ids of the SKUs
    work()
    shopify.calls.clear()

    # A bad HMAC changes nothing.
    tables = ("orders", "connector_receipts", "connector_dead_letters", "outbox", "stock_ledger")
    before = {t: count(db, t) for t in tables}
    payload = order_payload()
    body = json.dumps(payload).encode()
    problem(admin.post("/api/v1/connectors/shopify/shop/webhooks", content=body,
                       headers=shopify_headers(body, "orders/create", secret="forged")), 401, "invalid_signature")
    assert {t: count(db, t) for t in tables} == before

    # The signed order, sent twice (Shopify's retry with the same webhook id, then another delivery): one order.
    first = ok(post_shopify(admin, payload, "orders/create", webhook_id="j7-1"))
    assert first["outcome"] == "applied"
    assert ok(post_shopify(admin, payload, "orders/create", webhook_id="j7-1"))["outcome"] == "duplicate"
    assert ok(post_shopify(admin, payload, "orders/create", webhook_id="j7-2"))["order_id"] == first["order_id"]
    assert count(db, "orders") == 1
    order = ok(admin.get(f"/api/v1/orders/{first['order_id']}"))
    assert order["external"]["number"] == "#1001" and order["totals"]["total"] == "409.94"
    assert {sku: on_hand(admin, "nyc", sku) for sku in SKUS} == {sku: 4 for sku in SKUS}  # the mapped location

    work()  # dispatch: the availability pushes and the ERP documents are recorded
    work()  # and sent
    pushes = shopify.calls_to("POST", GRAPHQL)
    assert len(pushes) == 3  # one per SKU
    for call in pushes:
        assert call.path == GRAPHQL and call.headers["x-shopify-access-token"] == SHOPIFY_TOKEN
        assert call.headers["content-type"] == "application/json"
        assert call.json["query"].lstrip().startswith("mutation inventorySetQuantities")
        data = call.json["variables"]["input"]
        assert data["name"] == "available" and data["reason"] == "correction"
        assert data["quantities"] == [{"inventoryItemId": data["quantities"][0]["inventoryItemId"],
                                       "locationId": f"gid://shopify/Location/{FIFTH_AVENUE}", "quantity": 4}]
    assert sorted(c.json["variables"]["input"]["quantities"][0]["inventoryItemId"] for c in pushes) == sorted(
        f"gid://shopify/InventoryItem/{line['variant_id']}" for line in payload["line_items"])

    contacts = erp.calls_to("PUT", r"^/erp/contacts/.+$")
    invoices = erp.calls_to("POST", "/erp/invoices")
    assert [c.path for c in contacts] == ["/erp/contacts/CLI000001"] and len(invoices) == 1
    assert {c.bearer for c in contacts + invoices} == {ERP_TOKEN}
    assert contacts[0].json["email"] == "bob.norman@hostmail.com"
    invoice = invoices[0].json
    sold_on = datetime.fromisoformat(order["created_at"]).strftime("%d/%m/%Y")
    assert (invoice["series"], invoice["number"], invoice["customer"], invoice["payment_method"],
            invoice["date"], invoice["currency"]) == ("FS", order["number"], "CLI000001", "SHP", sold_on, "USD")
    assert [(ln["article"], ln["quantity"], ln["unit_price"], ln["total"]) for ln in invoice["lines"]] == [
        ("2008001", 1, "199.00", "202.98"), ("2008002", 1, "199.00", "202.98"), ("2008003", 1, "199.00", "202.98")]
    assert {ln["tax_code"] for ln in invoice["lines"]} == {"R6"}  # the order's 6 % State Tax
    assert invoice["totals"]["total"] == "409.94"

    # An order from an unmapped Shopify location is a dead letter; the mapping is fixed; the replay records it.
    pos = order_payload() | {"id": 1002, "name": "#1002", "location_id": int(BERLIN)}
    letter = ok(post_shopify(admin, pos, "orders/create"))["dead_letter"]
    assert letter["code"] == "unmapped_location" and count(db, "orders") == 1
    listed = ok(admin.get("/api/v1/connectors/dead-letters", params={"connector": "shopify"}))["items"]
    assert [d["id"] for d in listed] == [letter["id"]] and BERLIN in listed[0]["reason"]
    for sku in SKUS:
        ok(admin.put(f"/api/v1/stock/berlin/{sku}", json={"on_hand": 2}))
    fixed = admin.put("/api/v1/connectors/shopify/shop", json={
        "shop_domain": SHOP, "webhook_secret": SHOPIFY_SECRET, "access_token": SHOPIFY_TOKEN,
        "api_base": shopify.base, "default_location": "nyc", "locations": {FIFTH_AVENUE: "nyc", BERLIN: "berlin"}})
    assert ok(fixed)["locations"][BERLIN] == "berlin"
    replayed = ok(admin.post(f"/api/v1/connectors/dead-letters/{letter['id']}/replay"))
    assert replayed["status"] == "replayed" and replayed["result"]["order_id"]
    again = ok(admin.post(f"/api/v1/connectors/dead-letters/{letter['id']}/replay"))
    assert again["result"] == replayed["result"] and count(db, "orders") == 2
    assert {sku: on_hand(admin, "berlin", sku) for sku in SKUS} == {sku: 1 for sku in SKUS}
    assert {sku: on_hand(admin, "nyc", sku) for sku in SKUS} == {sku: 4 for sku in SKUS}
    work()
    work()
    second = ok(admin.get(f"/api/v1/orders/{replayed['result']['order_id']}"))
    invoices = erp.calls_to("POST", "/erp/invoices")
    assert [c.json["number"] for c in invoices] == [order["number"], second["number"]]
    assert invoices[1].json["customer"] == "CLI000001"  # the same customer keeps its ERP number
    documents = ok(admin.get("/api/v1/connectors/erp/documents"))["items"]
    assert {d["status"] for d in documents} == {"sent"} and len(documents) == 4
