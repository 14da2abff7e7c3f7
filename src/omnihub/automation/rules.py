"""Pure automation logic: what a rule document may say (validation naming the bad field), which outbox event a
trigger listens to, conditions over facts, templates, quiet hours, frequency caps and audience hashing. No
database, no I/O: unit-tested on its own."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from omnihub.core.durations import parse_duration

# Trigger names (what a marketer writes) -> the outbox event type the worker hands over.
TRIGGERS: dict[str, str] = {
    "cart.abandoned": "cart.abandoned",
    "store_visit": "customer.store_visit",
    "order.created": "order.created",
    "order.collected": "order.collected",
    "pickup.ready": "order.ready_for_pickup",
    "order.delivered": "order.delivered",
    "order.shipped": "order.shipped",
    "customer.created": "customer.created",
    "customer.updated": "customer.updated",
    "segment.entered": "segment.entered",
    "segment.left": "segment.left",
    "stock.back": "stock.back",
}
CHANNELS = ("email", "sms", "whatsapp")
PURPOSE = {"email": "email_marketing", "sms": "sms", "whatsapp": "whatsapp"}
ACTIONS = ("send", "coupon", "tag", "untag", "audience", "webhook", "conversation")
OPERATORS = ("==", "!=", ">", ">=", "<", "<=", "in", "not_in", "contains", "not_contains", "exists", "not_exists")
FACT_ROOTS = ("event", "customer", "cart", "orders")
MAX_STEPS, MAX_CONDITIONS = 20, 30
COUPON_KINDS = ("percent", "fixed", "free_shipping")
TAG = re.compile(r"^[a-z0-9][a-z0-9_\-:.]{0,63}$")
NAME = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,63}$")
DEFAULT_WINDOW = 7 * 86400
DEFAULT_QUIET = ("21:00", "09:00")
DEFAULT_CAP = (3, 7 * 86400)  # at most 3 marketing messages per person per 7 days


class RuleInvalid(ValueError):
    """A rule document that cannot run; `field` is the path of the bad part (`steps.0.channel`)."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field
        self.detail = detail


def _require(ok: bool, field: str, detail: str) -> None:
    if not ok:
        raise RuleInvalid(field, detail)


def _duration(value: Any, field: str) -> int:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise RuleInvalid(field, f"{field} {exc}") from None


def trigger_type(trigger: Mapping[str, Any]) -> str | None:
    """The outbox type a trigger listens to (None for a schedule)."""
    return TRIGGERS.get(trigger.get("event", "")) if "event" in trigger else None


def validate_trigger(trigger: Any) -> dict[str, Any]:
    _require(isinstance(trigger, dict), "trigger", "trigger must be an object: {\"event\": …} or {\"schedule\": …}")
    _require(len(trigger) == 1 and ("event" in trigger or "schedule" in trigger), "trigger",
             "trigger must have exactly one of `event` or `schedule`")
    if "event" in trigger:
        _require(trigger["event"] in TRIGGERS, "trigger.event",
                 f"trigger.event must be one of: {', '.join(TRIGGERS)}")
        return {"event": trigger["event"]}
    _duration(trigger["schedule"], "trigger.schedule")
    return {"schedule": trigger["schedule"]}


def validate_conditions(conditions: Any, field: str = "conditions") -> list[dict[str, Any]]:
    _require(isinstance(conditions, list), field, f"{field} must be a list")
    _require(len(conditions) <= MAX_CONDITIONS, field, f"{field} may hold at most {MAX_CONDITIONS} conditions")
    out = []
    for i, cond in enumerate(conditions):
        here = f"{field}.{i}"
        _require(isinstance(cond, dict), here, f"{here} must be an object")
        if "any" in cond:
            _require(set(cond) == {"any"}, here, f"{here}: `any` stands alone")
            out.append({"any": validate_conditions(cond["any"], f"{here}.any")})
            continue
        _require(set(cond) <= {"field", "op", "value"} and "field" in cond and "op" in cond, here,
                 f"{here} must be {{field, op, value}}")
        path = cond["field"]
        _require(isinstance(path, str) and path.split(".")[0] in FACT_ROOTS and len(path) <= 100
                 and all(part for part in path.split(".")), f"{here}.field",
                 f"{here}.field must start with one of: {', '.join(FACT_ROOTS)} (e.g. customer.orders_count)")
        _require(cond["op"] in OPERATORS, f"{here}.op", f"{here}.op must be one of: {', '.join(OPERATORS)}")
        if cond["op"] in ("in", "not_in"):
            _require(isinstance(cond.get("value"), list), f"{here}.value",
                     f"{here}.value must be a list for {cond['op']}")
        elif cond["op"] not in ("exists", "not_exists"):
            _require("value" in cond, f"{here}.value", f"{here}.value is required for {cond['op']}")
        out.append(dict(cond))
    return out


