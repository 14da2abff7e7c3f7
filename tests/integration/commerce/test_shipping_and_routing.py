"""Journey 3: home delivery routed to the best location (full fill, nearest, fewest shipments), shipments with
tracking, cancellation and the order's money."""

from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from tests.builders import ok, problem, stock

from omnihub.core.clock import ManualClock

PRICES = {"TEE-M": Decimal("20.00"), "MUG": Decimal("11.00")}
BARCELONA = {"line1": "Carrer de Verdi 12", "city": "Barcelona", "postal_code": "08012", "country": "ES",
             "lat": 41.4036, "lon": 2.1570}
MADRID = {"line1": "Calle de Alcalá 50", "city": "Madrid", "postal_code": "28014", "country": "ES",
          "lat": 40.4189, "lon": -3.6919}


def order_body(*lines: tuple[str, int], to: dict[str, Any] = BARCELONA, channel: str = "web",
               paid: Decimal | None = None, **extra: Any) -> dict[str, Any]:
    total = sum((PRICES[s] * q for s, q in lines), Decimal(0)) if paid is None else paid
    return {"channel": channel, "customer": {"email": "jordi.puig@correu.cat"},
            "lines": [{"sku": s, "quantity": q} for s, q in lines],
            "fulfilment": {"type": "ship", "address": to},
            "payments": [{"method": "card", "amount": str(total)}], **extra}


def ship_order(api: TestClient, *lines: tuple[str, int], **options: Any) -> dict[str, Any]:
    return ok(api.post("/api/v1/orders", json=order_body(*lines, **options)), 201)


def placed(order: dict[str, Any]) -> list[tuple[str, int, str]]:
    return [(line["sku"], line["quantity"], line["location"]) for line in order["lines"]]


def held(api: TestClient, location: str, sku: str) -> tuple[int, int]:
    level = ok(api.get(f"/api/v1/stock/{location}/{sku}"))
    return level["on_hand"], level["reserved"]


def test_a_delivery_near_barcelona_ships_from_the_barcelona_store_when_it_can_fill_it(shop: TestClient) -> None:
    order = ship_order(shop, ("TEE-M", 1), ("MUG", 2))

    assert order["status"] == "paid"
    assert placed(order) == [("TEE-M", 1, "bcn"), ("MUG", 2, "bcn")]
    sourcing = order["sourcing"]
    assert sourcing["strategy"] == "single_location"
    assert sourcing["chosen"] == ["bcn"]
    assert sourcing["reason"] == "bcn can fill every line and is the nearest of 2 that can"
    assert [c["location"] for c in sourcing["considered"]] == ["bcn", "vlc", "mad", "wh"]
    assert [c["can_fill_all"] for c in sourcing["considered"]] == [True, False, False, True]
    assert held(shop, "bcn", "TEE-M") == (2, 1)
    assert held(shop, "bcn", "MUG") == (5, 2)
    assert held(shop, "wh", "MUG") == (50, 0)
    assert ok(shop.get(f"/api/v1/orders/{order['id']}"))["sourcing"] == sourcing


def test_the_warehouse_ships_when_only_it_can_fill_the_order(shop: TestClient) -> None:
    order = ship_order(shop, ("TEE-M", 4))

    assert placed(order) == [("TEE-M", 4, "wh")]
    assert order["sourcing"]["strategy"] == "single_location"
    assert order["sourcing"]["reason"] == "wh can fill every line"
    assert held(shop, "wh", "TEE-M") == (50, 4)
    assert held(shop, "bcn", "TEE-M") == (2, 0)
    assert held(shop, "mad", "TEE-M") == (3, 0)


def test_when_no_location_can_fill_everything_the_order_is_split(shop: TestClient) -> None:
    stock(shop, "wh", "TEE-M", 0)

    order = ship_order(shop, ("TEE-M", 1), ("MUG", 6))

    assert placed(order) == [("TEE-M", 1, "bcn"), ("MUG", 5, "bcn"), ("MUG", 1, "wh")]
    assert [line["total"] for line in order["lines"]] == ["20.00", "55.00", "11.00"]
    assert order["totals"]["total"] == "86.00"
    assert order["sourcing"]["strategy"] == "split"
    assert order["sourcing"]["chosen"] == ["bcn", "wh"]
    assert order["sourcing"]["reason"] == ("no single location can fill every line; split over 2 location(s), "
                                           "taking the one that covers most of what is left first")
    assert held(shop, "bcn", "MUG") == (5, 5)
    assert held(shop, "wh", "MUG") == (50, 1)
    assert ok(shop.post("/api/v1/inventory/check")) == []


