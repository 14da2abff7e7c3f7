"""Segments: conditions over the 360 facts, members and counts, recomputed; entering one is a trigger."""

from __future__ import annotations

from fastapi.testclient import TestClient
from tests.builders import ok, problem
from tests.integration.automation.test_recommendations import buy
from tests.integration.automation.test_rules_and_guards import person


def tags(api: TestClient, customer: str) -> set[str]:
    return {t["tag"] for t in ok(api.get(f"/api/v1/customers/{customer}"))["tags"]}


def test_a_segment_counts_its_members_and_entering_it_triggers_a_rule(shop: TestClient, work) -> None:
    ok(shop.post("/api/v1/automations", json={
        "name": "Compradores", "trigger": {"event": "segment.entered"}, "conditions": [],
        "steps": [{"action": "tag", "tag": "buyer"}], "active": True}), 201)
    buyer = buy(shop, "buyer@correo.es", {"MUG": 2}, "22.00")["customer_id"]
    browser = person(shop, "browser@correo.es", "+34600000041")
    assert problem(shop.post("/api/v1/segments", json={"name": "x", "conditions": [
        {"field": "cart.subtotal", "op": ">", "value": 1}]}), 422, "invalid_automation")["field"] == \
        "conditions.0.field"

    segment = ok(shop.post("/api/v1/segments", json={"name": "Compradores", "conditions": [
        {"field": "customer.orders_count", "op": ">=", "value": 1},
        {"field": "customer.lifetime_value", "op": ">", "value": "10"}]}), 201)
    assert segment["members"] == 1
    assert [m["customer_id"] for m in ok(shop.get(f"/api/v1/segments/{segment['id']}/members"))["items"]] == [buyer]
    work()
    assert "buyer" in tags(shop, buyer) and "buyer" not in tags(shop, browser)

    buy(shop, "browser@correo.es", {"TEE-M": 1}, "20.00")
    assert ok(shop.post(f"/api/v1/segments/{segment['id']}/recompute"))["members"] == 2
    work()
    assert "buyer" in tags(shop, browser)
    assert ok(shop.post(f"/api/v1/segments/{segment['id']}/recompute"))["members"] == 2  # no change, no event
    assert [s["name"] for s in ok(shop.get("/api/v1/segments"))] == ["Compradores"]
    assert shop.delete(f"/api/v1/segments/{segment['id']}").status_code == 204
    problem(shop.get(f"/api/v1/segments/{segment['id']}"), 404, "segment_not_found")
