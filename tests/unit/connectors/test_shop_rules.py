"""The connectors' pure rules: signatures, backoff, health, and the shops' payloads into the hub's shapes (the
real Shopify order of ../shared/datasets/shopify)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from omnihub.connectors.hub import rules as hub
from omnihub.connectors.hub.rules import Unmappable
from omnihub.connectors.shopify import rules as shopify
from omnihub.connectors.woocommerce import rules as woo

DATASET = Path("/work/shared/datasets/shopify")
if not DATASET.exists():
    DATASET = Path(__file__).resolve().parents[4] / "shared" / "datasets" / "shopify"
NOW = datetime(2026, 12, 3, 12, tzinfo=UTC)


def order() -> dict:
    return json.loads((DATASET / "order.json").read_text())["order"]


def test_signature_is_base64_hmac_sha256_of_the_raw_body() -> None:
    body = b'{"id": 1}'
    expected = base64.b64encode(hmac.new(b"secret", body, hashlib.sha256).digest()).decode()
    assert hub.base64_hmac_sha256("secret", body) == expected
    assert hub.signature_matches("secret", body, expected)
    assert not hub.signature_matches("secret", body + b" ", expected)
    assert not hub.signature_matches("secret", body, None) and not hub.signature_matches("", body, expected)


def test_push_backoff_doubles_and_is_capped() -> None:
    assert [hub.push_delay(n).total_seconds() for n in (1, 2, 3)] == [30, 60, 120]
    assert hub.push_delay(30) == timedelta(hours=1)


def test_health() -> None:
    row = {"last_success_at": NOW - timedelta(minutes=5), "last_error_at": NOW - timedelta(minutes=1),
           "last_error": "boom", "received": 3, "pushed": 2}
    assert hub.health(row, NOW - timedelta(seconds=40), 0, 0, NOW)["status"] == "error"
    assert hub.health(row, NOW - timedelta(seconds=40), 0, 0, NOW)["lag_seconds"] == 40
    fine = {**row, "last_error_at": NOW - timedelta(hours=1)}
    assert hub.health(fine, None, 0, 0, NOW)["status"] == "ok"
    assert hub.health(fine, None, 0, 2, NOW)["status"] == "attention"
    assert hub.health(fine, None, 1, 0, NOW)["status"] == "error"


def test_split_adds_up_to_the_cent() -> None:
    assert hub.split(Decimal("11.94"), [Decimal(199)] * 3) == [Decimal("3.98")] * 3
    parts = hub.split(Decimal("10.00"), [Decimal(1), Decimal(1), Decimal(1)])
    assert sum(parts) == Decimal("10.00")
    with pytest.raises(Unmappable):
        hub.money("ten", "total_price")


def test_the_real_shopify_order_maps_with_its_own_amounts() -> None:
    payload = order()
    lines = shopify.order_lines(payload)
    mapped = shopify.hub_order(payload, lines, channel="shop", location="nyc")
    assert mapped["external"] == {"system": "shopify", "id": "450789469", "number": "#1001",
                                  "financial_status": "authorized", "created_at": "2008-01-10T11:00:00-05:00"}
    assert mapped["totals"] == {"subtotal": Decimal("398.00"), "discount": Decimal("0.00"),
                                "shipping": Decimal("0.00"), "tax": Decimal("11.94"), "total": Decimal("409.94")}
    assert [(ln["sku"], ln["tax"], ln["tax_rate"], ln["total"]) for ln in mapped["lines"]] == [
        (sku, Decimal("3.98"), Decimal("6.00"), Decimal("202.98"))
        for sku in ("IPOD2008GREEN", "IPOD2008RED", "IPOD2008BLACK")]
    assert mapped["payment_status"] == "unpaid" and not mapped["cancelled"]
    assert mapped["hints"][:2] == [{"kind": "external", "system": "shopify", "value": "207119551"},
                                   {"kind": "email", "value": "bob.norman@hostmail.com"}]
    assert mapped["promotions"] == [{"code": "TENOFF", "amount": "10.00"}]


def test_locations_and_bad_shapes_are_unmappable() -> None:
    config = {"default_location": "nyc", "locations": {"487838322": "nyc"}}
    assert shopify.location_for({"location_id": None}, config) == "nyc"
    assert shopify.location_for({"location_id": 487838322}, config) == "nyc"
    with pytest.raises(Unmappable, match="1034478814"):
        shopify.location_for({"location_id": 1034478814}, config)
    with pytest.raises(Unmappable):
        shopify.location_for({}, {})
    with pytest.raises(Unmappable):
        shopify.order_lines({"line_items": []})
    with pytest.raises(Unmappable):
        shopify.order_lines({"line_items": [{"sku": "A", "quantity": "2"}]})


def test_the_real_refund_restocks_its_line() -> None:
    refund = json.loads((DATASET / "refund.json").read_text())["refund"]
    items, amount = shopify.refund_items(refund)
    assert items == [("IPOD2008BLACK", 1), ("IPOD2008GREEN", 1)] and amount == Decimal("209.00")


def test_inventory_set_quantities_request_and_answers() -> None:
    request = shopify.inventory_request("39072856", {"487838322": 4}, "omnihub://stock/shop/SKU")
    data = request["variables"]["input"]
    assert data["quantities"] == [{"inventoryItemId": "gid://shopify/InventoryItem/39072856",
                                   "locationId": "gid://shopify/Location/487838322", "quantity": 4}]
    assert data["name"] == "available" and data["ignoreCompareQuantity"] is True
    applied = {"data": {"inventorySetQuantities": {"inventoryAdjustmentGroup": {}, "userErrors": []}}}
    assert shopify.inventory_errors(applied) == (None, False)
    refused = {"data": {"inventorySetQuantities": {"inventoryAdjustmentGroup": None, "userErrors": [
        {"field": ["input"], "message": "The specified inventory item could not be found.", "code": "NOT_FOUND"}]}}}
    assert shopify.inventory_errors(refused)[1] is False
    throttled = {"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}]}
    assert shopify.inventory_errors(throttled) == ("GraphQL error: Throttled", True)


def test_woocommerce_ping_products_and_stock_request() -> None:
    assert woo.is_ping(b"webhook_id=15") and not woo.is_ping(b'{"id": 1}')
    assert woo.product_items({"id": 23, "sku": "RED", "parent_id": 22}) == [
        {"sku": "RED", "product_id": "22", "variant_id": "23"}]
    assert woo.stock_request("93", None, 3) == ("/wp-json/wc/v3/products/93",
                                                {"manage_stock": True, "stock_quantity": 3})
    assert woo.stock_request("22", "23", 0)[0] == "/wp-json/wc/v3/products/22/variations/23"


def test_the_sale_time_keeps_the_shops_offset_and_refuses_what_is_not_a_date() -> None:
    sold_at = hub.sold_at
    assert sold_at("2008-01-10T11:00:00-05:00", "created_at", naive_is_utc=False) == datetime(2008, 1, 10, 16,
                                                                                              tzinfo=UTC)
    assert sold_at("2017-03-22T19:28:02", "date_created_gmt", naive_is_utc=True) == datetime(2017, 3, 22, 19, 28, 2,
                                                                                             tzinfo=UTC)
    assert sold_at("2017-03-22T16:28:02", "date_created", naive_is_utc=False) is None  # site-local: unknown zone
    assert sold_at(None, "created_at", naive_is_utc=False) is None and sold_at("", "x", naive_is_utc=True) is None
    with pytest.raises(Unmappable, match="created_at is not a date and time"):
        sold_at("yesterday", "created_at", naive_is_utc=False)