def test_a_store_at_its_daily_capacity_is_skipped_until_the_next_day(shop: TestClient, clock: ManualClock) -> None:
    assert ok(shop.put("/api/v1/fulfilment/capacity/bcn", json={"daily_orders": 1})) == {
        "location": "bcn", "daily_orders": 1, "left_today": 1}

    first = ship_order(shop, ("TEE-M", 1))
    second = ship_order(shop, ("TEE-M", 1))

    assert placed(first) == [("TEE-M", 1, "bcn")]
    assert placed(second) == [("TEE-M", 1, "mad")]
    assert second["sourcing"]["skipped_at_capacity"] == ["bcn"]
    assert "bcn" not in [c["location"] for c in second["sourcing"]["considered"]]

    clock.advance(days=1)
    third = ship_order(shop, ("TEE-M", 1))

    assert placed(third) == [("TEE-M", 1, "bcn")]
    assert third["sourcing"]["skipped_at_capacity"] == []


def test_partial_shipment_then_the_rest_then_delivery(shop: TestClient, associate) -> None:
    order = ship_order(shop, ("TEE-M", 3), ("MUG", 2), to=MADRID)
    assert placed(order) == [("TEE-M", 3, "wh"), ("MUG", 2, "wh")]
    warehouse = associate("wh")

    first = ok(shop.post(f"/api/v1/orders/{order['id']}/shipments", headers=warehouse, json={
        "carrier": "SEUR", "tracking_number": "SEUR-0001", "location": "wh",
        "lines": [{"sku": "TEE-M", "quantity": 2}]}), 201)

    assert (first["carrier"], first["tracking_number"], first["location"], first["status"]) == (
        "SEUR", "SEUR-0001", "wh", "shipped")
    assert first["lines"] == [{"line_no": 1, "sku": "TEE-M", "quantity": 2}]
    middle = ok(shop.get(f"/api/v1/orders/{order['id']}"))
    assert middle["status"] == "partially_shipped"
    assert [line["fulfilled"] for line in middle["lines"]] == [2, 0]
    assert held(shop, "wh", "TEE-M") == (48, 1)

    rest = ok(shop.post(f"/api/v1/orders/{order['id']}/shipments", headers=warehouse, json={
        "carrier": "Correos", "tracking_number": "PQ123ES"}), 201)

    assert rest["lines"] == [{"line_no": 1, "sku": "TEE-M", "quantity": 1}, {"line_no": 2, "sku": "MUG", "quantity": 2}]
    assert ok(shop.get(f"/api/v1/orders/{order['id']}"))["status"] == "shipped"
    problem(shop.post(f"/api/v1/orders/{order['id']}/shipments", headers=warehouse,
                      json={"carrier": "SEUR", "tracking_number": "SEUR-0002"}), 409, "nothing_to_ship")

    one = ok(shop.post(f"/api/v1/orders/{order['id']}/shipments/{first['id']}/delivered"))
    assert one["status"] == "delivered" and one["delivered_at"] is not None
    assert ok(shop.get(f"/api/v1/orders/{order['id']}"))["status"] == "shipped"
    ok(shop.post(f"/api/v1/orders/{order['id']}/shipments/{rest['id']}/delivered"))

    done = ok(shop.get(f"/api/v1/orders/{order['id']}"))
    assert done["status"] == "delivered"
    assert [line["fulfilled"] for line in done["lines"]] == [3, 2]
    assert held(shop, "wh", "TEE-M") == (47, 0)
    assert held(shop, "wh", "MUG") == (48, 0)
    assert ok(shop.post("/api/v1/inventory/check")) == []


def test_shipping_more_than_is_waiting_is_refused_and_changes_nothing(shop: TestClient, associate) -> None:
    order = ship_order(shop, ("TEE-M", 2), to=MADRID)
    assert placed(order) == [("TEE-M", 2, "mad")]

    problem(shop.post(f"/api/v1/orders/{order['id']}/shipments", headers=associate("mad"), json={
        "carrier": "SEUR", "tracking_number": "X1", "lines": [{"sku": "TEE-M", "quantity": 3}]}),
        422, "invalid_shipment_line")

    assert ok(shop.get(f"/api/v1/orders/{order['id']}"))["status"] == "paid"
    assert held(shop, "mad", "TEE-M") == (3, 2)


