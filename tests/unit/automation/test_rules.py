"""The automation room's pure rules: rule validation naming the bad field, conditions, quiet hours, templates,
durations and audience hashing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from omnihub.automation import rules
from omnihub.automation.recipes import RECIPES
from omnihub.core.durations import format_duration, parse_duration

SMALLEST = {"name": "Carrito", "trigger": {"event": "cart.abandoned"}, "conditions": [],
            "steps": [{"action": "send", "channel": "email", "template": "abandoned_cart"}], "active": True}


def bad(doc: dict) -> str:
    with pytest.raises(rules.RuleInvalid) as refused:
        rules.validate_rule(doc)
    return refused.value.field


def test_the_smallest_rule_is_valid_as_written() -> None:
    rule = rules.validate_rule(SMALLEST)
    assert (rule["name"], rule["trigger"], rule["conditions"], rule["active"]) == (
        "Carrito", {"event": "cart.abandoned"}, [], True)
    assert rules.trigger_type(rule["trigger"]) == "cart.abandoned"
    assert rules.trigger_type({"event": "store_visit"}) == "customer.store_visit"
    assert rules.trigger_type({"event": "customer.created"}) == "customer.created"


@pytest.mark.parametrize(("change", "field"), [
    ({"name": ""}, "name"),
    ({"trigger": {"event": "cart.forgotten"}}, "trigger.event"),
    ({"trigger": {"schedule": "every day"}}, "trigger.schedule"),
    ({"trigger": {"event": "cart.abandoned", "schedule": "P1D"}}, "trigger"),
    ({"steps": []}, "steps"),
    ({"steps": [{"action": "send", "channel": "fax", "template": "abandoned_cart"}]}, "steps.0.channel"),
    ({"steps": [{"action": "send", "channel": "email", "template": "nope"}]}, "steps.0.template"),
    ({"steps": [{"wait": "PT1H"}, {"wait": "1 hour"}]}, "steps.1.wait"),
    ({"steps": [{"action": "coupon", "kind": "percent", "value": "120"}]}, "steps.0.value"),
    ({"steps": [{"action": "coupon", "kind": "fixed", "value": "5"}]}, "steps.0.currency"),
    ({"steps": [{"action": "coupon", "kind": "percent", "value": "5", "channels": "moon"}]}, "steps.0.channels"),
    ({"steps": [{"action": "tag", "tag": "Not A Tag"}]}, "steps.0.tag"),
    ({"steps": [{"action": "webhook", "url": "ftp://x"}]}, "steps.0.url"),
    ({"steps": [{"action": "send", "channel": "sms", "template": "store_offer", "colour": "red"}]},
     "steps.0.colour"),
    ({"conditions": [{"field": "weather.today", "op": "==", "value": 1}]}, "conditions.0.field"),
    ({"conditions": [{"field": "customer.country", "op": "like", "value": "ES"}]}, "conditions.0.op"),
    ({"conditions": [{"field": "customer.country", "op": "in", "value": "ES"}]}, "conditions.0.value"),
    ({"conditions": [{"any": [{"field": "cart.total", "op": ">"}]}]}, "conditions.0.any.0.value"),
    ({"options": {"quiet_hours": {"start": "25:00", "end": "08:00"}}}, "options.quiet_hours.start"),
    ({"options": {"colour": 1}}, "options.colour"),
])
def test_a_bad_rule_names_the_field(change: dict, field: str) -> None:
    assert bad({**SMALLEST, **change}) == field


def test_the_built_in_recipes_are_valid_rules() -> None:
    assert set(RECIPES) >= {"abandoned_cart", "store_checkin_offer", "pickup_reminder", "post_purchase_nps",
                            "win_back"}
    for recipe in RECIPES.values():
        assert rules.validate_rule(recipe)["steps"] == recipe["steps"]


FACTS = {"event": {"channel": "app"}, "customer": {"orders_count": 3, "tags": ["vip"], "country": "ES",
                                                     "days_since_cart_abandoned": 2.5, "lifetime_value": "120.50"},
         "cart": {"subtotal": "51.00", "lines": [{"sku": "TEE"}]}}


@pytest.mark.parametrize(("condition", "holds"), [
    ({"field": "customer.orders_count", "op": ">=", "value": 3}, True),
    ({"field": "customer.orders_count", "op": ">", "value": 3}, False),
    ({"field": "customer.lifetime_value", "op": ">", "value": "100"}, True),
    ({"field": "cart.subtotal", "op": "<", "value": 50}, False),
    ({"field": "customer.tags", "op": "contains", "value": "vip"}, True),
    ({"field": "customer.tags", "op": "not_contains", "value": "vip"}, False),
    ({"field": "customer.country", "op": "in", "value": ["ES", "PT"]}, True),
    ({"field": "customer.country", "op": "==", "value": "FR"}, False),
    ({"field": "customer.days_since_cart_abandoned", "op": "<=", "value": 7}, True),
    ({"field": "customer.days_since_last_order", "op": "<=", "value": 7}, False),  # unknown: never true
    ({"field": "customer.days_since_last_order", "op": "not_exists"}, True),
    ({"field": "cart.lines.0.sku", "op": "==", "value": "TEE"}, True),
    ({"field": "customer.country", "op": ">", "value": 3}, False),  # a text is never ordered against a number
])
def test_conditions(condition: dict, holds: bool) -> None:
    assert rules.matches([condition], FACTS)[0] is holds


def test_any_groups_and_the_failing_condition_is_named() -> None:
    either = {"any": [{"field": "customer.country", "op": "==", "value": "FR"},
                      {"field": "customer.tags", "op": "contains", "value": "vip"}]}
    assert rules.matches([either], FACTS) == (True, None)
    ok, why = rules.matches([either, {"field": "customer.orders_count", "op": "==", "value": 1}], FACTS)
    assert not ok and why == "conditions.1: customer.orders_count == 1"


def test_quiet_hours_in_the_persons_time_zone() -> None:
    quiet = {"start": "21:00", "end": "09:00"}
    at = datetime(2026, 1, 5, 21, 30, tzinfo=UTC)  # 22:30 in Madrid, 21:30 in the Canaries
    assert rules.quiet_until(at, "Europe/Madrid", quiet) == datetime(2026, 1, 6, 8, 0, tzinfo=UTC)
    assert rules.quiet_until(datetime(2026, 1, 5, 12, 0, tzinfo=UTC), "Europe/Madrid", quiet) is None
    assert rules.quiet_until(at, "Europe/Madrid", None) is None
    assert rules.quiet_until(datetime(2026, 1, 5, 10, 0, tzinfo=UTC), "UTC", {"start": "09:00", "end": "12:00"}
                             ) == datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    assert rules.zone_for(["Atlantic/Canary", "Europe/Madrid"], "Europe/Madrid") == "Europe/Madrid"
    assert rules.zone_for(["America/Mexico_City"], "Europe/Madrid") == "America/Mexico_City"
    assert rules.zone_for([], "Europe/Madrid") == "Europe/Madrid"


def test_templates_render_the_cart_and_never_fail_on_a_missing_fact() -> None:
    items = rules.cart_items([{"sku": "TEE", "name": "Organic Tee", "quantity": 2, "unit_price": "20.00"}], "EUR")
    subject, text = rules.render("abandoned_cart", {"name": " Lucía", "items": items, "total": "40.00 EUR"})
    assert subject == "You left something in your cart"
    assert "Hello Lucía" in text and "- 2 x Organic Tee (20.00 EUR)" in text and "40.00 EUR" in text
    assert rules.render("store_offer", {})[1].startswith("Hello, thanks")
    assert rules.render("x", {"a": 1}, text="A={a} B={b}", subject="S") == ("S", "A=1 B=")


def test_iso_8601_durations() -> None:
    assert [parse_duration(v) for v in ("PT4H", "PT30S", "P7D", "P1DT12H", "PT1M30S", "P1W", "pt4h")] == [
        14400, 30, 604800, 129600, 90, 604800, 14400]
    for wrong in ("4h", "P", "PT", "P1Y", "P1M", "PT0S", "", "P1DT", 5):
        with pytest.raises(ValueError):
            parse_duration(wrong)
    assert [format_duration(s) for s in (14400, 30, 129600, 90)] == ["PT4H", "PT30S", "P1DT12H", "PT1M30S"]


def test_audience_rows_hash_normalised_identifiers_in_each_providers_columns() -> None:
    import hashlib

    assert rules.hashed(" Ana@Correo.es ") == hashlib.sha256(b"ana@correo.es").hexdigest()
    meta = rules.audience_row("meta", "ana@correo.es", "+34611222333")
    google = rules.audience_row("google", "ana@correo.es", "+34611222333")
    assert meta["PHONE"] == hashlib.sha256(b"34611222333").hexdigest()
    assert google["Phone"] == hashlib.sha256(b"+34611222333").hexdigest()
    assert meta["EMAIL"] == google["Email"]


def test_segments_read_customer_facts_only_and_report_who_entered_and_left() -> None:
    ok = rules.validate_segment({"name": " VIP ", "conditions": [
        {"any": [{"field": "customer.tags", "op": "contains", "value": "vip"}]}]})
    assert ok["name"] == "VIP"
    with pytest.raises(rules.RuleInvalid) as refused:
        rules.validate_segment({"name": "x", "conditions": [{"any": [{"field": "event.x", "op": "exists"}]}]})
    assert refused.value.field == "conditions.0.any.0.field"
    assert rules.membership_changes({"a", "b"}, {"b", "c"}) == (["c"], ["a"])