def _string(step: Mapping[str, Any], key: str, field: str, *, required: bool = True, limit: int = 200) -> None:
    value = step.get(key)
    if value is None and not required:
        return
    _require(isinstance(value, str) and 0 < len(value) <= limit, f"{field}.{key}",
             f"{field}.{key} must be a text of 1 to {limit} characters")


def validate_steps(steps: Any) -> list[dict[str, Any]]:
    _require(isinstance(steps, list) and steps, "steps", "steps must be a non-empty list")
    _require(len(steps) <= MAX_STEPS, "steps", f"steps may hold at most {MAX_STEPS} steps")
    allowed = {
        "send": {"action", "channel", "template", "subject", "text", "url", "transactional"},
        "coupon": {"action", "kind", "value", "currency", "valid_for", "channels", "categories"},
        "tag": {"action", "tag"}, "untag": {"action", "tag"}, "audience": {"action", "audience"},
        "webhook": {"action", "url"}, "conversation": {"action", "note"},
    }
    out = []
    for i, step in enumerate(steps):
        here = f"steps.{i}"
        _require(isinstance(step, dict), here, f"{here} must be an object")
        if "wait" in step:
            _require(set(step) == {"wait"}, here, f"{here}: a wait step has only `wait`")
            _duration(step["wait"], f"{here}.wait")
            out.append({"wait": step["wait"]})
            continue
        action = step.get("action")
        _require(action in ACTIONS, f"{here}.action", f"{here}.action must be one of: {', '.join(ACTIONS)} "
                 "(or the step is a {\"wait\": \"PT1H\"})")
        unknown = sorted(set(step) - allowed[action])
        _require(not unknown, f"{here}.{unknown[0] if unknown else ''}", f"{here}: unknown field for {action}")
        if action == "send":
            _require(step.get("channel") in CHANNELS, f"{here}.channel",
                     f"{here}.channel must be one of: {', '.join(CHANNELS)}")
            _require(isinstance(step.get("template"), str) and NAME.match(step["template"]) is not None,
                     f"{here}.template", f"{here}.template must be a template name (a-z, 0-9, _ and -)")
            _require(step["template"] in TEMPLATES or bool(step.get("text")), f"{here}.template",
                     f"{here}.template must be one of: {', '.join(TEMPLATES)}, or give `text`")
            _string(step, "subject", here, required=False)
            _string(step, "text", here, required=False, limit=4000)
            if step.get("url") is not None:
                _require(isinstance(step["url"], str) and step["url"].startswith(("https://", "http://"))
                         and len(step["url"]) <= 500, f"{here}.url", f"{here}.url must be an http(s) URL")
            _require(isinstance(step.get("transactional", False), bool), f"{here}.transactional",
                     f"{here}.transactional must be true or false")
        elif action == "coupon":
            _require(step.get("kind") in COUPON_KINDS, f"{here}.kind",
                     f"{here}.kind must be one of: {', '.join(COUPON_KINDS)}")
            if step["kind"] != "free_shipping":
                try:
                    value = Decimal(str(step.get("value")))
                except InvalidOperation:
                    value = Decimal(-1)
                _require(value > 0 and (step["kind"] != "percent" or value <= 100), f"{here}.value",
                         f"{here}.value must be a positive decimal (a percent at most 100)")
            if step["kind"] == "fixed":
                _require(isinstance(step.get("currency"), str) and len(step["currency"]) == 3,
                         f"{here}.currency", f"{here}.currency is required for a fixed amount")
            _duration(step.get("valid_for", "P7D"), f"{here}.valid_for")
            channels = step.get("channels", "all")
            categories = step.get("categories", [])
            _require(categories == "interests" or (isinstance(categories, list) and len(categories) <= 20 and all(
                isinstance(c, str) and 0 < len(c) <= 120 for c in categories)), f"{here}.categories",
                f"{here}.categories must be a list of categories or \"interests\" (the person's top interests)")
            _require(channels in ("all", "store", "online") or (
                isinstance(channels, list) and 0 < len(channels) <= 50 and all(isinstance(c, str) for c in channels)),
                f"{here}.channels", f"{here}.channels must be \"all\", \"store\", \"online\" or a list of codes")
        elif action in ("tag", "untag"):
            _require(isinstance(step.get("tag"), str) and TAG.match(step["tag"]) is not None, f"{here}.tag",
                     f"{here}.tag must be a tag (lower case, a-z 0-9 _ - : .)")
        elif action == "audience":
            _require(isinstance(step.get("audience"), str) and NAME.match(step["audience"]) is not None,
                     f"{here}.audience", f"{here}.audience must be a name (a-z, 0-9, _ and -)")
        elif action == "webhook":
            _require(isinstance(step.get("url"), str) and step["url"].startswith(("https://", "http://"))
                     and len(step["url"]) <= 500, f"{here}.url", f"{here}.url must be an http(s) URL")
        elif action == "conversation":  # open the person's service conversation with an internal note
            _string(step, "note", here, required=False, limit=2000)
        out.append(dict(step))
    return out


