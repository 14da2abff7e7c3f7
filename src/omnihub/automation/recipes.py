"""The built-in recipes: installed inactive by the migration, switched on by the demo (or a marketer)."""

from __future__ import annotations

from typing import Any

from omnihub.automation.rules import trigger_type, validate_rule


def _recipe(name: str, trigger: dict[str, Any], steps: list[dict[str, Any]], conditions: list[dict[str, Any]] | None
            = None, options: dict[str, Any] | None = None) -> dict[str, Any]:
    rule = validate_rule({"name": name, "trigger": trigger, "conditions": conditions or [], "steps": steps,
                          "options": options or {}})
    return {**rule, "trigger_type": trigger_type(trigger)}


RECIPES: dict[str, dict[str, Any]] = {
    "abandoned_cart": _recipe("Abandoned cart e-mail", {"event": "cart.abandoned"},
                              [{"action": "send", "channel": "email", "template": "abandoned_cart"}]),
    "store_checkin_offer": _recipe(
        "Store check-in after an abandoned cart: SMS with a store-only coupon", {"event": "store_visit"},
        [{"action": "coupon", "kind": "percent", "value": "10", "valid_for": "P7D", "channels": "store"},
         {"action": "send", "channel": "sms", "template": "store_offer"}],
        conditions=[{"field": "customer.days_since_cart_abandoned", "op": "<=", "value": 7}]),
    "pickup_reminder": _recipe("Pickup ready + reminder", {"event": "pickup.ready"},
                               [{"wait": "P1D"},
                                {"action": "send", "channel": "sms", "template": "pickup_reminder",
                                 "transactional": True}],
                               conditions=[{"field": "event.pickup_status", "op": "!=", "value": "collected"}]),
    "post_purchase_nps": _recipe("Post-purchase NPS survey", {"event": "order.delivered"},
                                 [{"wait": "P3D"}, {"action": "send", "channel": "email", "template": "nps_survey"}]),
    "win_back": _recipe("Win-back of lapsed customers", {"schedule": "P1D"},
                        [{"action": "coupon", "kind": "percent", "value": "15", "valid_for": "P14D"},
                         {"action": "send", "channel": "email", "template": "win_back"}],
                        conditions=[{"field": "customer.days_since_last_order", "op": ">=", "value": 90}]),
    "back_in_stock": _recipe("Back in stock for subscribers", {"event": "stock.back"},
                             [{"action": "send", "channel": "email", "template": "back_in_stock"}],
                             conditions=[{"field": "event.notify_by", "op": "==", "value": "email"}]),
    "order_thanks": _recipe("Thank-you after the first order", {"event": "order.created"},
                            [{"action": "tag", "tag": "customer"}],
                            conditions=[{"field": "customer.orders_count", "op": "==", "value": 1}]),
}
