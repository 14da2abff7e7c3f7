"""Journey 2: click & collect."""

from fastapi.testclient import TestClient
from tests.builders import ok, problem

from omnihub.core.clock import ManualClock
from omnihub.core.db import Database

PRICES = {"TEE-M": 20, "MUG": 11}


def pickup_order(api: TestClient, store: str, *lines: tuple[str, int], **extra: object) -> dict:
    total = sum(PRICES[s] * q for s, q in lines)
    body = {"channel": "web", "customer": {"email": "ana.garcia@correo.es", "phone": "+34 600 111 222"},
            "lines": [{"sku": s, "quantity": q} for s, q in lines],
            "fulfilment": {"type": "pickup", "location": store},
            "payments": [{"method": "card", "amount": f"{total}.00"}], **extra}
    return ok(api.post("/api/v1/orders", json=body), 201)


def test_pickup_order_reserves_at_the_store_is_readied_and_collected_with_the_code(
        shop: TestClient, associate, db: Database, clock: ManualClock) -> None:
    order = pickup_order(shop, "mad", ("TEE-M", 2))

    assert order["status"] == "paid"
    assert [(line["sku"], line["quantity"], line["location"]) for line in order["lines"]] == [("TEE-M", 2, "mad")]
    assert order["pickup"]["status"] == "preparing"
    assert ok(shop.get("/api/v1/stock/mad/TEE-M"))["reserved"] == 2

    mad = associate("mad")
    ready = ok(shop.post(f"/api/v1/orders/{order['id']}/ready", headers=mad))
    code = ready["pickup"]["code"]
    assert ready["status"] == "ready_for_pickup" and len(code) == 6
    sent = ok(shop.get("/api/v1/outbox/messages", params={"reference": order["id"]}))["items"]
    assert {m["kind"] for m in sent} == {"email", "sms"}
    assert all(code in m["body"] for m in sent)
    qr = shop.get(f"/api/v1/orders/{order['id']}/pickup/qr.png", headers=mad)
    assert qr.status_code == 200 and qr.content[:8] == b"\x89PNG\r\n\x1a\n"

    problem(shop.post(f"/api/v1/orders/{order['id']}/collect", json={"code": "000000" if code != "000000"
                                                                     else "111111"}, headers=mad),
            422, "wrong_pickup_code")
    assert ok(shop.get("/api/v1/stock/mad/TEE-M"))["on_hand"] == 3

    collected = ok(shop.post(f"/api/v1/orders/{order['id']}/collect", json={"code": code}, headers=mad))

    assert collected["status"] == "collected"
    level = ok(shop.get("/api/v1/stock/mad/TEE-M"))
    assert (level["on_hand"], level["reserved"]) == (1, 0)
    assert ok(shop.post("/api/v1/inventory/check")) == []


def test_store_without_stock_gets_it_from_the_warehouse_with_a_later_promise(shop: TestClient, associate,
                                                                             clock: ManualClock) -> None:
    order = pickup_order(shop, "vlc", ("MUG", 2))

    assert order["lines"][0]["location"] == "wh"
    assert order["pickup"]["status"] == "awaiting_stock"
    assert order["promised_at"] > clock.now().isoformat()

    ready = ok(shop.post(f"/api/v1/orders/{order['id']}/ready", headers=associate("vlc")))

    assert ready["lines"][0]["location"] == "vlc"
    vlc = ok(shop.get("/api/v1/stock/vlc/MUG"))
    assert (vlc["on_hand"], vlc["reserved"]) == (2, 2)
    assert ok(shop.get("/api/v1/stock/wh/MUG"))["on_hand"] == 48
    assert ok(shop.post("/api/v1/inventory/check")) == []


def test_uncollected_orders_expire_release_stock_and_refund(shop: TestClient, associate, db: Database,
                                                             clock: ManualClock) -> None:
    from omnihub.commerce.fulfilment import expire_uncollected

    order = pickup_order(shop, "mad", ("TEE-M", 1))
    ok(shop.post(f"/api/v1/orders/{order['id']}/ready", headers=associate("mad")))

    clock.advance(days=8)
    with db.transaction() as conn:
        assert expire_uncollected(conn, clock) == 1

    expired = ok(shop.get(f"/api/v1/orders/{order['id']}"))
    assert (expired["status"], expired["pickup"]["status"], expired["payment_status"]) == (
        "cancelled", "expired", "refunded")
    assert ok(shop.get("/api/v1/stock/mad/TEE-M"))["reserved"] == 0


def test_pickup_code_is_hidden_from_other_stores_and_channels(shop: TestClient, associate, db: Database,
                                                               clock: ManualClock) -> None:
    order = pickup_order(shop, "mad", ("TEE-M", 1))
    ok(shop.post(f"/api/v1/orders/{order['id']}/ready", headers=associate("mad")))

    problem(shop.get(f"/api/v1/orders/{order['id']}", headers=associate("bcn")), 404, "order_not_found")
    problem(shop.post(f"/api/v1/orders/{order['id']}/collect", json={"code": "123456"}, headers=associate("bcn")),
            403, "location_not_allowed")
    from tests.conftest import make_key

    web = {"Authorization": f"Bearer {make_key(db, clock, 'channel', channel='web')}"}
    assert ok(shop.get(f"/api/v1/orders/{order['id']}", headers=web))["pickup"]["code"] is None


def test_pickup_at_a_location_without_pickup_is_refused(shop: TestClient) -> None:
    body = {"channel": "web", "lines": [{"sku": "MUG", "quantity": 1}],
            "fulfilment": {"type": "pickup", "location": "wh"}}

    problem(shop.post("/api/v1/orders", json=body), 422, "pickup_not_allowed")

    assert ok(shop.get("/api/v1/stock/wh/MUG"))["reserved"] == 0