def validate_options(options: Any) -> dict[str, Any]:
    """goal ("purchase" stops the run when the person buys; cart runs always stop when the cart is bought),
    attribution window, quiet hours and the frequency cap, all optional."""
    _require(isinstance(options, dict), "options", "options must be an object")
    known = {"goal", "attribution_window", "quiet_hours", "frequency_cap"}
    unknown = sorted(set(options) - known)
    _require(not unknown, f"options.{unknown[0] if unknown else ''}", "unknown option")
    if "goal" in options:
        _require(options["goal"] in ("purchase", None), "options.goal", "options.goal must be \"purchase\" or null")
    if "attribution_window" in options:
        _duration(options["attribution_window"], "options.attribution_window")
    if "quiet_hours" in options and options["quiet_hours"] is not None:
        qh = options["quiet_hours"]
        _require(isinstance(qh, dict) and set(qh) == {"start", "end"}, "options.quiet_hours",
                 "options.quiet_hours must be {start: \"21:00\", end: \"09:00\"} or null")
        for key in ("start", "end"):
            _require(_clock_time(qh[key]) is not None, f"options.quiet_hours.{key}",
                     f"options.quiet_hours.{key} must be HH:MM")
    if "frequency_cap" in options and options["frequency_cap"] is not None:
        cap = options["frequency_cap"]
        _require(isinstance(cap, dict) and set(cap) == {"max", "per"} and isinstance(cap["max"], int)
                 and 0 < cap["max"] <= 1000, "options.frequency_cap",
                 "options.frequency_cap must be {max: N, per: \"P7D\"} or null")
        _duration(cap["per"], "options.frequency_cap.per")
    return dict(options)


