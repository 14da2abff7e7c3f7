"""Promotions through HTTP: create, read, list, change, and price a basket (dry run)."""

import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.builders import ok, problem
from tests.conftest import make_key
from tests.integration.promotions.conftest import create, evaluate

from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.core.events import recent_events


def test_a_marketer_creates_a_code_and_reads_it_back(shop: TestClient, db: Database, clock: ManualClock) -> None:
    marketer = {"Authorization": f"Bearer {make_key(db, clock, 'marketer')}"}
    body = {"code": "spring-10", "name": "Spring", "kind": "percent", "value": "10", "channels": ["web", "store"],
            "customer_tags": ["vip"], "categories": ["shoes"], "ends_at": "2026-02-01T00:00:00Z",
            "usage_limit": 100, "per_customer_limit": 1, "priority": 3}

    created = ok(shop.post("/api/v1/promotions", json=body, headers=marketer), 201)
    fetched = ok(shop.get(f"/api/v1/promotions/{created['id']}"))

    assert fetched == created
    assert {k: v for k, v in created.items() if k not in ("id", "created_at", "updated_at")} == {
        "code": "SPRING-10", "name": "Spring", "kind": "percent", "value": "10", "currency": None,
        "channels": ["store", "web"], "customer_ids": [], "customer_tags": ["vip"], "skus": [],
        "categories": ["shoes"], "starts_at": "2026-01-05T09:00:00Z", "ends_at": "2026-02-01T00:00:00Z",
        "min_subtotal": None, "usage_limit": 100, "per_customer_limit": 1, "used": 0, "priority": 3,
        "exclusive": False, "stackable": False, "active": True}
    with db.read() as conn:
        issued = recent_events(conn, type_="promotion.issued")
    assert [(e.data["id"], e.data["code"]) for e in issued] == [(created["id"], "SPRING-10")]


def test_channel_keys_may_read_but_not_write(shop: TestClient, db: Database, clock: ManualClock) -> None:
    promotion = create(shop, code="READ1", kind="percent", value="5")
    web = {"Authorization": f"Bearer {make_key(db, clock, 'channel', channel='web')}"}

    refused = shop.post("/api/v1/promotions", json={"code": "NOPE1", "kind": "percent", "value": "5"}, headers=web)

    problem(refused, 403, "role_not_allowed")
    assert ok(shop.get(f"/api/v1/promotions/{promotion['id']}", headers=web))["code"] == "READ1"
    other_channel = shop.post("/api/v1/promotions/evaluate", headers=web, json={
        "channel": "store", "lines": [{"sku": "A", "category": "x", "quantity": 1, "unit_price": "1"}]})
    problem(other_channel, 403, "channel_not_allowed")


def test_codes_are_unique_whatever_their_case(shop: TestClient) -> None:
    create(shop, code="WELCOME", kind="percent", value="5")

    duplicate = shop.post("/api/v1/promotions", json={"code": "welcome", "kind": "fixed", "value": "5",
                                                      "currency": "EUR"})

    body = problem(duplicate, 409, "promotion_code_exists")
    assert body["field"] == "code"
    assert ok(shop.get("/api/v1/promotions"))["items"][0]["kind"] == "percent"


