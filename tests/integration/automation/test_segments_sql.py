"""Segments compiled to SQL: each kind of condition selects the right people; membership follows events at once
and the scheduled recompute for what time alone changes; `segment.entered` is announced once and a rule it
triggers runs once."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.builders import ok, problem
from tests.integration.automation.conftest import consent
from tests.integration.automation.test_journey5 import redeliver_all
from tests.integration.automation.test_recommendations import buy
from tests.integration.automation.test_rules_and_guards import person, visit

from omnihub.automation.models import automation_runs
from omnihub.automation.segment_sql import compile_segment
from omnihub.automation.segments import recompute_all
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.core.events import outbox

CHECK: dict[str, object] = {}  # the test's database and clock, for the event path's check


def matching(api: TestClient, *conditions: dict) -> list[str]:
    """Who matches (the live count), and the same people when the query is restricted to them (the event path)."""
    found = ok(api.post("/api/v1/segments/preview", json={"name": "preview", "conditions": list(conditions)}))
    assert found["count"] == len(found["sample"])
    if CHECK:
        db, clock, everyone = CHECK["db"], CHECK["clock"], CHECK["everyone"]
        with db.read() as conn:  # type: ignore[attr-defined]
            restricted = sorted(conn.execute(compile_segment(list(conditions), clock.now(),  # type: ignore[attr-defined]
                                                             only=everyone)).scalars())
        assert restricted == found["sample"], conditions
    return found["sample"]


def cond(field: str, op: str, value: object = None) -> dict:
    return {"field": field, "op": op, **({} if value is None else {"value": value})}


def test_every_kind_of_condition_compiles_to_sql(shop: TestClient, db: Database, clock: ManualClock, work) -> None:
    buyer = buy(shop, "buyer@correo.es", {"TEE-M": 1, "MUG": 1}, "31.00")["customer_id"]
    spanish = person(shop, "ana@correo.es", "+34600000051", "email_marketing")
    assert shop.put(f"/api/v1/customers/{spanish}/tags/vip").status_code == 204
    british = person(shop, "john@correo.es", "+447700900123")
    visit(shop, db, clock, "+447700900123")
    work()
    every = sorted([buyer, spanish, british])
    CHECK.update(db=db, clock=clock, everyone=every)

    assert matching(shop, cond("customer.lifetime_value", ">", "30")) == [buyer]
    assert matching(shop, cond("customer.lifetime_value", "<", "1")) == sorted([spanish, british])
    assert matching(shop, cond("customer.orders_count", "==", 1)) == [buyer]
    assert matching(shop, cond("customer.orders_last_days.30", ">=", 1)) == [buyer]
    assert matching(shop, cond("customer.categories_bought", "contains", "home")) == [buyer]
    assert matching(shop, cond("customer.categories_bought", "contains", "garden")) == []
    assert matching(shop, cond("customer.tags", "contains", "vip")) == [spanish]
    assert matching(shop, cond("customer.consents", "contains", "email_marketing")) == [spanish]
    assert matching(shop, cond("customer.country", "==", "ES")) == [spanish]
    assert matching(shop, cond("customer.country", "in", ["GB", "FR"])) == [british]
    assert matching(shop, cond("customer.country", "!=", "ES")) == sorted([buyer, british])
    assert matching(shop, cond("customer.stores_visited", "contains", "store")) == [british]
    assert matching(shop, cond("customer.stores_visited", "exists")) == [british]
    assert matching(shop, cond("customer.days_since_store_visit", "<=", 1)) == [british]
    assert matching(shop, cond("customer.channels", "contains", "web")) == [buyer]
    assert matching(shop, cond("customer.has_phone", "==", False)) == [buyer]
    assert matching(shop, cond("customer.days_since_last_order", "not_exists")) == sorted([spanish, british])
    assert matching(shop, {"any": [cond("customer.tags", "contains", "vip"),
                                   cond("customer.country", "==", "GB")]}) == sorted([spanish, british])
    assert matching(shop) == every
    # consent withdrawn: the latest choice counts
    consent(shop, spanish, "email_marketing", granted=False)
    assert matching(shop, cond("customer.consents", "contains", "email_marketing")) == []

    clock.advance(days=40)  # time alone: the order is no longer recent, nor the visit
    assert matching(shop, cond("customer.orders_last_days.30", ">=", 1)) == []
    assert matching(shop, cond("customer.days_since_last_order", ">", 39)) == [buyer]
    assert matching(shop, cond("customer.days_since_store_visit", "<=", 1)) == []

    CHECK.clear()
    for bad, field in ((cond("customer.shoe_size", ">", 40), "conditions.0.field"),
                       (cond("customer.tags", ">", "vip"), "conditions.0.op"),
                       (cond("customer.tags", "exists"), "conditions.0.op"),
                       (cond("customer.country", "==", "Spain"), "conditions.0.value"),
                       (cond("customer.orders_last_days.0", ">", 1), "conditions.0.field"),
                       (cond("customer.lifetime_value", ">", "lots"), "conditions.0.value")):
        assert problem(shop.post("/api/v1/segments/preview", json={"name": "x", "conditions": [bad]}), 422,
                       "invalid_automation")["field"] == field


def entered(db: Database, customer: str) -> int:
    with db.read() as conn:
        return len([d for d in conn.execute(sa.select(outbox.c.data).where(outbox.c.type == "segment.entered"))
                    .scalars() if d["customer_id"] == customer])


def test_crossing_a_threshold_enters_once_and_the_rule_it_triggers_runs_once(
        shop: TestClient, db: Database, clock: ManualClock, work) -> None:
    rule = ok(shop.post("/api/v1/automations", json={
        "name": "Big spenders", "trigger": {"event": "segment.entered"}, "conditions": [],
        "steps": [{"action": "tag", "tag": "big-spender"}], "active": True}), 201)
    segment = ok(shop.post("/api/v1/segments", json={"name": "Big spenders", "conditions": [
        cond("customer.lifetime_value", ">=", "35")]}), 201)
    customer = buy(shop, "lola@correo.es", {"TEE-M": 1}, "20.00")["customer_id"]
    work()
    assert entered(db, customer) == 0 and ok(shop.get(f"/api/v1/segments/{segment['id']}"))["members"] == 0

    buy(shop, "lola@correo.es", {"TEE-M": 1}, "20.00")  # 40 € now: over the threshold
    work()  # the order's event alone moves the person in: no recompute asked for
    assert [m["customer_id"] for m in ok(shop.get(f"/api/v1/segments/{segment['id']}/members"))["items"]] == [
        customer]
    assert entered(db, customer) == 1
    assert "big-spender" in {t["tag"] for t in ok(shop.get(f"/api/v1/customers/{customer}"))["tags"]}

    # the scheduled recompute, an explicit one and a redelivered event change nothing and start nothing
    with db.transaction() as conn:
        assert recompute_all(conn, clock) == 0
    ok(shop.post(f"/api/v1/segments/{segment['id']}/recompute"))
    redeliver_all(db, ("segment.entered", "order.created"))
    work()
    assert entered(db, customer) == 1
    with db.read() as conn:
        runs = conn.execute(sa.select(sa.func.count()).where(automation_runs.c.rule_id == rule["id"])).scalar()
    assert runs == 1


def test_the_scheduled_recompute_catches_what_time_changes(shop: TestClient, db: Database, clock: ManualClock,
                                                           work) -> None:
    segment = ok(shop.post("/api/v1/segments", json={"name": "Recent buyers", "conditions": [
        cond("customer.orders_last_days.7", ">=", 1)]}), 201)
    customer = buy(shop, "pepe@correo.es", {"MUG": 1}, "11.00")["customer_id"]
    work()
    assert ok(shop.get(f"/api/v1/segments/{segment['id']}"))["members"] == 1
    clock.advance(days=8)
    with db.transaction() as conn:
        assert recompute_all(conn, clock) == 1
    assert ok(shop.get(f"/api/v1/segments/{segment['id']}"))["members"] == 0
    with db.read() as conn:
        left = [d for d in conn.execute(sa.select(outbox.c.data).where(outbox.c.type == "segment.left")).scalars()]
    assert [d["customer_id"] for d in left] == [customer]
