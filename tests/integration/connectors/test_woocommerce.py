"""WooCommerce: its ping, a signed `order.created` (the REST API v3 order resource, as WooCommerce's own docs show
it) recorded once with its amounts and stock taken, the channel's new availability sent back as the product's
`stock_quantity` with Basic auth; a bad signature changes nothing."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from tests.builders import ok, problem
from tests.integration.connectors.shops import WOO_SECRET, shop_world, woo_headers
from tests.provider_receiver import ProviderReceiver

KEY, SECRET = "ck_4b6e2b0f1f5e4c7e9f6a", "cs_0d1c2b3a4f5e6d7c8b9a"


def woo_order() -> dict[str, Any]:
    """The order example of the WooCommerce REST API v3 docs (trimmed of links), its SKU one the hub sells."""
    return {
        "id": 727, "parent_id": 0, "number": "727", "order_key": "wc_order_58d2d042d1d", "created_via": "rest-api",
        "version": "3.0.0", "status": "processing", "currency": "USD", "date_created": "2017-03-22T16:28:02",
        "date_created_gmt": "2017-03-22T19:28:02", "discount_total": "0.00", "discount_tax": "0.00",
        "shipping_total": "10.00", "shipping_tax": "0.00", "cart_tax": "1.35", "total": "29.35",
        "total_tax": "1.35", "prices_include_tax": False, "customer_id": 0, "customer_note": "",
        "billing": {"first_name": "John", "last_name": "Doe", "address_1": "969 Market", "city": "San Francisco",
                    "state": "CA", "postcode": "94103", "country": "US", "email": "john.doe@correo.es",
                    "phone": "(555) 555-5555"},
        "payment_method": "bacs", "payment_method_title": "Direct Bank Transfer", "transaction_id": "",
        "date_paid": "2017-03-22T16:28:08",
        "line_items": [
            {"id": 315, "name": "Woo Single #1", "product_id": 93, "variation_id": 0, "quantity": 2,
             "tax_class": "", "subtotal": "6.00", "subtotal_tax": "0.45", "total": "6.00", "total_tax": "0.45",
             "taxes": [{"id": 75, "total": "0.45", "subtotal": "0.45"}], "sku": "IPOD2008GREEN", "price": 3},
            {"id": 316, "name": "Ship Your Idea - Color: Black, Size: M Test", "product_id": 22,
             "variation_id": 23, "quantity": 1, "tax_class": "", "subtotal": "12.00", "subtotal_tax": "0.90",
             "total": "12.00", "total_tax": "0.90", "taxes": [{"id": 75, "total": "0.9", "subtotal": "0.9"}],
             "sku": "IPOD2008RED", "price": 12}],
        "shipping_lines": [{"id": 317, "method_title": "Flat Rate", "method_id": "flat_rate", "total": "10.00",
                            "total_tax": "0.00", "taxes": []}],
        "coupon_lines": [],
    }


@pytest.fixture
def woo() -> Iterator[ProviderReceiver]:
    provider = ProviderReceiver().start()
    provider.route("PUT", r"^/wp-json/wc/v3/products/[0-9]+(/variations/[0-9]+)?$",
                   lambda call: (200, {"id": 93, "stock_quantity": call.json["stock_quantity"]}))
    yield provider
    provider.stop()


def post(api, payload: Any, topic: str, **options: Any) -> Any:
    body = json.dumps(payload).encode()
    return api.post("/api/v1/connectors/woocommerce/shop/webhooks", content=body,
                    headers=woo_headers(body, topic, **options))


def test_woocommerce_orders_are_recorded_once_stock_pushed_and_bad_signatures_refused(admin, db, work, woo):
    shop_world(admin, on_hand={"IPOD2008GREEN": 5, "IPOD2008RED": 5}, skus=("IPOD2008GREEN", "IPOD2008RED"))
    plain_http = {"site_url": woo.base, "webhook_secret": WOO_SECRET, "consumer_key": KEY, "consumer_secret": SECRET,
                  "default_location": "nyc"}
    problem(admin.put("/api/v1/connectors/woocommerce/shop", json=plain_http), 422, "connector_invalid")
    out = ok(admin.put("/api/v1/connectors/woocommerce/shop", json={**plain_http, "allow_http": True}), 201)
    assert SECRET not in json.dumps(out) and sorted(out["secrets_set"]) == [
        "consumer_key", "consumer_secret", "webhook_secret"]
    problem(post(admin, woo_order(), "order.created", secret="wrong"), 401, "invalid_signature")
    with db.read() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM connector_receipts")).scalar_one() == 0
    ping = admin.post("/api/v1/connectors/woocommerce/shop/webhooks", content=b"webhook_id=15",
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert ok(ping)["detail"] == "ping"
    unknown = {**woo_order(), "id": 728, "line_items": [{**woo_order()["line_items"][0], "sku": "NOT-IN-HUB"}]}
    answer = ok(post(admin, unknown, "order.created"))
    assert answer["outcome"] == "dead_letter" and answer["dead_letter"]["code"] == "unknown_sku"
    letters = ok(admin.get("/api/v1/connectors/dead-letters", params={"connector": "woocommerce"}))["items"]
    assert [d["external_id"] for d in letters] == ["728"]
    ok(post(admin, {"id": 93, "sku": "IPOD2008GREEN", "name": "Woo Single #1", "parent_id": 0},
            "product.updated"))
    ok(post(admin, {"id": 23, "sku": "IPOD2008RED", "parent_id": 22}, "product.updated"))  # a variation
    work()
    work()
    woo.calls.clear()

    first = ok(post(admin, woo_order(), "order.created", delivery="d-1"))
    assert ok(post(admin, woo_order(), "order.created", delivery="d-1"))["outcome"] == "duplicate"
    assert ok(post(admin, woo_order(), "order.updated"))["order_id"] == first["order_id"]
    order = ok(admin.get(f"/api/v1/orders/{first['order_id']}"))
    assert order["external"]["system"] == "woocommerce" and order["external"]["number"] == "727"
    assert order["status"] == "paid" and order["totals"]["total"] == "29.35" and order["totals"]["tax"] == "1.35"
    assert order["created_at"] == "2017-03-22T19:28:02Z"  # date_created_gmt: the sale's time in UTC
    assert [(ln["sku"], ln["quantity"], ln["unit_price"], ln["tax"], ln["total"]) for ln in order["lines"]] == [
        ("IPOD2008GREEN", 2, "3.00", "0.45", "6.45"), ("IPOD2008RED", 1, "12.00", "0.90", "12.90")]
    assert ok(admin.get("/api/v1/stock/nyc/IPOD2008GREEN"))["on_hand"] == 3
    with db.read() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM orders")).scalar_one() == 1

    work()
    work()
    calls = {c.path: c for c in woo.calls_to("PUT", r"^/wp-json/wc/v3/products/.*")}
    assert set(calls) == {"/wp-json/wc/v3/products/93", "/wp-json/wc/v3/products/22/variations/23"}
    green = calls["/wp-json/wc/v3/products/93"]
    assert green.json == {"manage_stock": True, "stock_quantity": 3}
    assert calls["/wp-json/wc/v3/products/22/variations/23"].json["stock_quantity"] == 4
    assert green.headers["authorization"] == "Basic " + base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()

    customer = {"id": 25, "email": "john.doe@correo.es", "first_name": "John", "last_name": "Doe",
                "billing": {"email": "john.doe@correo.es", "phone": ""}}  # the customer resource of the docs
    resolved = ok(post(admin, customer, "customer.updated"))
    assert resolved["outcome"] == "applied" and resolved["detail"] == "customer resolved"
    assert order["customer_id"]  # the order's buyer, by the billing e-mail: the same person
    profile = ok(admin.get(f"/api/v1/customers/{order['customer_id']}"))
    assert ("external", "woocommerce", "25") in {(i["kind"], i.get("system"), i["value"])
                                                 for i in profile["identities"]}

    cancelled = {**woo_order(), "status": "cancelled"}
    ok(post(admin, cancelled, "order.updated"))
    assert ok(admin.get(f"/api/v1/orders/{first['order_id']}"))["status"] == "cancelled"
    assert ok(admin.get("/api/v1/stock/nyc/IPOD2008GREEN"))["on_hand"] == 5