def test_bad_promotions_are_refused_and_change_nothing(shop: TestClient, db: Database) -> None:
    cases = [
        ({"code": "P1X", "kind": "percent", "value": "0"}, "invalid_value", "value"),
        ({"code": "P2X", "kind": "percent", "value": "101"}, "invalid_value", "value"),
        ({"code": "F1X", "kind": "fixed", "value": "5"}, "currency_required", "currency"),
        ({"code": "W1X", "kind": "percent", "value": "5", "starts_at": "2026-02-01T00:00:00Z",
          "ends_at": "2026-01-01T00:00:00Z"}, "invalid_window", "ends_at"),
        ({"code": "L1X", "kind": "percent", "value": "5", "usage_limit": 0}, "validation_error", "usage_limit"),
        ({"code": "a b", "kind": "percent", "value": "5"}, "validation_error", "code"),
        ({"code": "AB", "kind": "percent", "value": "5"}, "validation_error", "code"),
        ({"code": "K1X", "kind": "bogo", "value": "5"}, "validation_error", "kind"),
        ({"code": "C1X", "kind": "percent", "value": "5", "channels": ["ghost"]}, "channel_not_found", "channels.0"),
        ({"code": "C2X", "kind": "fixed", "value": "5", "currency": "EUR", "channels": ["web", "jp"]},
         "currency_mismatch", "channels.1"),
        ({"code": "U1X", "kind": "percent", "value": "5", "typo": 1}, "validation_error", "typo"),
    ]

    for body, code, field in cases:
        response = shop.post("/api/v1/promotions", json=body)
        assert response.status_code in (404, 422), response.text
        assert (response.json()["code"], response.json()["field"]) == (code, field), body

    with db.read() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM promotions")).scalar() == 0


def test_list_filters_by_channel_and_activity_and_pages(shop: TestClient, clock: ManualClock) -> None:
    everywhere = create(shop, code="ALL01", kind="percent", value="5")
    store_only = create(shop, code="STORE1", kind="percent", value="5", channels=["store"])
    later = create(shop, code="LATER1", kind="percent", value="5", starts_at="2026-03-01T00:00:00Z")
    off = create(shop, code="OFF01", kind="percent", value="5", active=False)

    def ids(**params: object) -> list[str]:
        return [p["id"] for p in ok(shop.get("/api/v1/promotions", params=params))["items"]]

    assert ids() == [off["id"], later["id"], store_only["id"], everywhere["id"]]
    assert ids(channel="web") == [off["id"], later["id"], everywhere["id"]]
    assert ids(channel="store", active="true") == [store_only["id"], everywhere["id"]]
    assert ids(active="false") == [off["id"], later["id"]]
    first = ok(shop.get("/api/v1/promotions", params={"limit": 3}))
    second = ok(shop.get("/api/v1/promotions", params={"limit": 3, "cursor": first["next_cursor"]}))
    assert [p["id"] for p in first["items"] + second["items"]] == ids()
    assert second["next_cursor"] is None


def test_patch_deactivates_moves_the_window_and_changes_limits(shop: TestClient) -> None:
    promotion = create(shop, code="PATCH1", kind="percent", value="5", usage_limit=10)

    changed = ok(shop.patch(f"/api/v1/promotions/{promotion['id']}", json={
        "active": False, "ends_at": "2026-06-01T00:00:00Z", "usage_limit": None, "per_customer_limit": 2}))

    assert (changed["active"], changed["ends_at"], changed["usage_limit"], changed["per_customer_limit"]) == (
        False, "2026-06-01T00:00:00Z", None, 2)
    problem(evaluate(shop, codes=["PATCH1"]), 422, "invalid_promotion_code")
    problem(shop.patch(f"/api/v1/promotions/{promotion['id']}", json={"ends_at": "2026-01-01T00:00:00Z"}),
            422, "invalid_window")
    problem(shop.patch(f"/api/v1/promotions/{promotion['id']}", json={"kind": "fixed"}), 422, "validation_error")
    problem(shop.patch("/api/v1/promotions/promo_nope", json={"active": True}), 404, "promotion_not_found")
    assert ok(shop.get(f"/api/v1/promotions/{promotion['id']}")) == changed


def test_evaluate_applies_automatic_promotions_and_codes(shop: TestClient) -> None:
    automatic = create(shop, name="Free shipping over 50", kind="free_shipping", min_subtotal="50.00",
                       currency="EUR")
    code = create(shop, code="SHOES20", kind="percent", value="20", categories=["shoes"])

    priced = ok(evaluate(shop, codes=["shoes20"], shipping="4.95"))

    assert priced == {
        "currency": "EUR", "lines": {"SHOE": "12.00", "MUG": "0.00"}, "shipping": "4.95", "total": "16.95",
        "applied": [{"promotion_id": code["id"], "code": "SHOES20", "kind": "percent", "amount": "12.00"},
                    {"promotion_id": automatic["id"], "code": None, "kind": "free_shipping", "amount": "4.95"}]}