def test_home_delivery_carries_the_channel_shipping_fee_and_the_totals_add_up(shop: TestClient) -> None:
    assert ok(shop.patch("/api/v1/channels/web", json={"shipping_fee": "4.95"}))["shipping_fee"] == "4.95"
    ok(shop.post("/api/v1/promotions", json={"code": "TENOFF", "kind": "percent", "value": "10"}), 201)

    order = ship_order(shop, ("TEE-M", 1), ("MUG", 2), paid=Decimal("42.75"), promotion_codes=["TENOFF"])

    totals = order["totals"]
    # web prices include tax: 4.95 of shipping carries 0.86 of it, at 21 % (the highest rate of the goods)
    assert totals == {"subtotal": "42.00", "discount": "4.20", "shipping": "4.95", "shipping_tax": "0.86",
                      "tax": "5.78", "total": "42.75", "currency": "EUR"}
    assert Decimal(totals["subtotal"]) - Decimal(totals["discount"]) + Decimal(totals["shipping"]) == Decimal(
        totals["total"])
    assert [(line["discount"], line["tax"], line["total"]) for line in order["lines"]] == [
        ("2.00", "3.12", "18.00"), ("2.20", "1.80", "19.80")]
    assert order["status"] == "paid" and order["payment_status"] == "paid"
    invoices = ok(shop.get("/api/v1/invoices", params={"order": order["id"]}))["items"]
    assert [(i["number"], i["totals"]["total"], i["totals"]["shipping"]) for i in invoices] == [
        (order["invoice_number"], "42.75", "4.95")]
    [invoice] = invoices
    shipping_line = invoice["lines"][-1]
    assert (shipping_line["kind"], shipping_line["name"], shipping_line["unit_price"], shipping_line["discount"],
            shipping_line["tax_rate"], shipping_line["tax"], shipping_line["total"]) == (
        "shipping", "Shipping", "4.95", "0.00", "21.0000", "0.86", "4.95")
    assert sum(Decimal(line["total"]) for line in invoice["lines"]) == Decimal(invoice["totals"]["total"])
    assert sum(Decimal(line["tax"]) for line in invoice["lines"]) == Decimal(invoice["totals"]["tax"])

    pickup = ok(shop.post("/api/v1/orders", json={**order_body(("MUG", 1)),
                                                   "fulfilment": {"type": "pickup", "location": "bcn"}}), 201)
    assert pickup["totals"]["shipping"] == "0.00"
    assert pickup["totals"]["total"] == "11.00"


def test_free_shipping_is_an_invoice_line_with_its_discount_and_no_tax(shop: TestClient) -> None:
    ok(shop.patch("/api/v1/channels/web", json={"shipping_fee": "4.95"}))
    ok(shop.post("/api/v1/promotions", json={"code": "SHIPFREE", "kind": "free_shipping"}), 201)

    order = ship_order(shop, ("MUG", 2), paid=Decimal("22.00"), promotion_codes=["SHIPFREE"])
    [invoice] = ok(shop.get("/api/v1/invoices", params={"order": order["id"]}))["items"]
    shipping_line = invoice["lines"][-1]

    assert {k: order["totals"][k] for k in ("shipping", "shipping_tax", "discount", "total")} == {
        "shipping": "4.95", "shipping_tax": "0.00", "discount": "4.95", "total": "22.00"}
    assert (shipping_line["kind"], shipping_line["unit_price"], shipping_line["discount"], shipping_line["tax"],
            shipping_line["total"]) == ("shipping", "4.95", "4.95", "0.00", "0.00")
    assert sum(Decimal(line["total"]) for line in invoice["lines"]) == Decimal("22.00")


def test_a_shipped_order_cannot_be_cancelled_and_nothing_changes(shop: TestClient, associate) -> None:
    order = ship_order(shop, ("MUG", 1), to=MADRID)
    ok(shop.post(f"/api/v1/orders/{order['id']}/shipments", headers=associate("wh"),
                 json={"carrier": "SEUR", "tracking_number": "S-1"}), 201)

    refused = problem(shop.post(f"/api/v1/orders/{order['id']}/cancel"), 409, "illegal_transition")

    assert (refused["current_status"], refused["wanted_status"]) == ("shipped", "cancelled")
    after = ok(shop.get(f"/api/v1/orders/{order['id']}"))
    assert (after["status"], after["payment_status"]) == ("shipped", "paid")
    assert held(shop, "wh", "MUG") == (49, 0)
    assert ok(shop.get("/api/v1/payments", params={"order": order["id"]}))["refunded"] == "0.00"


