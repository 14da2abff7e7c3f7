"""`customer.predicted_clv` in segments: the worker copies analytics' predictions (the models behind
`GET /analytics/clv`) only while a segment uses the fact, and the segment's members are exactly the people whose
prediction passes the condition; a person with no prediction has no figure (fails `>`, passes `!=`)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from tests.builders import ok, problem, stock
from tests.integration.automation.test_recommendations import buy

from omnihub.core.clock import ManualClock

# Twelve customers with different habits: how many orders, how far apart, how big.
HABITS = [(1 + i % 4, 6 + 3 * (i % 5), 1 + i % 3) for i in range(12)]  # (orders, days between, mugs per order)
MUG = Decimal("11.00")


def _history(shop: TestClient, clock: ManualClock) -> dict[str, str]:
    stock(shop, "wh", "MUG", 1000)
    people: dict[str, str] = {}
    schedule = sorted((n * gap + i, i, mugs) for i, (orders, gap, mugs) in enumerate(HABITS) for n in range(orders))
    day = 0
    for when, i, mugs in schedule:
        if when > day:
            clock.advance(days=when - day)
            day = when
        order = buy(shop, f"cliente{i}@correo.es", {"MUG": mugs}, str(MUG * mugs))
        people[f"cliente{i}@correo.es"] = order["customer_id"]
    clock.advance(days=10)
    return people


def _predicted(shop: TestClient) -> dict[str, Decimal]:
    return {row["customer_id"]: Decimal(row["predicted_clv"])
            for item in ok(shop.get("/api/v1/analytics/clv", params={"top": 500}))["items"] for row in item["top"]}


def test_a_segment_on_predicted_clv_holds_the_people_analytics_predicts_above_it(
        shop: TestClient, clock: ManualClock, work, monkeypatch: pytest.MonkeyPatch) -> None:
    people = _history(shop, clock)
    newcomer = ok(shop.post("/api/v1/customers", json={"identities": [{"kind": "email", "value": "nueva@correo.es"}]}),
                  201)["id"]
    work()  # no segment uses the fact: nothing is copied
    assert ok(shop.post("/api/v1/segments/preview", json={"name": "p", "conditions": [
        {"field": "customer.predicted_clv", "op": "!=", "value": "0"}]}))["count"] == len(people) + 1
    threshold = sorted(_predicted(shop).values())[len(people) // 2]
    high = ok(shop.post("/api/v1/segments", json={"name": "Alto valor previsto", "conditions": [
        {"field": "customer.predicted_clv", "op": ">", "value": str(threshold)}]}), 201)
    assert ok(shop.get(f"/api/v1/segments/{high['id']}"))["members"] == 0  # no predictions copied yet

    clock.advance(days=1)  # the job's day has come
    from omnihub.analytics import queries as analytics_queries

    fit = analytics_queries.customer_predictions
    written_meanwhile = []

    def fit_while_the_shop_writes(*args, **kwargs):  # type: ignore[no-untyped-def]
        """The fit holds no transaction: on SQLite a write waits for none (it would wait out the busy timeout)."""
        written_meanwhile.append(shop.post("/api/v1/products", json={
            "sku": "WRITTEN-DURING-FIT", "name": "Taza", "category": "kitchen"}).status_code)
        return fit(*args, **kwargs)

    monkeypatch.setattr(analytics_queries, "customer_predictions", fit_while_the_shop_writes)
    work()
    assert written_meanwhile == [201]
    predicted = _predicted(shop)  # today's models, as the job copied them
    assert set(predicted) == set(people.values())  # the models fitted: everyone who bought has a prediction
    expected = sorted(c for c, v in predicted.items() if v > threshold)
    assert 0 < len(expected) < len(predicted)
    members = ok(shop.get(f"/api/v1/segments/{high['id']}/members"))
    assert sorted(m["customer_id"] for m in members["items"]) == expected

    # No prediction, no figure: the newcomer fails every ordering and passes "!=".
    one, value = next(iter(predicted.items()))
    others = ok(shop.post("/api/v1/segments/preview", json={"name": "p", "conditions": [
        {"field": "customer.predicted_clv", "op": "!=", "value": str(value)}]}))
    assert others["count"] == len(people) and one not in others["sample"]
    alone = ok(shop.post("/api/v1/segments/preview", json={"name": "p", "conditions": [
        {"field": "customer.predicted_clv", "op": "!=", "value": str(value)},
        {"field": "customer.orders_count", "op": "==", "value": 0}]}))
    assert alone["sample"] == [newcomer]
    assert ok(shop.post("/api/v1/segments/preview", json={"name": "p", "conditions": [
        {"field": "customer.predicted_clv", "op": ">=", "value": "0"}]}))["count"] == len(people)

    bad = problem(shop.post("/api/v1/segments/preview", json={"name": "p", "conditions": [
        {"field": "customer.predicted_clv", "op": "contains", "value": "1"}]}), 422, "invalid_automation")
    assert bad["field"] == "conditions.0.op"
