"""The console in a real browser: logging in per role, refusals, the associate's pickup journey (live), a return
at the counter, the customer 360 from a phone number, every page's accessibility, and screenshots."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.e2e.conftest import PRICES, Shop, check_accessibility, log_in, screenshot

pytestmark = pytest.mark.slow

HOMES = {"admin": "/dashboard", "associate": "/counter", "agent": "/inbox", "marketer": "/dashboard"}


@pytest.mark.parametrize("role", ["admin", "associate", "agent", "marketer"])
def test_each_role_logs_in_and_lands_on_its_home_page(new_page, shop: Shop, role: str) -> None:
    page = new_page()
    log_in(page, shop, role)

    assert page.url == shop.url + HOMES[role]
    assert page.locator("header .who a").first.inner_text() == shop.users[role][0]
    check_accessibility(page)


def test_a_wrong_password_shows_the_message_and_keeps_the_person_out(new_page, shop: Shop) -> None:
    page = new_page()
    page.goto("/login")
    check_accessibility(page)
    screenshot(page, "login")
    page.locator("#f-email").fill(shop.users["agent"][0])
    page.locator("#f-password").fill("not-my-password")
    page.get_by_role("button", name="Log in").click()

    assert page.get_by_role("alert").inner_text().startswith("The e-mail or the password is wrong.")
    assert page.goto("/orders").url.startswith(shop.url + "/login?next=")


def test_an_associate_cannot_open_admin_pages(new_page, shop: Shop) -> None:
    page = new_page()
    log_in(page, shop, "associate")

    assert page.locator('nav a[href="/webhooks"]').count() == 0
    answer = page.goto("/webhooks")
    assert answer.status == 403
    assert "role_not_allowed" in page.locator("main").inner_text()
    check_accessibility(page)


def test_a_form_with_a_forged_csrf_token_is_refused(new_page, shop: Shop) -> None:
    page = new_page()
    log_in(page, shop, "admin")
    page.goto("/profile")
    page.evaluate("""() => document.querySelectorAll('input[name=csrf_token]').forEach(i => i.value = 'forged')""")

    with page.expect_response(lambda r: r.url.endswith("/profile/language")) as answer:
        page.get_by_role("button", name="Save language").click()

    assert answer.value.status == 403
    assert "csrf_failed" in page.locator("main").inner_text()


def _pickup_body(number: int) -> dict[str, Any]:
    return {"channel": "web", "customer": {"email": f"lucia{number}@correo.es", "phone": "+34 600 222 333"},
            "lines": [{"sku": "TEE-M", "quantity": 1}], "fulfilment": {"type": "pickup", "location": "sol"},
            "payments": [{"method": "card", "amount": PRICES["TEE-M"]}]}


def test_the_associate_sees_a_new_pickup_live_marks_it_ready_and_hands_it_over_with_the_code(
        new_page, shop: Shop) -> None:
    _pickup_journey(new_page, shop, screenshots=True)


@pytest.mark.postgres
def test_the_pickup_journey_on_postgresql(new_page_on, pg_shop: Shop) -> None:
    _pickup_journey(new_page_on(pg_shop), pg_shop, screenshots=False)


def _pickup_journey(new_page, shop: Shop, *, screenshots: bool) -> None:
    page = new_page(width=1024, height=768)  # a store tablet
    log_in(page, shop, "associate")
    assert page.url.endswith("/counter")
    before = page.locator("#to-prepare li.card").count()

    order = shop.order(_pickup_body(1))  # a web order arrives while the page is open

    card = page.locator(f'#to-prepare li[data-order="{order["number"]}"]')
    card.wait_for()  # no reload: the live list brings it
    assert page.locator("#to-prepare li.card").count() == before + 1
    check_accessibility(page)
    if screenshots:
        screenshot(page, "counter")
    card.get_by_role("button", name="Mark ready").click()
    assert f"Order {order['number']} is ready for pickup." in page.get_by_role("status").inner_text()

    code = shop.api.get(f"/api/v1/orders/{order['id']}").json()["pickup"]["code"]
    ready = page.locator(f'#ready li[data-order="{order["number"]}"]')
    ready.get_by_label(f"Code for {order['number']}").fill("000000" if code != "000000" else "111111")
    ready.get_by_role("button", name="Hand over").click()
    assert "wrong_pickup_code" in page.get_by_role("alert").first.inner_text()
    assert shop.api.get(f"/api/v1/orders/{order['id']}").json()["status"] == "ready_for_pickup"

    ready = page.locator(f'#ready li[data-order="{order["number"]}"]')
    ready.get_by_label(f"Code for {order['number']}").fill(code)
    ready.get_by_label(f"Code for {order['number']}").press("Enter")
    assert f"Order {order['number']} was handed over." in page.get_by_role("status").inner_text()
    assert page.locator(f'li[data-order="{order["number"]}"]').count() == 0
    assert shop.api.get(f"/api/v1/orders/{order['id']}").json()["status"] == "collected"

    # the same order comes back at the counter: one unit, resellable, refunded to the card
    on_hand = shop.api.get("/api/v1/stock/sol/TEE-M").json()["on_hand"]
    page.get_by_label("Order number").fill(order["number"])
    page.get_by_role("button", name="Find order").click()
    page.get_by_label("Units of TEE-M to return").fill("1")
    page.get_by_label("Resellable: back to stock").check()
    check_accessibility(page)
    if screenshots:
        screenshot(page, "counter-return")
    page.get_by_role("button", name="Take the return").click()
    assert page.get_by_role("status").inner_text().startswith("Return taken:")
    assert shop.api.get(f"/api/v1/orders/{order['id']}").json()["status"] == "returned"
    assert shop.api.get("/api/v1/stock/sol/TEE-M").json()["on_hand"] == on_hand + 1


def test_customer_search_by_phone_as_typed_opens_the_360_page_with_the_app_cart(new_page, shop: Shop) -> None:
    cart = shop.api.post("/api/v1/carts", json={"channel": "app", "identity": {"phone": "+34 612 345 678",
                                                                               "email": "marta@correo.es"}})
    assert cart.status_code == 201, cart.text
    lines = shop.api.put(f"/api/v1/carts/{cart.json()['id']}/lines", json=[{"sku": "MUG", "quantity": 2}])
    assert lines.status_code == 200, lines.text
    page = new_page()
    log_in(page, shop, "agent")

    page.goto("/customers")
    page.get_by_label("E-mail, phone, @handle or loyalty code").fill("612 345 678")
    page.get_by_role("button", name="Find").click()

    assert re.search(r"/customers/cus_\w+$", page.url)
    assert "+34612345678" in page.locator("main").inner_text()
    assert "2 \u00d7 MUG" in page.locator("#open-cart").inner_text()
    check_accessibility(page)
    screenshot(page, "customer-360")


def test_bad_input_on_a_stock_form_shows_the_fields_message_and_saves_nothing(new_page, shop: Shop) -> None:
    page = new_page()
    log_in(page, shop, "associate")
    page.goto("/inventory/sol/TEE-M")
    before = page.locator("#on-hand").inner_text()

    page.get_by_label("Units received").fill("-3")
    page.get_by_role("button", name="Record receipt").click()

    assert page.locator("#f-quantity-error").inner_text() == "Input should be greater than 0"
    assert page.locator("#on-hand").inner_text() == before
    page.get_by_label("Units received").fill("4")
    page.get_by_role("button", name="Record receipt").click()
    assert page.get_by_role("status").inner_text() == "Receipt recorded."
    assert int(page.locator("#on-hand").inner_text()) == int(before) + 4


PAGES = [("dashboard", "/dashboard"), ("orders", "/orders"), ("inventory", "/inventory?location=sol"),
         ("inventory-ledger", "/inventory/sol/TEE-M"), ("catalog", "/catalog?channel=web"),
         ("customers", "/customers"), ("webhooks", "/webhooks"), ("profile", "/profile"),
         ("inbox", "/inbox?queue=open"), ("reply-templates", "/reply-templates"),
         ("reply-template-new", "/reply-templates/new")]


def test_every_page_is_accessible_and_has_a_screenshot(new_page, shop: Shop) -> None:
    hook = shop.api.post("/api/v1/webhooks", json={"url": "https://erp.tienda.example/hooks/omnihub",
                                                   "events": ["order.*"]})
    assert hook.status_code == 201, hook.text
    order = shop.order({**_pickup_body(2), "fulfilment": {"type": "ship", "address": {
        "line1": "Calle Mayor 1", "city": "Madrid", "postal_code": "28013", "country": "ES"}}})
    page = new_page()
    log_in(page, shop, "admin")
    pages = [*PAGES, ("order", f"/orders/{order['id']}"), ("webhook", f"/webhooks/{hook.json()['id']}")]
    for name, path in pages:
        answer = page.goto(path)
        assert answer.status == 200, (path, answer.status)
        check_accessibility(page)
        screenshot(page, name)


def test_the_console_speaks_spanish_to_a_spanish_browser(new_page, shop: Shop) -> None:
    shop.order(_pickup_body(3))
    page = new_page(locale="es-ES", width=1024, height=768)
    log_in(page, shop, "associate")

    assert page.locator("html").get_attribute("lang") == "es"
    assert page.get_by_role("heading", name="Por preparar").is_visible()
    assert re.search(r"20,00\s€", page.locator("#to-prepare").inner_text())
    check_accessibility(page)
    screenshot(page, "counter-es")