def test_a_partially_shipped_order_cannot_be_cancelled(shop: TestClient, associate) -> None:
    order = ship_order(shop, ("MUG", 3), to=MADRID)
    ok(shop.post(f"/api/v1/orders/{order['id']}/shipments", headers=associate("wh"), json={
        "carrier": "SEUR", "tracking_number": "S-2", "lines": [{"sku": "MUG", "quantity": 1}]}), 201)

    problem(shop.post(f"/api/v1/orders/{order['id']}/cancel"), 409, "illegal_transition")

    assert ok(shop.get(f"/api/v1/orders/{order['id']}"))["status"] == "partially_shipped"
    assert held(shop, "wh", "MUG") == (49, 2)


def test_a_cancelled_order_cannot_be_shipped_and_nothing_changes(shop: TestClient, associate) -> None:
    order = ship_order(shop, ("MUG", 2), to=MADRID)
    ok(shop.post(f"/api/v1/orders/{order['id']}/cancel"))

    problem(shop.post(f"/api/v1/orders/{order['id']}/shipments", headers=associate("wh"),
                      json={"carrier": "SEUR", "tracking_number": "S-3"}), 409, "illegal_transition")

    after = ok(shop.get(f"/api/v1/orders/{order['id']}"))
    assert after["status"] == "cancelled"
    assert [line["fulfilled"] for line in after["lines"]] == [0]
    assert held(shop, "wh", "MUG") == (50, 0)
    problem(shop.post(f"/api/v1/orders/{order['id']}/cancel"), 409, "illegal_transition")


def test_cancelling_before_shipping_releases_exactly_the_held_stock_and_refunds(shop: TestClient) -> None:
    other = ship_order(shop, ("TEE-M", 1))
    order = ship_order(shop, ("TEE-M", 1), ("MUG", 2))
    assert placed(other) == [("TEE-M", 1, "bcn")]
    assert placed(order) == [("TEE-M", 1, "bcn"), ("MUG", 2, "bcn")]
    assert held(shop, "bcn", "TEE-M") == (2, 2)

    cancelled = ok(shop.post(f"/api/v1/orders/{order['id']}/cancel"))

    assert (cancelled["status"], cancelled["payment_status"]) == ("cancelled", "refunded")
    assert held(shop, "bcn", "TEE-M") == (2, 1)
    assert held(shop, "bcn", "MUG") == (5, 0)
    money = ok(shop.get("/api/v1/payments", params={"order": order["id"]}))
    assert (money["paid"], money["refunded"]) == ("42.00", "42.00")
    assert [(r["amount"], r["method"]) for r in money["refunds"]] == [("42.00", "card")]
    invoices = ok(shop.get("/api/v1/invoices", params={"order": order["id"]}))["items"]
    assert [i["number"] for i in invoices] == [order["invoice_number"]]
    assert ok(shop.get(f"/api/v1/orders/{other['id']}"))["status"] == "paid"
    assert ok(shop.post("/api/v1/inventory/check")) == []


def test_an_order_nobody_can_fill_is_a_409_and_holds_nothing(shop: TestClient) -> None:
    refused = problem(shop.post("/api/v1/orders", json=order_body(("TEE-M", 56))), 409, "insufficient_stock")

    assert refused["field"] == "lines.0.quantity"
    assert [(level["location"], level["reserved"]) for level in ok(shop.get("/api/v1/stock/TEE-M"))["locations"]
            ] == [("bcn", 0), ("mad", 0), ("wh", 0)]
    first = ship_order(shop, ("TEE-M", 1))
    assert first["number"] == "WEB-000001"


def test_a_retried_order_with_the_same_idempotency_key_is_the_same_order(shop: TestClient) -> None:
    body = order_body(("TEE-M", 1), ("MUG", 1))

    first = ok(shop.post("/api/v1/orders", json=body, headers={"Idempotency-Key": "checkout-7f3a"}), 201)
    again = ok(shop.post("/api/v1/orders", json=body, headers={"Idempotency-Key": "checkout-7f3a"}), 201)
    other = ok(shop.post("/api/v1/orders", json=body, headers={"Idempotency-Key": "checkout-9b1c"}), 201)

    assert (again["id"], again["number"]) == (first["id"], first["number"])
    assert other["id"] != first["id"]
    assert (first["number"], other["number"]) == ("WEB-000001", "WEB-000002")
    assert held(shop, "bcn", "TEE-M") == (2, 2)
    assert held(shop, "bcn", "MUG") == (5, 2)
    assert ok(shop.get("/api/v1/payments", params={"order": first["id"]}))["paid"] == "31.00"


