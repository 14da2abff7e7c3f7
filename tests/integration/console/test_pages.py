"""The console's pages over HTTP on both databases: lists and filters, actions that follow the state and the
store, form errors that change nothing, the live pickup fragment."""

from __future__ import annotations

from tests.builders import ok
from tests.integration.console.conftest import csrf_of, login, make_user, pickup_order


def _as(browser_for, db, clock, role: str, location: str | None = None):
    email, password = make_user(db, clock, role, location=location)
    return login(browser_for(), email, password)


def test_the_counter_lists_its_own_stores_pickups_and_the_fragment_shows_a_new_one(shop, browser_for, db, clock
                                                                                    ) -> None:
    sol = _as(browser_for, db, clock, "associate", "sol")
    assert "Nothing to prepare." in sol.get("/counter/pickups").text

    mine = pickup_order(shop, "sol")
    other = pickup_order(shop, "bcn", "pere@correo.es", "+34 699 000 111")

    fragment = sol.get("/counter/pickups")
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert mine["number"] in fragment.text and other["number"] not in fragment.text


def test_an_associate_cannot_ready_another_stores_pickup_and_nothing_changes(shop, browser_for, db, clock) -> None:
    order = pickup_order(shop, "bcn")
    sol = _as(browser_for, db, clock, "associate", "sol")
    token = csrf_of(sol.get("/counter").text)

    answer = sol.post(f"/counter/pickups/{order['id']}/ready", data={"csrf_token": token})
    via_orders = sol.post(f"/orders/{order['id']}/ready", data={"csrf_token": token})

    assert answer.status_code == 404 and "order_not_found" in answer.text
    assert via_orders.status_code == 404
    assert ok(shop.get(f"/api/v1/orders/{order['id']}"))["status"] == "paid"