def validate_rule(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The whole rule, normalised; RuleInvalid names the first bad field."""
    name = doc.get("name")
    _require(isinstance(name, str) and 0 < len(name.strip()) <= 200, "name", "name must be 1 to 200 characters")
    trigger = validate_trigger(doc.get("trigger"))
    steps = validate_steps(doc.get("steps"))
    if "schedule" in trigger:
        _require(not any(s.get("action") == "send" and s.get("template") == "abandoned_cart" for s in steps),
                 "steps", "the abandoned_cart template needs the cart.abandoned trigger")
    return {"name": name.strip(), "trigger": trigger, "conditions": validate_conditions(doc.get("conditions", [])),
            "steps": steps, "active": bool(doc.get("active", False)),
            "options": validate_options(doc.get("options") or {})}


def validate_segment(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A segment: a name and conditions over the customer's facts only (`customer.*`)."""
    name = doc.get("name")
    _require(isinstance(name, str) and 0 < len(name.strip()) <= 200, "name", "name must be 1 to 200 characters")
    conditions = validate_conditions(doc.get("conditions"))

    def customer_only(items: list[dict[str, Any]], field: str) -> None:
        for i, cond in enumerate(items):
            if "any" in cond:
                customer_only(cond["any"], f"{field}.{i}.any")
            else:
                _require(cond["field"].startswith("customer."), f"{field}.{i}.field",
                         f"{field}.{i}.field: a segment reads the customer's facts (customer.…)")

    customer_only(conditions, "conditions")
    return {"name": name.strip(), "conditions": conditions}


def membership_changes(before: set[str], now: set[str]) -> tuple[list[str], list[str]]:
    """Who entered and who left a segment between two computations."""
    return sorted(now - before), sorted(before - now)


# ---- conditions ---------------------------------------------------------------------------------------------------


_MISSING = object()


def lookup(facts: Mapping[str, Any], path: str) -> Any:
    """`customer.stats.orders_count` in nested mappings; _MISSING when any part is absent."""
    here: Any = facts
    for part in path.split("."):
        if isinstance(here, Mapping) and part in here:
            here = here[part]
        elif isinstance(here, list) and part.isdigit() and int(part) < len(here):
            here = here[int(part)]
        else:
            return _MISSING
    return here


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _compare(left: Any, op: str, right: Any) -> bool:
    if op == "exists":
        return left is not _MISSING and left is not None
    if op == "not_exists":
        return left is _MISSING or left is None
    if left is _MISSING:
        return op in ("!=", "not_in", "not_contains")
    if op in ("contains", "not_contains"):
        found = right in left if isinstance(left, list | str | set | tuple) else False
        return found if op == "contains" else not found
    if op in ("in", "not_in"):
        found = left in right or (str(left) in [str(r) for r in right])
        return found if op == "in" else not found
    a, b = _number(left), _number(right)
    if a is not None and b is not None:
        return {"==": a == b, "!=": a != b, ">": a > b, ">=": a >= b, "<": a < b, "<=": a <= b}[op]
    if op in ("==", "!="):
        return (left == right) == (op == "==")
    return False  # ordering a text against a number: never true


def matches(conditions: Sequence[Mapping[str, Any]], facts: Mapping[str, Any]) -> tuple[bool, str | None]:
    """All conditions hold (an `any` group holds when one of its own does); the first that fails is named."""
    for i, cond in enumerate(conditions):
        if "any" in cond:
            if not any(matches([c], facts)[0] for c in cond["any"]):
                return False, f"conditions.{i}: none of the alternatives holds"
            continue
        if not _compare(lookup(facts, cond["field"]), cond["op"], cond.get("value")):
            return False, f"conditions.{i}: {cond['field']} {cond['op']} {cond.get('value', '')}".strip()
    return True, None


# ---- guards before a send -----------------------------------------------------------------------------------------


def _clock_time(value: Any) -> time | None:
    if not isinstance(value, str) or not re.match(r"^\d{2}:\d{2}$", value):
        return None
    hours, minutes = int(value[:2]), int(value[3:])
    return time(hours, minutes) if hours < 24 and minutes < 60 else None


def quiet_until(now: datetime, zone: str, quiet: Mapping[str, str] | None) -> datetime | None:
    """When `now` falls in the quiet hours of the person's time zone, the UTC instant they end; else None."""
    if not quiet:
        return None
    start, end = _clock_time(quiet["start"]), _clock_time(quiet["end"])
    if start is None or end is None or start == end:
        return None
    try:
        tz = ZoneInfo(zone)
    except (KeyError, ValueError):
        tz = ZoneInfo("UTC")
    local = now.astimezone(tz)
    t = local.time()
    inside = (start <= t < end) if start < end else (t >= start or t < end)
    if not inside:
        return None
    ends = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if ends <= local:
        ends += timedelta(days=1)
    return ends.astimezone(now.tzinfo)


def zone_for(timezones: Sequence[str], fallback: str) -> str:
    """The person's time zone from their phone number: the shop's own zone when the number fits it (a Spanish
    mobile may be in Madrid or the Canaries), else the number's first usable zone, else the shop's."""
    if fallback in timezones:
        return fallback
    for zone in timezones:
        try:
            ZoneInfo(zone)
            return zone
        except (KeyError, ValueError):
            continue
    return fallback


def frequency_cap(options: Mapping[str, Any]) -> tuple[int, int] | None:
    cap = options.get("frequency_cap", "default")
    if cap is None:
        return None
    if cap == "default":
        return DEFAULT_CAP
    return int(cap["max"]), parse_duration(cap["per"])


def quiet_hours(options: Mapping[str, Any]) -> Mapping[str, str] | None:
    qh = options.get("quiet_hours", "default")
    if qh == "default":
        return {"start": DEFAULT_QUIET[0], "end": DEFAULT_QUIET[1]}
    return qh  # type: ignore[no-any-return]


def attribution_window(options: Mapping[str, Any]) -> int:
    return parse_duration(options["attribution_window"]) if options.get("attribution_window") else DEFAULT_WINDOW


# ---- templates ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    subject: str
    text: str


TEMPLATES: dict[str, Template] = {
    "abandoned_cart": Template("You left something in your cart",
                               "Hello{name}, you left these in your cart:\n{items}\nTotal: {total}\n"),
    "store_offer": Template("An offer for you in store",
                            "Hello{name}, thanks for visiting us. Show code {coupon} at the till for {discount} "
                            "off, valid in our stores until {expires}."),
    "pickup_reminder": Template("Your order is waiting for you",
                                "Hello{name}, your order {order} is ready to collect at {location}."),
    "nps_survey": Template("How did we do?",
                           "Hello{name}, how likely are you to recommend us to a friend (0-10)? Answer: {link}"),
    "win_back": Template("We miss you", "Hello{name}, it has been a while. Here is {discount} off: {coupon}."),
    "order_thanks": Template("Thank you for your order", "Hello{name}, thank you for order {order}."),
    "back_in_stock": Template("It is back in stock", "Hello{name}, {product} is available again. Come and get it "
                              "before it runs out."),
}


class _Safe(dict):  # type: ignore[type-arg]
    def __missing__(self, key: str) -> str:
        return ""


def render(template: str, values: Mapping[str, Any], *, text: str | None = None, subject: str | None = None
           ) -> tuple[str, str]:
    """Subject and text of a message; unknown placeholders render empty (a rule never fails on a missing fact)."""
    base = TEMPLATES.get(template)
    body = text if text is not None else (base.text if base else "")
    title = subject if subject is not None else (base.subject if base else "")
    safe = _Safe({k: ("" if v is None else v) for k, v in values.items()})
    return title.format_map(safe)[:300], body.format_map(safe)


def cart_items(lines: Sequence[Mapping[str, Any]], currency: str | None) -> str:
    return "\n".join(f"- {line.get('quantity')} x {line.get('name') or line.get('sku')} "
                     f"({line.get('unit_price')} {currency or ''})".rstrip() for line in lines)


# ---- audiences ----------------------------------------------------------------------------------------------------


def hashed(value: str) -> str:
    """SHA-256 hex of a normalised identifier (lower-cased, trimmed e-mail; E.164 phone digits with +), as Meta
    Custom Audiences and Google Customer Match expect."""
    return hashlib.sha256(value.strip().lower().encode()).hexdigest()


def audience_row(fmt: str, email: str | None, phone: str | None) -> dict[str, str]:
    """One export row in the provider's column names: Meta `EMAIL`/`PHONE` (phone digits only, no +), Google
    `Email`/`Phone` (E.164 with +)."""
    if fmt == "meta":
        return {"EMAIL": hashed(email) if email else "", "PHONE": hashed(phone.lstrip("+")) if phone else ""}
    return {"Email": hashed(email) if email else "", "Phone": hashed(phone) if phone else ""}