def test_an_order_retried_after_the_last_unit_sold_is_still_that_order(shop: TestClient) -> None:
    stock(shop, "bcn", "TEE-M", 0)
    stock(shop, "mad", "TEE-M", 0)
    stock(shop, "wh", "TEE-M", 1)
    body = order_body(("TEE-M", 1))

    first = ok(shop.post("/api/v1/orders", json=body, headers={"Idempotency-Key": "last-one"}), 201)
    again = shop.post("/api/v1/orders", json=body, headers={"Idempotency-Key": "last-one"})
    refused = problem(shop.post("/api/v1/orders", json=body, headers={"Idempotency-Key": "too-late"}),
                      409, "insufficient_stock")
    # The next attempts are refused by the look before the transaction: the same answer
    refused_again = problem(shop.post("/api/v1/orders", json=body), 409, "insufficient_stock")
    retried = shop.post("/api/v1/orders", json=body, headers={"Idempotency-Key": "last-one"})

    assert again.status_code == 201 and again.json()["id"] == first["id"]
    assert retried.status_code == 201 and retried.json()["id"] == first["id"]
    assert (refused["field"], refused["requested"], refused["available"]) == ("lines.0.quantity", 1, 0)
    assert {k: v for k, v in refused_again.items() if k != "instance"} == \
        {k: v for k, v in refused.items() if k != "instance"}
    assert held(shop, "wh", "TEE-M") == (1, 1)


def test_an_order_cannot_take_the_units_its_channel_holds_back(shop: TestClient) -> None:
    ok(shop.patch("/api/v1/channels/market", json={"stock_buffer": 48}))  # the marketplace sees 2 of wh's 50

    refused = problem(shop.post("/api/v1/orders", json=order_body(("MUG", 3), channel="market")),
                      409, "insufficient_stock")
    sold = ship_order(shop, ("MUG", 2), channel="market", paid=Decimal("24.00"))
    after = problem(shop.post("/api/v1/orders", json=order_body(("MUG", 1), channel="market")),
                    409, "insufficient_stock")
    web = ship_order(shop, ("MUG", 1))  # the buffer holds units back from the marketplace only

    assert (refused["requested"], refused["available"]) == (3, 2)
    assert placed(sold) == [("MUG", 2, "wh")] and after["available"] == 0
    assert web["status"] == "paid" and placed(web) == [("MUG", 1, "bcn")]
    assert held(shop, "wh", "MUG") == (50, 2)


def test_order_numbers_count_per_channel(shop: TestClient) -> None:
    web1 = ship_order(shop, ("MUG", 1))
    market1 = ship_order(shop, ("MUG", 1), channel="market", paid=Decimal("12.00"))
    web2 = ship_order(shop, ("MUG", 1))

    assert [web1["number"], web2["number"], market1["number"]] == ["WEB-000001", "WEB-000002", "MARKET-000001"]
    assert placed(market1) == [("MUG", 1, "wh")]
    assert market1["totals"]["total"] == "12.00"
    assert ok(shop.get(f"/api/v1/orders/{market1['number']}"))["id"] == market1["id"]


def test_a_split_order_ships_from_each_store_by_its_own_associates(shop: TestClient, associate) -> None:
    stock(shop, "wh", "TEE-M", 0)
    order = ship_order(shop, ("TEE-M", 1), ("MUG", 6))
    assert [line["location"] for line in order["lines"]] == ["bcn", "bcn", "wh"]

    from_wh = ok(shop.post(f"/api/v1/orders/{order['id']}/shipments", headers=associate("wh"),
                           json={"carrier": "SEUR", "tracking_number": "WH-1"}), 201)

    assert (from_wh["location"], from_wh["lines"]) == ("wh", [{"line_no": 3, "sku": "MUG", "quantity": 1}])
    assert held(shop, "bcn", "MUG") == (5, 5)
    problem(shop.post(f"/api/v1/orders/{order['id']}/shipments", headers=associate("wh"),
                      json={"carrier": "SEUR", "tracking_number": "WH-2", "location": "bcn"}),
            403, "location_not_allowed")
    assert ok(shop.get(f"/api/v1/orders/{order['id']}"))["status"] == "partially_shipped"

    from_bcn = ok(shop.post(f"/api/v1/orders/{order['id']}/shipments", headers=associate("bcn"),
                            json={"carrier": "MRW", "tracking_number": "BCN-1"}), 201)

    assert from_bcn["lines"] == [{"line_no": 1, "sku": "TEE-M", "quantity": 1},
                                 {"line_no": 2, "sku": "MUG", "quantity": 5}]
    assert ok(shop.get(f"/api/v1/orders/{order['id']}"))["status"] == "shipped"
    assert held(shop, "bcn", "MUG") == (0, 0)
    assert held(shop, "wh", "MUG") == (49, 0)
    assert ok(shop.post("/api/v1/inventory/check")) == []


