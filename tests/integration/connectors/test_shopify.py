"""Journey 7, Shopify: signed webhooks with the real payloads (../shared/datasets/shopify) become hub orders once,
take stock at the mapped location, and the new figure goes back to a local Shopify (the GraphQL Admin API's
inventorySetQuantities); a bad signature changes nothing; what cannot be mapped is a dead letter, replayed once
the mapping is fixed; an order the hub has too little stock for is recorded and flagged, never refused."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa
from tests.builders import ok, problem, product
from tests.integration.connectors.shops import (
    FIFTH_AVENUE,
    GRAPHQL,
    SHOP,
    SHOPIFY_SECRET,
    SHOPIFY_TOKEN,
    SKUS,
    connect_shopify,
    dataset,
    graphql_ok,
    order_payload,
    post_shopify,
    product_payload,
    shop_world,
    shopify_headers,
)
from tests.provider_receiver import ProviderReceiver

from omnihub.core.db import Database


def level(api, sku: str) -> dict:
    return ok(api.get(f"/api/v1/stock/nyc/{sku}"))


def count(db: Database, table: str) -> int:
    with db.read() as conn:
        return conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()


def test_a_signed_order_becomes_one_hub_order_takes_stock_and_is_pushed_back(admin, db, work, shopify):
    shop_world(admin, on_hand={"IPOD2008GREEN": 5, "IPOD2008RED": 5, "IPOD2008BLACK": 5})
    out = connect_shopify(admin, shopify.base)
    assert out["locations"] == {FIFTH_AVENUE: "nyc"} and SHOPIFY_TOKEN not in json.dumps(out)
    assert sorted(out["secrets_set"]) == ["access_token", "webhook_secret"]
    assert SHOPIFY_SECRET not in admin.get("/api/v1/connectors/shopify/shop").text
    ok(post_shopify(admin, product_payload(), "products/update"))  # teaches the inventory item ids
    work()
    shopify.calls.clear()

    payload = order_payload()
    first = ok(post_shopify(admin, payload, "orders/create", webhook_id="wh-1"))
    assert first["outcome"] == "applied" and first["order_id"]
    again = ok(post_shopify(admin, payload, "orders/create", webhook_id="wh-1"))  # Shopify's retry
    assert again == {"outcome": "duplicate", "duplicate": True, "order_id": None, "dead_letter": None,
                     "detail": None}
    other_delivery = ok(post_shopify(admin, payload, "orders/create", webhook_id="wh-2"))  # same order, new id
    assert other_delivery["order_id"] == first["order_id"]
    assert count(db, "orders") == 1

    order = ok(admin.get(f"/api/v1/orders/{first['order_id']}"))
    assert order["external"]["system"] == "shopify" and order["external"]["number"] == "#1001"
    assert order["external"]["id"] == "450789469" and order["external"]["oversold"] == []
    assert order["totals"] == {"subtotal": "398.00", "discount": "0.00", "shipping": "0.00", "shipping_tax": "0.00",
                               "tax": "11.94", "total": "409.94", "currency": "USD"}  # the shop's own figures
    assert [(ln["sku"], ln["unit_price"], ln["tax"], ln["location"]) for ln in order["lines"]] == [
        ("IPOD2008GREEN", "199.00", "3.98", "nyc"), ("IPOD2008RED", "199.00", "3.98", "nyc"),
        ("IPOD2008BLACK", "199.00", "3.98", "nyc")]
    assert order["payment_status"] == "unpaid" and order["status"] == "pending_payment"  # "authorized" there
    assert order["created_at"] == "2008-01-10T16:00:00Z"  # when the shop sold it (11:00 at -05:00), not received
    for sku in ("IPOD2008GREEN", "IPOD2008RED", "IPOD2008BLACK"):
        assert level(admin, sku)["on_hand"] == 4

    # The customer, through the identity graph: Shopify's id and the e-mail name one profile.
    customer = ok(admin.get(f"/api/v1/customers/{order['customer_id']}"))
    identities = {(i["kind"], i.get("system") or i.get("namespace"), i["value"]) for i in customer["identities"]}
    assert ("external", "shopify", "207119551") in identities
    assert any(kind == "email" and value == "bob.norman@hostmail.com" for kind, _, value in identities)

    work()  # dispatch: stock.changed → one push row per SKU; the job pushes it
    work()
    pushes = shopify.calls_to("POST", GRAPHQL)
    assert len(pushes) == 3  # one per SKU, coalesced
    for call in pushes:
        assert call.headers["x-shopify-access-token"] == SHOPIFY_TOKEN
        assert call.headers["content-type"] == "application/json"
        body = call.json
        assert body["query"].lstrip().startswith("mutation inventorySetQuantities")
        data = body["variables"]["input"]
        assert data["name"] == "available" and data["reason"] == "correction" and data["ignoreCompareQuantity"]
        assert data["quantities"][0]["locationId"] == f"gid://shopify/Location/{FIFTH_AVENUE}"
        assert data["quantities"][0]["quantity"] == 4
    assert sorted(c.json["variables"]["input"]["quantities"][0]["inventoryItemId"] for c in pushes) == sorted(
        f"gid://shopify/InventoryItem/{line['variant_id']}" for line in payload["line_items"])
    health = ok(admin.get("/api/v1/connectors"))
    assert health[0]["kind"] == "shopify" and health[0]["health"]["status"] == "ok"
    assert health[0]["health"]["pushed"] == 6 and health[0]["health"]["lag_seconds"] == 0

    # Paid, then refunded with restock, then nothing doubled on a replayed refund.
    ok(post_shopify(admin, {**payload, "financial_status": "paid"}, "orders/paid"))
    assert ok(admin.get(f"/api/v1/orders/{first['order_id']}"))["status"] == "paid"
    refund = dataset("refund.json")["refund"]
    ok(post_shopify(admin, refund, "refunds/create"))
    ok(post_shopify(admin, refund, "refunds/create"))
    assert level(admin, "IPOD2008BLACK")["on_hand"] == 5  # the refunded unit came back once
    refunded = ok(admin.get(f"/api/v1/orders/{first['order_id']}"))
    assert refunded["external"]["refunds"][0]["amount"] == "209.00"


def test_bad_signatures_change_nothing_and_an_unmappable_order_is_a_dead_letter_replayed_once_fixed(admin, db, shopify):
    shop_world(admin, on_hand={"IPOD2008GREEN": 5, "IPOD2008RED": 5}, skus=("IPOD2008GREEN", "IPOD2008RED"))
    connect_shopify(admin, shopify.base)
    # A bad signature changes nothing: 401 before the body is read as JSON, nothing stored.
    before = {t: count(db, t) for t in ("orders", "connector_receipts", "connector_dead_letters", "outbox")}
    body = json.dumps(order_payload()).encode()
    forged = shopify_headers(body, "orders/create", secret="not-the-secret")
    problem(admin.post("/api/v1/connectors/shopify/shop/webhooks", content=body, headers=forged), 401,
            "invalid_signature")
    unsigned = {k: v for k, v in shopify_headers(body, "orders/create").items() if k != "X-Shopify-Hmac-Sha256"}
    problem(admin.post("/api/v1/connectors/shopify/shop/webhooks", content=body, headers=unsigned), 401,
            "invalid_signature")
    tampered = shopify_headers(body, "orders/create")
    problem(admin.post("/api/v1/connectors/shopify/shop/webhooks", content=body.replace(b"409.94", b"0.01"),
                       headers=tampered), 401, "invalid_signature")
    problem(admin.post("/api/v1/connectors/shopify/nowhere/webhooks", content=body, headers=tampered), 401,
            "invalid_signature")
    assert {t: count(db, t) for t in before} == before
    assert level(admin, "IPOD2008GREEN")["on_hand"] == 5

    answer = ok(post_shopify(admin, order_payload(), "orders/create"))  # IPOD2008BLACK is not in the hub
    assert answer["outcome"] == "dead_letter" and answer["dead_letter"]["code"] == "unknown_sku"
    assert count(db, "orders") == 0 and level(admin, "IPOD2008GREEN")["on_hand"] == 5
    garbage = b"{not json"
    answer = ok(admin.post("/api/v1/connectors/shopify/shop/webhooks", content=garbage,
                           headers=shopify_headers(garbage, "orders/create")))
    assert answer["dead_letter"]["code"] == "bad_shape"
    pos = order_payload() | {"id": 1, "location_id": 1034478814}  # Berlin Store: not mapped
    assert ok(post_shopify(admin, pos, "orders/create"))["dead_letter"]["code"] == "unmapped_location"

    letters = ok(admin.get("/api/v1/connectors/dead-letters", params={"connector": "shopify"}))["items"]
    assert len(letters) == 3 and {d["status"] for d in letters} == {"open"}
    assert ok(admin.get("/api/v1/connectors/dead-letters", params={"connector": "woocommerce"}))["items"] == []
    letter = next(d for d in letters if d["code"] == "unknown_sku")
    detail = ok(admin.get(f"/api/v1/connectors/dead-letters/{letter['id']}"))
    assert detail["payload"]["id"] == 450789469 and "IPOD2008BLACK" in detail["reason"]
    still = ok(admin.post(f"/api/v1/connectors/dead-letters/{letter['id']}/replay"))  # not fixed yet
    assert still["status"] == "open" and still["attempts"] == 1 and count(db, "orders") == 0
    assert ok(admin.get("/api/v1/connectors"))[0]["health"]["status"] == "error"

    product(admin, "IPOD2008BLACK", category="music")  # the fix
    ok(admin.put("/api/v1/stock/nyc/IPOD2008BLACK", json={"on_hand": 2}))
    done = ok(admin.post(f"/api/v1/connectors/dead-letters/{letter['id']}/replay"))
    assert done["status"] == "replayed" and done["result"]["order_id"]
    again = ok(admin.post(f"/api/v1/connectors/dead-letters/{letter['id']}/replay"))
    assert again["result"] == done["result"] and again["attempts"] == 2
    assert count(db, "orders") == 1 and level(admin, "IPOD2008BLACK")["on_hand"] == 1
    problem(admin.post("/api/v1/connectors/dead-letters/dl_nope/replay"), 404, "dead_letter_not_found")


def test_an_oversold_order_is_recorded_and_flagged(admin, db, shopify):
    shop_world(admin, on_hand={"IPOD2008GREEN": 1, "IPOD2008RED": 3})  # no BLACK at all, one GREEN
    connect_shopify(admin, shopify.base)
    payload = order_payload()
    payload["line_items"][0]["quantity"] = 2
    answer = ok(post_shopify(admin, payload, "orders/create"))
    order = ok(admin.get(f"/api/v1/orders/{answer['order_id']}"))
    assert sorted((o["sku"], o["sold"], o["taken"], o["short"]) for o in order["external"]["oversold"]) == [
        ("IPOD2008BLACK", 1, 0, 1), ("IPOD2008GREEN", 2, 1, 1)]
    assert level(admin, "IPOD2008GREEN")["on_hand"] == 0 and level(admin, "IPOD2008RED")["on_hand"] == 2
    with db.read() as conn:
        events = conn.execute(sa.text("SELECT data FROM outbox WHERE type = 'order.oversold'")).scalars().all()
    assert len(events) == 1
    data = events[0] if isinstance(events[0], dict) else json.loads(events[0])
    assert data["id"] == answer["order_id"] and data["external"]["number"] == "#1001"
    # Cancelled in the shop: what was taken comes back, not what was never there.
    ok(post_shopify(admin, {**payload, "cancelled_at": "2008-01-10T12:00:00-05:00"}, "orders/cancelled"))
    assert ok(admin.get(f"/api/v1/orders/{answer['order_id']}"))["status"] == "cancelled"
    assert level(admin, "IPOD2008GREEN")["on_hand"] == 1 and level(admin, "IPOD2008RED")["on_hand"] == 3


def test_customers_checkouts_and_inventory_levels(admin, db, work, shopify):
    shop_world(admin, on_hand={"IPOD2008GREEN": 5, "IPOD2008RED": 5, "IPOD2008BLACK": 5},
               skus=(*SKUS, "IPOD2008PINK"))  # the checkout's second line
    connect_shopify(admin, shopify.base)
    created = ok(post_shopify(admin, dataset("customer.json")["customer"], "customers/create"))
    assert created["outcome"] == "applied"
    checkout = dataset("checkouts.json")["checkouts"][0]
    cart = ok(post_shopify(admin, checkout, "checkouts/create"))
    assert cart["outcome"] == "applied", cart
    view = ok(admin.get(f"/api/v1/customers/{cart_customer(db)}"))
    carts = json.dumps(view)
    assert "IPOD2008RED" in carts  # the abandoned checkout is the customer's open cart on the 360 view
    ok(post_shopify(admin, checkout, "checkouts/update"))
    assert count(db, "carts") == 1
    level_update = dataset("inventory_levels.json")["inventory_levels"][0]
    assert ok(post_shopify(admin, level_update, "inventory_levels/update"))["outcome"] == "ignored"  # not mapped
    ok(post_shopify(admin, product_payload(), "products/create"))
    work()
    shopify.calls.clear()
    answer = ok(post_shopify(admin, level_update, "inventory_levels/update"))  # someone edited the count there
    assert answer["outcome"] == "applied"
    work()
    pushed = shopify.calls_to("POST", GRAPHQL)
    assert [c.json["variables"]["input"]["quantities"][0]["quantity"] for c in pushed] == [5]  # the hub's figure


def cart_customer(db: Database) -> str:
    with db.read() as conn:
        return conn.execute(sa.text("SELECT customer_id FROM carts")).scalar_one()


def test_pushes_retry_with_backoff_and_report_failures(admin, db, work, clock, shopify):
    shop_world(admin, on_hand={"IPOD2008GREEN": 5, "IPOD2008RED": 5, "IPOD2008BLACK": 5})
    outage = ProviderReceiver().start()
    outage.route("POST", GRAPHQL, graphql_ok, fail_first=1, fail_status=503)
    try:
        connect_shopify(admin, outage.base)
        ok(post_shopify(admin, product_payload() | {"variants": product_payload()["variants"][:1]},
                        "products/update"))
        work()
        assert len(outage.calls_to("POST", GRAPHQL)) == 1  # 503: kept, retried later
        pushes = {p["sku"]: p for p in ok(admin.get("/api/v1/connectors/shopify/shop/pushes"))}
        green = pushes["IPOD2008GREEN"]
        assert green["status"] == "pending" and green["attempts"] == 1 and "503" in green["last_error"]
        assert pushes["IPOD2008RED"]["status"] == "unmapped"  # Shopify's id for it is not known: nothing sent
        work()
        assert len(outage.calls_to("POST", GRAPHQL)) == 1  # not before its backoff
        clock.advance(seconds=31)
        work()
        assert len(outage.calls_to("POST", GRAPHQL)) == 2
        pushes = {p["sku"]: p for p in ok(admin.get("/api/v1/connectors/shopify/shop/pushes"))}
        assert pushes["IPOD2008GREEN"]["status"] == "pushed" and pushes["IPOD2008GREEN"]["pushed"]["locations"] == {
            FIFTH_AVENUE: 5}
    finally:
        outage.stop()
    problem(admin.put("/api/v1/connectors/shopify/shop", json={
        "shop_domain": SHOP, "webhook_secret": "x", "access_token": "y", "api_base": "http://169.254.169.254",
        "default_location": "nyc"}), 422, "connector_invalid")
    problem(admin.put("/api/v1/connectors/shopify/shop", json={
        "shop_domain": SHOP, "webhook_secret": "x", "access_token": "y", "default_location": "nowhere"}), 422,
        "location_not_found")


def test_the_same_order_sent_at_once_from_many_threads_is_one_order(admin, db, shopify):
    """Shopify retries while the first delivery is still being written, and sends orders/create and orders/paid
    of one order together: one order, its stock taken once (on PostgreSQL, concurrent transactions)."""
    shop_world(admin, on_hand={"IPOD2008GREEN": 50, "IPOD2008RED": 50, "IPOD2008BLACK": 50})
    connect_shopify(admin, shopify.base)
    payload = order_payload()
    body = json.dumps(payload).encode()
    calls = [shopify_headers(body, "orders/create", webhook_id="same-delivery") for _ in range(4)]
    calls += [shopify_headers(body, topic) for topic in ("orders/create", "orders/paid", "orders/updated")]
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        answers = list(pool.map(lambda h: admin.post("/api/v1/connectors/shopify/shop/webhooks", content=body,
                                                     headers=h), calls))
    assert [a.status_code for a in answers] == [200] * len(calls), [a.text for a in answers]
    outcomes = sorted(a.json()["outcome"] for a in answers)
    assert outcomes.count("duplicate") == 3 and "dead_letter" not in outcomes
    assert count(db, "orders") == 1 and count(db, "connector_receipts") == 4
    for sku in ("IPOD2008GREEN", "IPOD2008RED", "IPOD2008BLACK"):
        assert level(admin, sku)["on_hand"] == 49


def test_two_lines_of_one_sku_take_in_turn_from_the_same_units(admin, db, shopify):
    """A shop may send one SKU on two lines (a gift-wrapped unit and a plain one): the second line takes what the
    first left, so the order takes 3 of 3 and flags 1 short, and the ledger says where each unit went."""
    shop_world(admin, on_hand={"IPOD2008GREEN": 3, "IPOD2008RED": 5, "IPOD2008BLACK": 5})
    connect_shopify(admin, shopify.base)
    payload = order_payload()
    green = next(line for line in payload["line_items"] if line["sku"] == "IPOD2008GREEN")
    payload["line_items"] = [{**green, "id": 1, "quantity": 2}, {**green, "id": 2, "quantity": 2}]
    order = ok(admin.get(f"/api/v1/orders/{ok(post_shopify(admin, payload, 'orders/create'))['order_id']}"))
    assert [(line["quantity"], line["fulfilled"]) for line in order["lines"]] == [(2, 2), (2, 1)]
    assert [(o["sku"], o["sold"], o["taken"], o["short"]) for o in order["external"]["oversold"]] == [
        ("IPOD2008GREEN", 2, 1, 1)]
    assert level(admin, "IPOD2008GREEN")["on_hand"] == 0
    with db.read() as conn:
        ledger = conn.execute(sa.text("SELECT on_hand_delta, on_hand_after, reference FROM stock_ledger "
                                      "WHERE sku = 'IPOD2008GREEN' AND kind = 'external_sale'")).all()
    assert [tuple(row) for row in ledger] == [(-3, 0, order["id"])]
    assert ok(admin.post("/api/v1/inventory/check")) == []


def test_concurrent_orders_locking_skus_in_opposite_orders_never_oversell_nor_deadlock(admin, db, shopify):
    """Sixteen shop orders at once, half listing the SKUs one way and half the other: each takes only free units
    (10 of each SKU go, the rest is flagged), none fails on a deadlock, and the ledger agrees with the levels."""
    shop_world(admin, on_hand={"IPOD2008GREEN": 10, "IPOD2008RED": 10, "IPOD2008BLACK": 10})
    connect_shopify(admin, shopify.base)
    bodies = []
    for n in range(16):
        payload = order_payload()
        payload["id"], payload["name"] = 900_000 + n, f"#C{n}"
        if n % 2:
            payload["line_items"].reverse()
        bodies.append(json.dumps(payload).encode())
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda body: admin.post(
            "/api/v1/connectors/shopify/shop/webhooks", content=body,
            headers=shopify_headers(body, "orders/create")), bodies))
    assert [a.status_code for a in answers] == [200] * 16, [a.text for a in answers]
    assert {a.json()["outcome"] for a in answers} == {"applied"}
    orders = [ok(admin.get(f"/api/v1/orders/{a.json()['order_id']}")) for a in answers]
    for sku in ("IPOD2008GREEN", "IPOD2008RED", "IPOD2008BLACK"):
        taken = sum(line["fulfilled"] for o in orders for line in o["lines"] if line["sku"] == sku)
        short = sum(s["short"] for o in orders for s in o["external"]["oversold"] if s["sku"] == sku)
        assert (taken, short, level(admin, sku)["on_hand"]) == (10, 6, 0)
    assert ok(admin.post("/api/v1/inventory/check")) == []
