from fastapi.testclient import TestClient
from tests.builders import ok, problem
from tests.conftest import make_key

from omnihub.billing.service import DEFAULT_PAYMENT_METHODS
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database


def test_default_methods_are_listed_in_code_order(admin: TestClient) -> None:
    listed = ok(admin.get("/api/v1/payment-methods"))

    assert [(m["code"], m["gateway"], m["active"]) for m in listed["items"]] == [
        ("bank_transfer", "manual", True), ("bizum", "manual", True), ("btcpay", "btcpay", True),
        ("card", "manual", True), ("cash", "manual", True), ("crypto", "manual", True),
        ("gift_card", "gift_card", True), ("paypal", "manual", True), ("paypal_checkout", "paypal", True),
        ("redsys", "redsys", True),
        ("redsys_bizum", "redsys", True), ("store_credit", "store_credit", True), ("stripe", "stripe", True),
    ]
    assert listed["next_cursor"] is None


def test_methods_page_with_a_cursor(admin: TestClient) -> None:
    first = ok(admin.get("/api/v1/payment-methods", params={"limit": 7}))
    second = ok(admin.get("/api/v1/payment-methods", params={"limit": 7, "cursor": first["next_cursor"]}))

    assert [m["code"] for m in first["items"] + second["items"]] == sorted(c for c, _, _ in DEFAULT_PAYMENT_METHODS)
    assert second["next_cursor"] is None


def test_admin_adds_a_method_on_a_known_gateway(admin: TestClient) -> None:
    created = ok(admin.post("/api/v1/payment-methods", json={"code": "klarna", "name": "Klarna"}), 201)

    assert created == {"code": "klarna", "name": "Klarna", "gateway": "manual", "active": True}
    assert ok(admin.get("/api/v1/payment-methods/klarna")) == created


def test_admin_deactivates_a_method_and_it_drops_out_of_the_active_list(admin: TestClient) -> None:
    changed = ok(admin.patch("/api/v1/payment-methods/crypto", json={"active": False}))
    active = ok(admin.get("/api/v1/payment-methods", params={"active": "true"}))

    assert changed["active"] is False
    assert "crypto" not in [m["code"] for m in active["items"]]
    assert len(active["items"]) == len(DEFAULT_PAYMENT_METHODS) - 1


def test_bad_methods_are_refused_and_nothing_is_created(admin: TestClient) -> None:
    assert problem(admin.post("/api/v1/payment-methods", json={"code": "card", "name": "Card again"}),
                   409, "payment_method_exists")["field"] == "code"
    assert problem(admin.post("/api/v1/payment-methods", json={"code": "wire", "name": "W", "gateway": "klarna"}),
                   422, "gateway_unknown")["field"] == "gateway"
    assert problem(admin.post("/api/v1/payment-methods", json={"code": "original", "name": "O"}),
                   422, "payment_method_reserved")["field"] == "code"
    problem(admin.post("/api/v1/payment-methods", json={"code": "Bad Code", "name": "B"}), 422, "validation_error")
    problem(admin.get("/api/v1/payment-methods/wire"), 404, "payment_method_not_found")
    problem(admin.patch("/api/v1/payment-methods/wire", json={"active": False}), 404, "payment_method_not_found")
    assert len(ok(admin.get("/api/v1/payment-methods"))["items"]) == len(DEFAULT_PAYMENT_METHODS)


def test_only_admins_add_methods_but_every_key_reads_them(client: TestClient, db: Database,
                                                          clock: ManualClock) -> None:
    agent = {"Authorization": f"Bearer {make_key(db, clock, 'agent')}"}

    problem(client.post("/api/v1/payment-methods", json={"code": "klarna", "name": "K"}, headers=agent),
            403, "role_not_allowed")
    assert len(ok(client.get("/api/v1/payment-methods", headers=agent))["items"]) == len(DEFAULT_PAYMENT_METHODS)
    problem(client.get("/api/v1/payment-methods"), 401, "missing_api_key")
