"""What a segment may say (pure): each fact takes the operators and values of its kind; a bad one is named."""

from __future__ import annotations

import pytest

from omnihub.automation import segment_rules
from omnihub.automation.rules import RuleInvalid


def test_facts_have_kinds_and_the_recent_orders_fact_takes_its_days() -> None:
    assert segment_rules.field_kind("customer.lifetime_value") == ("lifetime_value", "number", None)
    assert segment_rules.field_kind("customer.orders_last_days.90") == ("orders_last_days", "number", 90)
    assert segment_rules.field_kind("customer.orders_last_days.0") is None
    assert segment_rules.field_kind("customer.orders_last_days.99999") is None
    assert segment_rules.field_kind("cart.subtotal") is None
    assert segment_rules.uses([{"field": "customer.tags", "op": "contains", "value": "vip"},
                               {"any": [{"field": "customer.orders_last_days.7", "op": ">", "value": 0}]}]) == {
        "tags", "orders_last_days"}


@pytest.mark.parametrize(("condition", "field"), [
    ({"field": "customer.shoe_size", "op": ">", "value": 1}, "conditions.0.field"),
    ({"field": "customer.tags", "op": ">=", "value": "vip"}, "conditions.0.op"),
    ({"field": "customer.consents", "op": "exists"}, "conditions.0.op"),
    ({"field": "customer.days_since_last_order", "op": "==", "value": 3}, "conditions.0.op"),
    ({"field": "customer.days_since_last_order", "op": ">", "value": -1}, "conditions.0.value"),
    ({"field": "customer.lifetime_value", "op": ">", "value": "NaN"}, "conditions.0.value"),
    ({"field": "customer.lifetime_value", "op": ">", "value": True}, "conditions.0.value"),
    ({"field": "customer.country", "op": "in", "value": ["ES", "spain"]}, "conditions.0.value"),
    ({"field": "customer.has_email", "op": "==", "value": "yes"}, "conditions.0.value"),
    ({"any": []}, "conditions.0.any"),
])
def test_a_bad_condition_is_named(condition: dict, field: str) -> None:
    with pytest.raises(RuleInvalid) as raised:
        segment_rules.check([condition])
    assert raised.value.field == field


def test_good_conditions_pass() -> None:
    segment_rules.check([
        {"field": "customer.lifetime_value", "op": ">=", "value": "100.50"},
        {"field": "customer.stores_visited", "op": "exists"},
        {"field": "customer.country", "op": "not_in", "value": ["ES", "PT"]},
        {"any": [{"field": "customer.has_phone", "op": "==", "value": True},
                 {"field": "customer.days_since_store_visit", "op": "<=", "value": 30}]}])