def test_a_wrong_code_is_refused_with_the_apis_problem_and_the_right_one_hands_over(shop, browser_for, db, clock
                                                                                     ) -> None:
    order = pickup_order(shop, "sol")
    sol = _as(browser_for, db, clock, "associate", "sol")
    token = csrf_of(sol.get("/counter").text)
    assert sol.post(f"/counter/pickups/{order['id']}/ready", data={"csrf_token": token},
                    follow_redirects=False).status_code == 303
    code = ok(shop.get(f"/api/v1/orders/{order['id']}"))["pickup"]["code"]

    wrong = sol.post(f"/counter/pickups/{order['id']}/collect",
                     data={"csrf_token": token, "code": "000000" if code != "000000" else "111111"})
    empty = sol.post(f"/counter/pickups/{order['id']}/collect", data={"csrf_token": token, "code": ""})

    assert wrong.status_code == 422 and "wrong_pickup_code" in wrong.text
    assert empty.status_code == 422 and "String should have at least 1 character" in empty.text
    assert ok(shop.get(f"/api/v1/orders/{order['id']}"))["status"] == "ready_for_pickup"
    done = sol.post(f"/counter/pickups/{order['id']}/collect", data={"csrf_token": token, "code": code},
                    follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/counter?done=collect:{order['number']}"
    assert ok(shop.get(f"/api/v1/orders/{order['id']}"))["status"] == "collected"


def test_a_return_at_the_counter_with_no_units_is_refused_and_with_units_restocks(shop, browser_for, db, clock
                                                                                   ) -> None:
    order = ok(shop.post("/api/v1/orders", json={
        "channel": "web", "customer": {"email": "ana@correo.es"}, "lines": [{"sku": "TEE-M", "quantity": 2}],
        "fulfilment": {"type": "ship", "address": {"line1": "Mayor 1", "city": "Madrid", "postal_code": "28013",
                                                   "country": "ES"}},
        "payments": [{"method": "card", "amount": "40.00"}]}), 201)
    ok(shop.post(f"/api/v1/orders/{order['id']}/shipments", json={"carrier": "seur", "tracking_number": "T1"}), 201)
    sol = _as(browser_for, db, clock, "associate", "sol")
    page = sol.get("/counter", params={"order": order["number"]})
    assert 'name="qty__TEE-M"' in page.text
    token = csrf_of(page.text)
    before = ok(shop.get("/api/v1/stock/sol/TEE-M"))["on_hand"]

    none = sol.post("/counter/returns", data={"csrf_token": token, "order": order["number"], "qty__TEE-M": "0",
                                              "condition": "resellable", "refund_method": "original"})
    assert none.status_code == 422 and "validation_error" in none.text
    assert ok(shop.get("/api/v1/stock/sol/TEE-M"))["on_hand"] == before

    done = sol.post("/counter/returns", data={"csrf_token": token, "order": order["number"], "qty__TEE-M": "1",
                                              "condition": "resellable", "refund_method": "original"},
                    follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"].startswith("/counter?done=return:")
    assert ok(shop.get("/api/v1/stock/sol/TEE-M"))["on_hand"] == before + 1
    assert ok(shop.get(f"/api/v1/orders/{order['id']}"))["status"] == "partially_returned"


def test_the_order_list_filters_and_an_associate_sees_only_its_store(shop, browser_for, db, clock) -> None:
    sol_order, bcn_order = pickup_order(shop, "sol"), pickup_order(shop, "bcn", "pere@correo.es", "+34 699 000 111")
    agent = _as(browser_for, db, clock, "agent")

    every = agent.get("/orders").text
    assert sol_order["number"] in every and bcn_order["number"] in every
    by_customer = agent.get("/orders", params={"customer": "pere@correo.es"}).text
    assert bcn_order["number"] in by_customer and sol_order["number"] not in by_customer
    by_location = agent.get("/orders", params={"location": "sol", "status": "paid"}).text
    assert sol_order["number"] in by_location and bcn_order["number"] not in by_location
    assert "No orders match." in agent.get("/orders", params={"status": "cancelled"}).text
    bad = agent.get("/orders", params={"created_from": "yesterday"})
    assert bad.status_code == 422 and "Use a date like 2026-12-03." in bad.text

    sol = _as(browser_for, db, clock, "associate", "sol")
    mine = sol.get("/orders", params={"location": "bcn"}).text
    assert sol_order["number"] in mine and bcn_order["number"] not in mine
    assert sol.get(f"/orders/{bcn_order['id']}").status_code == 404


def test_an_agent_sees_an_order_without_its_pickup_code_and_cannot_cancel_it(shop, browser_for, db, clock) -> None:
    order = pickup_order(shop, "sol")
    admin = _as(browser_for, db, clock, "admin")
    admin.post(f"/orders/{order['id']}/ready", data={"csrf_token": csrf_of(admin.get("/profile").text)})
    code = ok(shop.get(f"/api/v1/orders/{order['id']}"))["pickup"]["code"]
    agent = _as(browser_for, db, clock, "agent")

    page = agent.get(f"/orders/{order['id']}")
    refused = agent.post(f"/orders/{order['id']}/cancel", data={"csrf_token": csrf_of(agent.get("/profile").text)})

    assert page.status_code == 200 and code not in page.text and "Cancel order" not in page.text
    assert refused.status_code == 403 and "role_not_allowed" in refused.text
    cancelled = admin.post(f"/orders/{order['id']}/cancel", data={"csrf_token": csrf_of(admin.get("/profile").text)},
                           follow_redirects=False)
    assert cancelled.status_code == 303
    assert ok(shop.get(f"/api/v1/orders/{order['id']}"))["status"] == "cancelled"


def test_stock_forms_refuse_bad_input_with_the_field_message_and_record_good_input(shop, browser_for, db, clock
                                                                                   ) -> None:
    sol = _as(browser_for, db, clock, "associate", "sol")
    page = sol.get("/inventory/sol/TEE-M")
    token = csrf_of(page.text)

    letters = sol.post("/inventory/sol/TEE-M/movements", data={"csrf_token": token, "kind": "receipt",
                                                               "quantity": "lots"})
    no_reason = sol.post("/inventory/sol/TEE-M/movements", data={"csrf_token": token, "kind": "adjustment",
                                                                 "delta": "-1", "reason": ""})
    elsewhere = sol.post("/inventory/bcn/TEE-M/movements", data={"csrf_token": token, "kind": "receipt",
                                                                 "quantity": "3"})

    assert letters.status_code == 422 and 'id="f-quantity-error"' in letters.text
    assert no_reason.status_code == 422 and 'id="f-reason-error"' in no_reason.text
    assert elsewhere.status_code == 403 and "location_not_allowed" in elsewhere.text
    assert ok(shop.get("/api/v1/stock/sol/TEE-M"))["on_hand"] == 5
    assert ok(shop.get("/api/v1/stock/bcn/TEE-M"))["on_hand"] == 5

    sol.post("/inventory/sol/TEE-M/movements", data={"csrf_token": token, "kind": "adjustment", "delta": "-2",
                                                     "reason": "broken"})
    ledger = sol.get("/inventory/sol/TEE-M").text
    assert ok(shop.get("/api/v1/stock/sol/TEE-M"))["on_hand"] == 3 and "broken" in ledger


def test_the_stock_list_highlights_low_levels(shop, browser_for, db, clock) -> None:
    admin = _as(browser_for, db, clock, "admin")

    low = admin.get("/inventory", params={"low": "1"}).text

    assert '<tr class="low">' in low and ">sol<" in low and ">bcn<" not in low


def test_customer_search_finds_by_email_and_phone_and_says_when_nobody_matches(shop, browser_for, db, clock
                                                                               ) -> None:
    order = pickup_order(shop, "sol", "lucia@correo.es", "+34 600 111 222")
    agent = _as(browser_for, db, clock, "agent")

    by_email = agent.get("/customers", params={"q": "Lucia@Correo.es"}, follow_redirects=False)
    by_phone = agent.get("/customers", params={"q": "600 111 222"}, follow_redirects=False)
    nobody = agent.get("/customers", params={"q": "nadie@correo.es"})

    assert by_email.headers["location"] == f"/customers/{order['customer_id']}"
    assert by_phone.headers["location"] == f"/customers/{order['customer_id']}"
    assert nobody.status_code == 404 and "customer_not_found" in nobody.text
    view = agent.get(by_email.headers["location"])
    assert "lucia@correo.es" in view.text and order["number"] in view.text


def test_wrong_codes_at_the_counter_count_towards_the_apis_pickup_lock(shop, browser_for, db, clock, settings
                                                                       ) -> None:
    settings.pickup_max_wrong_codes = 2
    order = pickup_order(shop, "sol")
    sol = _as(browser_for, db, clock, "associate", "sol")
    token = csrf_of(sol.get("/counter").text)
    sol.post(f"/counter/pickups/{order['id']}/ready", data={"csrf_token": token})
    code = ok(shop.get(f"/api/v1/orders/{order['id']}"))["pickup"]["code"]
    wrong = "000000" if code != "000000" else "111111"

    first = sol.post(f"/counter/pickups/{order['id']}/collect", data={"csrf_token": token, "code": wrong})
    second = sol.post(f"/orders/{order['id']}/collect", data={"csrf_token": token, "code": wrong})
    right = sol.post(f"/counter/pickups/{order['id']}/collect", data={"csrf_token": token, "code": code})

    assert first.status_code == 422 and second.status_code == 422
    assert right.status_code == 409 and "pickup_locked" in right.text
    assert ok(shop.get(f"/api/v1/orders/{order['id']}"))["status"] == "ready_for_pickup"


def test_a_transfer_from_the_stock_page_moves_units_and_an_impossible_one_changes_nothing(shop, browser_for, db,
                                                                                         clock) -> None:
    sol = _as(browser_for, db, clock, "associate", "sol")
    token = csrf_of(sol.get("/inventory/sol/TEE-M").text)

    too_many = sol.post("/inventory/sol/TEE-M/movements", data={"csrf_token": token, "kind": "transfer",
                                                                "to_location": "bcn", "quantity": "50"})
    done = sol.post("/inventory/sol/TEE-M/movements", data={"csrf_token": token, "kind": "transfer",
                                                            "to_location": "bcn", "quantity": "2"},
                    follow_redirects=False)

    assert too_many.status_code == 409 and "insufficient_stock" in too_many.text
    assert done.status_code == 303 and done.headers["location"] == "/inventory/sol/TEE-M?done=transfer"
    assert ok(shop.get("/api/v1/stock/sol/TEE-M"))["on_hand"] == 3
    assert ok(shop.get("/api/v1/stock/bcn/TEE-M"))["on_hand"] == 7