def test_evaluate_gives_the_same_price_in_every_channel_the_code_is_valid_in(shop: TestClient) -> None:
    create(shop, code="SAME5", kind="fixed", value="7.77", currency="EUR", channels=["web", "store"])

    web = ok(evaluate(shop, channel="web", codes=["SAME5"]))
    store = ok(evaluate(shop, channel="store", codes=["SAME5"]))

    assert web == store
    assert web["lines"] == {"SHOE": "4.67", "MUG": "3.10"}


def test_evaluate_rounds_to_the_channel_currency(shop: TestClient) -> None:
    create(shop, code="YEN15", kind="percent", value="15", channels=["jp"])

    priced = ok(evaluate(shop, channel="jp", codes=["YEN15"], lines=[
        {"sku": "A", "category": "x", "quantity": 1, "unit_price": "999"},
        {"sku": "B", "category": "x", "quantity": 3, "unit_price": "333"}]))

    assert (priced["lines"], priced["total"]) == ({"A": "150", "B": "150"}, "300")


def test_evaluate_refuses_codes_with_the_reason(shop: TestClient, clock: ManualClock) -> None:
    create(shop, code="STOREONLY", kind="percent", value="10", channels=["store"])
    create(shop, code="VIPONLY", kind="percent", value="10", customer_tags=["vip"])
    create(shop, code="ENDED", kind="percent", value="10", ends_at="2026-01-05T10:00:00Z")
    create(shop, code="BIGBASKET", kind="percent", value="10", currency="EUR", min_subtotal="500")
    clock.advance(hours=2)

    reasons = {}
    for code in ("NOSUCH", "STOREONLY", "VIPONLY", "ENDED", "BIGBASKET"):
        body = problem(evaluate(shop, codes=[code]), 422, "invalid_promotion_code")
        assert body["field"] == "promotion_codes.0"
        reasons[code] = body["reason"]

    assert reasons == {"NOSUCH": "unknown", "STOREONLY": "channel", "VIPONLY": "customer", "ENDED": "expired",
                       "BIGBASKET": "min_subtotal"}
    assert ok(evaluate(shop, channel="store", codes=["storeonly"]))["total"] == "10.00"
    assert ok(evaluate(shop, codes=["VIPONLY"], customer_tags=["vip"]))["total"] == "10.00"


def test_evaluate_checks_channel_currency_and_prices(shop: TestClient) -> None:
    problem(evaluate(shop, channel="ghost"), 404, "channel_not_found")
    assert problem(evaluate(shop, currency="USD"), 422, "currency_mismatch")["field"] == "currency"
    bad_price = evaluate(shop, lines=[{"sku": "A", "category": "x", "quantity": 1, "unit_price": "1.001"}])
    assert problem(bad_price, 422, "invalid_amount")["field"] == "lines.0.unit_price"
    problem(evaluate(shop, lines=[]), 422, "validation_error")


def test_times_are_kept_in_utc_whatever_zone_they_were_given_in(shop: TestClient) -> None:
    promotion = create(shop, code="ZONES", kind="percent", value="5", starts_at="2026-01-05T12:00:00+02:00",
                       ends_at="2026-01-06T12:00:00")

    moved = ok(shop.patch(f"/api/v1/promotions/{promotion['id']}", json={"ends_at": "2026-01-07T01:00:00+01:00"}))

    assert (promotion["starts_at"], promotion["ends_at"]) == ("2026-01-05T10:00:00Z", "2026-01-06T12:00:00Z")
    assert moved["ends_at"] == "2026-01-07T00:00:00Z"
