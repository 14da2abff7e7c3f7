"""What a segment may say: the customer facts that compile to SQL, the operators each kind of fact takes and the
values they need. Pure (no database): the compiler (segment_sql) trusts what passes here; a bad condition is named
by its path (`conditions.1.value`)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from omnihub.automation.rules import RuleInvalid

NUMBER_OPS = ("==", "!=", ">", ">=", "<", "<=")
DAYS_OPS = (">", ">=", "<", "<=", "exists", "not_exists")
SET_OPS = ("contains", "not_contains")
TEXT_OPS = ("==", "!=", "in", "not_in", "exists", "not_exists")
BOOL_OPS = ("==", "!=")

# fact -> kind. `orders_last_days.N` is parameterised by its last part (N days, 1 to 3650).
FIELDS: dict[str, str] = {
    "lifetime_value": "number",
    "orders_count": "number",
    "channels_count": "number",
    "predicted_clv": "number",  # analytics' 12-month prediction (automation.predictions); none yet: no figure
    "days_since_last_order": "days",
    "days_since_store_visit": "days",
    "days_since_cart_abandoned": "days",
    "tags": "set",
    "consents": "set",
    "channels": "set",
    "categories_bought": "set",
    "stores_visited": "set",
    "country": "text",
    "has_email": "bool",
    "has_phone": "bool",
}
OPS = {"number": NUMBER_OPS, "days": DAYS_OPS, "set": (*SET_OPS, "exists", "not_exists"), "text": TEXT_OPS,
       "bool": BOOL_OPS}
PARAMETERISED = re.compile(r"^customer\.orders_last_days\.(\d{1,4})$")
COUNTRY = re.compile(r"^[A-Z]{2}$")
MAX_DAYS = 3650


def field_kind(path: str) -> tuple[str, str, int | None] | None:
    """(fact, kind, parameter) of a `customer.…` path; None when segments cannot compile it."""
    found = PARAMETERISED.match(path)
    if found:
        days = int(found.group(1))
        return ("orders_last_days", "number", days) if 0 < days <= MAX_DAYS else None
    name = path.removeprefix("customer.")
    if name in FIELDS and path.startswith("customer."):
        return name, FIELDS[name], None
    return None


def number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    try:
        found = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return found if found.is_finite() else None


def _fail(field: str, detail: str) -> None:
    raise RuleInvalid(field, detail)


def check(conditions: Sequence[Mapping[str, Any]], field: str = "conditions") -> None:
    """Every condition names a compilable fact with an operator and a value that fit it (after the general shape
    was checked by rules.validate_segment)."""
    for i, cond in enumerate(conditions):
        here = f"{field}.{i}"
        if "any" in cond:
            if not cond["any"]:
                _fail(f"{here}.any", f"{here}.any needs at least one condition")
            check(cond["any"], f"{here}.any")
            continue
        known = field_kind(cond["field"])
        if known is None:
            _fail(f"{here}.field", f"{here}.field must be one of: customer.{', customer.'.join(FIELDS)}, "
                  "customer.orders_last_days.N")
        _, kind, _ = known  # type: ignore[misc]
        op, value = cond["op"], cond.get("value")
        if op not in OPS[kind]:
            _fail(f"{here}.op", f"{here}.op for {cond['field']} must be one of: {', '.join(OPS[kind])}")
        if op in ("exists", "not_exists"):
            if kind == "set" and known[0] != "stores_visited":  # type: ignore[index]
                _fail(f"{here}.op", f"{here}.op for {cond['field']} must be contains or not_contains")
            continue
        if kind in ("number", "days"):
            amount = number(value)
            if amount is None or (kind == "days" and not 0 <= amount <= MAX_DAYS):
                _fail(f"{here}.value", f"{here}.value must be a number" + (" of days (0 to 3650)"
                                                                           if kind == "days" else ""))
        elif kind == "set":
            if not isinstance(value, str) or not 0 < len(value) <= 120:
                _fail(f"{here}.value", f"{here}.value must be a text of 1 to 120 characters")
        elif kind == "bool":
            if not isinstance(value, bool):
                _fail(f"{here}.value", f"{here}.value must be true or false")
        else:  # country: ISO 3166 alpha-2
            values = value if op in ("in", "not_in") else [value]
            if not isinstance(values, list) or not values or len(values) > 50 or not all(
                    isinstance(v, str) and COUNTRY.match(v) for v in values):
                _fail(f"{here}.value", f"{here}.value must be a country code like \"ES\" (a list for {op})")


def uses(conditions: Sequence[Mapping[str, Any]]) -> set[str]:
    """The facts the conditions read (what decides which events can change a membership)."""
    found: set[str] = set()
    for cond in conditions:
        if "any" in cond:
            found |= uses(cond["any"])
        else:
            known = field_kind(cond["field"])
            if known:
                found.add(known[0])
    return found


TIME_BASED = {"days_since_last_order", "days_since_store_visit", "days_since_cart_abandoned", "orders_last_days",
              "tags", "predicted_clv"}  # behavioural tags decay: they can lapse without an event