def test_another_channel_cannot_mark_a_shipment_delivered(shop: TestClient, associate, db, clock) -> None:
    from tests.conftest import make_key

    order = ship_order(shop, ("MUG", 1), to=MADRID)
    shipment = ok(shop.post(f"/api/v1/orders/{order['id']}/shipments", headers=associate("wh"),
                            json={"carrier": "SEUR", "tracking_number": "S-9"}), 201)
    market = {"Authorization": f"Bearer {make_key(db, clock, 'channel', channel='market')}"}
    web = {"Authorization": f"Bearer {make_key(db, clock, 'channel', channel='web')}"}

    problem(shop.post(f"/api/v1/orders/{order['id']}/shipments/{shipment['id']}/delivered", headers=market),
            404, "order_not_found")

    assert ok(shop.get(f"/api/v1/orders/{order['id']}"))["status"] == "shipped"
    ok(shop.post(f"/api/v1/orders/{order['id']}/shipments/{shipment['id']}/delivered", headers=web))
    assert ok(shop.get(f"/api/v1/orders/{order['id']}"))["status"] == "delivered"


def test_cancelling_an_invoiced_order_issues_a_credit_note_and_gives_capacity_back(shop: TestClient) -> None:
    ok(shop.put("/api/v1/fulfilment/capacity/bcn", json={"daily_orders": 1}))
    body = {"channel": "web", "customer": {"email": "pau.vidal@correo.es"}, "lines": [{"sku": "MUG", "quantity": 1}],
            "fulfilment": {"type": "pickup", "location": "bcn"}, "payments": [{"method": "card", "amount": "11.00"}]}
    first = ok(shop.post("/api/v1/orders", json=body), 201)
    assert first["invoice_number"] is not None

    ok(shop.post(f"/api/v1/orders/{first['id']}/cancel"))

    notes = ok(shop.get("/api/v1/credit-notes", params={"order": first["id"]}))
    assert len(notes["items"] if isinstance(notes, dict) else notes) == 1
    second = ok(shop.post("/api/v1/orders", json=body), 201)
    assert second["lines"][0]["location"] == "bcn"  # the cancelled order no longer fills the day


def test_a_shipment_naming_a_sku_twice_is_refused(shop: TestClient) -> None:
    order = ok(shop.post("/api/v1/orders", json={
        "channel": "web", "lines": [{"sku": "MUG", "quantity": 2}],
        "fulfilment": {"type": "ship", "address": {"line1": "x", "city": "Madrid", "postal_code": "28001",
                                                  "country": "ES", "lat": 40.35, "lon": -3.70}},
        "payments": [{"method": "card", "amount": "22.00"}]}), 201)

    body = problem(shop.post(f"/api/v1/orders/{order['id']}/shipments", json={
        "carrier": "mrw", "tracking_number": "1", "lines": [{"sku": "MUG", "quantity": 1},
                                                            {"sku": "MUG", "quantity": 1}]}), 422,
        "invalid_shipment_line")

    assert body["field"] == "lines.1"
    assert ok(shop.get(f"/api/v1/orders/{order['id']}"))["status"] == "paid"


def test_an_unknown_sku_is_404_not_409(shop: TestClient) -> None:
    body = problem(shop.post("/api/v1/orders", json={
        "channel": "web", "lines": [{"sku": "MUG", "quantity": 1}, {"sku": "GHOST", "quantity": 1}],
        "fulfilment": {"type": "pickup", "location": "bcn"}}), 404, "product_not_found")

    assert body["field"] == "lines.1.sku"
    assert ok(shop.get("/api/v1/stock/bcn/MUG"))["reserved"] == 0
