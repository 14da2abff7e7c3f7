"""A sale at the counter from the customer's open cart (found by phone as typed or e-mail) with an in-store
offer: the cart becomes a collected order in the store's till channel, with the store-only promotion's
discount; refusals (CSRF, a moved total, another store's till) change nothing."""

from __future__ import annotations

import pytest
from tests.builders import channel, ok, stock
from tests.integration.console.conftest import csrf_of, login, make_user


def _as(browser_for, db, clock, role: str, location: str | None = None):
    email, password = make_user(db, clock, role, location=location)
    return login(browser_for(), email, password)


@pytest.fixture
def app_cart(shop):
    """A till at each store, a store-only code and a code valid online too, and Lucía's app cart (2 tees)."""
    stock(shop, "sol", "TEE-M", 10)
    for code, store in (("pos-sol", "sol"), ("pos-bcn", "bcn")):
        channel(shop, code, kind="store", locations=[store])
        ok(shop.put(f"/api/v1/channels/{code}/prices", json=[{"sku": "TEE-M", "amount": "20.00"}]))
    ok(shop.post("/api/v1/promotions", json={"code": "TIENDA10", "name": "10 % in store", "kind": "percent",
                                             "value": "10", "channels": ["pos-sol", "pos-bcn"]}), 201)
    ok(shop.post("/api/v1/promotions", json={"code": "TODOS5", "name": "5 % everywhere", "kind": "percent",
                                             "value": "5"}), 201)
    cart = ok(shop.post("/api/v1/carts", json={"channel": "app", "identity": {
        "email": "lucia@correo.es", "phone": "+34 600 111 222"}}), 201)
    ok(shop.put(f"/api/v1/carts/{cart['id']}/lines", json=[{"sku": "TEE-M", "quantity": 2}]))
    return cart


def test_the_associate_finds_the_app_cart_by_phone_and_sells_it_with_the_in_store_offer(
        shop, app_cart, browser_for, db, clock) -> None:
    sol = _as(browser_for, db, clock, "associate", "sol")
    on_hand = ok(shop.get("/api/v1/stock/sol/TEE-M"))["on_hand"]

    found = sol.get("/counter/sale", params={"q": "600 111 222"})
    assert found.status_code == 200, found.text[:500]
    assert "Cart left in app" in found.text and "TEE-M" in found.text
    assert "TIENDA10" in found.text and "TODOS5" not in found.text  # only store-only codes are in-store offers
    priced = sol.get("/counter/sale", params={"q": "lucia@correo.es", "channel": "pos-sol", "offer": "TIENDA10"})
    assert 'id="sale-total">€36.00<' in priced.text and 'id="sale-discount">€4.00<' in priced.text

    sold = sol.post("/counter/sale", data={
        "csrf_token": csrf_of(priced.text), "cart": app_cart["id"], "q": "lucia@correo.es", "channel": "pos-sol",
        "offer": "TIENDA10", "method": "card", "expected_total": "36.00"}, follow_redirects=False)

    assert sold.status_code == 303, sold.text[sold.text.find("class=\"problem\""):][:600]
    assert sold.headers["location"].startswith("/counter?done=sale:")
    cart = ok(shop.get(f"/api/v1/carts/{app_cart['id']}"))
    order = ok(shop.get(f"/api/v1/orders/{cart['order_id']}"))
    assert cart["status"] == "checked_out"
    assert (order["channel"], order["status"], order["customer_id"]) == ("pos-sol", "collected", cart["customer_id"])
    assert (order["totals"]["discount"], order["totals"]["total"]) == ("4.00", "36.00")
    assert ok(shop.get("/api/v1/stock/sol/TEE-M"))["on_hand"] == on_hand - 2
    assert order["number"] in sol.get(sold.headers["location"]).text


def test_a_sale_without_csrf_with_a_moved_total_or_at_another_stores_till_changes_nothing(
        shop, app_cart, browser_for, db, clock) -> None:
    sol = _as(browser_for, db, clock, "associate", "sol")
    token = csrf_of(sol.get("/counter/sale", params={"q": "lucia@correo.es"}).text)
    form = {"cart": app_cart["id"], "q": "lucia@correo.es", "channel": "pos-sol", "offer": "", "method": "cash",
            "expected_total": "40.00"}

    no_csrf = sol.post("/counter/sale", data=form)
    moved = sol.post("/counter/sale", data=form | {"csrf_token": token, "expected_total": "39.00"})
    elsewhere = sol.post("/counter/sale", data=form | {"csrf_token": token, "channel": "pos-bcn"})
    web = sol.post("/counter/sale", data=form | {"csrf_token": token, "channel": "web"})
    bad_code = sol.get("/counter/sale", params={"q": "lucia@correo.es", "offer": "NOPE"})

    assert no_csrf.status_code == 403 and "csrf_failed" in no_csrf.text
    assert moved.status_code == 409 and "total_changed" in moved.text
    assert elsewhere.status_code == 422 and "channel_not_at_store" in elsewhere.text
    assert web.status_code == 422 and "channel_not_at_store" in web.text
    assert bad_code.status_code == 422 and "invalid_promotion_code" in bad_code.text
    assert ok(shop.get(f"/api/v1/carts/{app_cart['id']}"))["status"] == "open"


def test_the_sale_page_says_when_nobody_matches_or_there_is_no_cart(shop, app_cart, browser_for, db, clock) -> None:
    admin = _as(browser_for, db, clock, "admin")
    ok(shop.post("/api/v1/customers", json={"identities": [{"kind": "email", "value": "pere@correo.es"}]}), 201)

    nobody = admin.get("/counter/sale", params={"location": "sol", "q": "nadie@correo.es"})
    no_cart = admin.get("/counter/sale", params={"location": "sol", "q": "pere@correo.es"})
    no_store = admin.get("/counter/sale", params={"q": "lucia@correo.es"})

    assert nobody.status_code == 404 and "customer_not_found" in nobody.text
    assert no_cart.status_code == 200 and "No open cart." in no_cart.text
    assert no_store.status_code == 200 and "Choose a store" in no_store.text and "TEE-M" not in no_store.text


def test_the_counter_offers_the_qr_scanner_with_its_vendored_fallback(shop, browser_for, db, clock) -> None:
    sol = _as(browser_for, db, clock, "associate", "sol")
    page = sol.get("/counter")
    assert 'id="scan"' in page.text and "/static/console/vendor/jsQR.js" in page.text
    assert sol.get("/static/console/vendor/jsQR.js").status_code == 200
    assert 'action="/counter/sale"' in page.text
