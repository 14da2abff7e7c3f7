"""Browser tests for the counter sale from a customer's open cart (found by phone, sold with the in-store offer),
the QR hand-over path, the admin's unmerge on the 360 page, and the accessibility of the new pages."""

from __future__ import annotations

import re
from typing import Any

from tests.e2e.conftest import Shop, check_accessibility, log_in, screenshot


def _ok(answer: Any, status: int = 201) -> Any:
    assert answer.status_code == status, answer.text
    return answer.json()


def test_the_associate_finds_a_customer_by_phone_sees_the_app_cart_and_sells_it_with_the_in_store_offer(
        new_page, shop: Shop) -> None:
    _ok(shop.api.post("/api/v1/stock/movements", json={"movements": [
        {"kind": "receipt", "location": "sol", "sku": "TEE-M", "quantity": 5}]}))
    _ok(shop.api.post("/api/v1/promotions", json={"code": "TIENDA10", "name": "10 % en tienda", "kind": "percent",
                                                  "value": "10", "channels": ["store"]}))
    cart = _ok(shop.api.post("/api/v1/carts", json={"channel": "app", "identity": {
        "phone": "+34 655 443 322", "email": "irene@correo.es"}}))
    _ok(shop.api.put(f"/api/v1/carts/{cart['id']}/lines", json=[{"sku": "TEE-M", "quantity": 2}]), 200)
    on_hand = shop.api.get("/api/v1/stock/sol/TEE-M").json()["on_hand"]
    page = new_page()
    log_in(page, shop, "associate")

    page.get_by_label("Customer's phone or e-mail").fill("655 443 322")
    page.get_by_role("button", name="Find the cart").click()
    assert "Cart left in app" in page.locator("#sale-cart-origin").inner_text()
    assert "TEE-M" in page.locator("#sale-lines").inner_text()
    page.get_by_label("In-store offer").select_option("TIENDA10")
    page.get_by_role("button", name="Apply").click()
    assert page.locator("#sale-total").inner_text() == "€36.00"
    check_accessibility(page)
    screenshot(page, "counter-sale")
    page.get_by_label("Paid with").select_option("cash")
    page.get_by_role("button", name="Sell at the counter").click()

    assert page.get_by_role("status").inner_text().startswith("Sold at the counter: order ")
    order_id = shop.api.get(f"/api/v1/carts/{cart['id']}").json()["order_id"]
    order = shop.api.get(f"/api/v1/orders/{order_id}").json()
    assert (order["channel"], order["status"], order["totals"]["total"]) == ("store", "collected", "36.00")
    assert shop.api.get("/api/v1/stock/sol/TEE-M").json()["on_hand"] == on_hand - 2


def test_a_scanned_pickup_qr_fills_the_code_and_hands_the_order_over(new_page, shop: Shop) -> None:
    order = shop.order({"channel": "web", "customer": {"email": "qr@correo.es"},
                        "lines": [{"sku": "TEE-M", "quantity": 1}], "fulfilment": {"type": "pickup", "location": "sol"},
                        "payments": [{"method": "card", "amount": "20.00"}]})
    _ok(shop.api.post(f"/api/v1/orders/{order['id']}/ready"), 200)
    code = shop.api.get(f"/api/v1/orders/{order['id']}").json()["pickup"]["code"]
    qr = shop.api.get(f"/api/v1/orders/{order['id']}/pickup/qr.png")  # what the customer's phone shows
    assert qr.status_code == 200 and qr.headers["content-type"] == "image/png"
    page = new_page()
    log_in(page, shop, "associate")
    assert page.locator("#scan").is_visible()  # Chromium has a camera API: the scanner is offered
    assert page.evaluate("typeof jsQR") == "function"

    # The camera is not there in a headless test: hand the decoder's output to the same function a frame takes.
    page.evaluate(f"window.omnihubPickupScanned('omnihub:pickup:{order['number']}:{code}')")
    page.wait_for_url(re.compile(r"done=collect"))
    assert shop.api.get(f"/api/v1/orders/{order['id']}").json()["status"] == "collected"


def test_admin_unmerges_on_the_360_page(new_page, shop: Shop) -> None:
    a = _ok(shop.api.post("/api/v1/customers", json={"identities": [{"kind": "email", "value": "rosa@correo.es"}]}))
    b = _ok(shop.api.post("/api/v1/customers", json={"identities": [{"kind": "phone", "value": "+34 677 888 999"}]}))
    _ok(shop.api.post(f"/api/v1/customers/{a['id']}/merge", json={"other": b["id"]}))
    page = new_page()
    log_in(page, shop, "admin")
    page.goto(f"/customers/{a['id']}")
    assert "+34677888999" in page.locator("main").inner_text().replace(" ", "")
    check_accessibility(page)
    screenshot(page, "customer-merges")

    page.get_by_role("button", name=f"Unmerge {b['id']}").click()

    assert page.get_by_role("status").inner_text() == "The merge was undone: the other profile is back."
    assert shop.api.get(f"/api/v1/customers/{b['id']}").json()["id"] == b["id"]
    assert "undone" in page.locator("#merges").inner_text()


def test_the_new_pages_are_accessible(new_page, shop: Shop) -> None:
    page = new_page()
    log_in(page, shop, "admin")
    for name, path in (("inventory-reconciliation", "/inventory/reconciliation"),
                       ("counter-sale-search", "/counter/sale?location=sol")):
        answer = page.goto(path)
        assert answer.status == 200, (path, answer.status)
        check_accessibility(page)
        screenshot(page, name)
