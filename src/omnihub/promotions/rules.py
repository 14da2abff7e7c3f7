"""Pure promotion logic: no I/O, no session. The same basket gets the same discounts in every channel.

How a basket is priced (docs/promotions.md has examples):

- A promotion is a *candidate* when it is active, inside its window, valid in the basket's channel and
  currency, for this customer, not used up, reaches its minimum subtotal and has something to discount.
  Automatic promotions (no code) are candidates by themselves; a code promotion only when its code was given.
- Candidates are taken by priority (higher first; on a tie codes before automatic ones, then by id). Each
  discounts what the ones before it left: a line is never discounted below zero.
- An `exclusive` promotion applies alone: only if nothing applied before it, and nothing applies after it.
- At most one code per basket, unless every code given is `stackable`.
- `percent` takes value% of the eligible lines' remaining amount, `fixed` takes its amount off it (capped at
  it); both are rounded half-even to the currency's minor units once, for the whole basket, then spread over
  the eligible lines in proportion to their amounts, the rounding remainder going to the largest line — so the
  per-line amounts add up exactly to the promotion's amount. `free_shipping` removes the shipping.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from typing import Any

from omnihub.core.clock import as_utc
from omnihub.core.money import minor_units, parse_amount
from omnihub.promotions import errors

KINDS = ("percent", "fixed", "free_shipping")
ZERO = Decimal(0)


@dataclass(frozen=True)
class BasketLine:
    sku: str
    category: str
    quantity: int
    unit_price: Decimal


@dataclass(frozen=True)
class Basket:
    channel: str
    currency: str
    customer_id: str | None
    customer_tags: frozenset[str]
    lines: tuple[BasketLine, ...]
    shipping: Decimal
    now: datetime
    codes: tuple[str, ...]


@dataclass(frozen=True)
class Promotion:
    id: str
    kind: str
    value: Decimal = ZERO  # percent (0-100] for `percent`, amount off for `fixed`, unused for `free_shipping`
    code: str | None = None  # upper-cased; None = automatic
    currency: str | None = None  # required by `fixed` and by a minimum subtotal; then only valid in it
    channels: frozenset[str] = frozenset()  # empty = every channel
    customer_ids: frozenset[str] = frozenset()  # customer scope: ids and/or tags (segments); both empty = everyone
    customer_tags: frozenset[str] = frozenset()
    skus: frozenset[str] = frozenset()  # product scope: SKUs and/or categories; both empty = the whole basket
    categories: frozenset[str] = frozenset()
    starts_at: datetime | None = None
    ends_at: datetime | None = None  # exclusive
    min_subtotal: Decimal | None = None  # of the eligible lines, before any discount
    usage_limit: int | None = None
    per_customer_limit: int | None = None
    used: int = 0
    priority: int = 0
    exclusive: bool = False
    stackable: bool = False
    active: bool = True


@dataclass(frozen=True)
class AppliedPromotion:
    promotion_id: str
    code: str | None
    kind: str
    amount: Decimal


@dataclass(frozen=True)
class Discounts:
    lines: dict[str, Decimal]  # total discount per SKU line (every SKU of the basket, 0 when none)
    shipping: Decimal
    applied: tuple[AppliedPromotion, ...]
    currency: str = ""
    line_details: dict[str, dict[str, Decimal]] = field(default_factory=dict)  # SKU -> promotion id -> amount

    @property
    def total(self) -> Decimal:
        return sum(self.lines.values(), ZERO) + self.shipping


def normalise_code(code: str) -> str:
    """Codes are case-insensitive: stored and compared upper-cased."""
    return code.strip().upper()


def unit(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_units(currency))


def to_minor(amount: Decimal, currency: str) -> Decimal:
    return Decimal(amount).quantize(unit(currency), rounding=ROUND_HALF_EVEN)


def line_amounts(basket: Basket) -> list[Decimal]:
    return [to_minor(line.unit_price * line.quantity, basket.currency) for line in basket.lines]


def in_product_scope(promotion: Promotion, line: BasketLine) -> bool:
    if not promotion.skus and not promotion.categories:
        return True
    return line.sku in promotion.skus or line.category in promotion.categories


def for_customer(promotion: Promotion, customer_id: str | None, tags: frozenset[str]) -> bool:
    if not promotion.customer_ids and not promotion.customer_tags:
        return True
    return (customer_id is not None and customer_id in promotion.customer_ids) or bool(promotion.customer_tags & tags)


def refusal(promotion: Promotion, basket: Basket, customer_used: int = 0) -> str | None:
    """Why this promotion cannot apply to this basket (a reason code from errors.REASONS), or None."""
    if not promotion.active:
        return "inactive"
    if promotion.starts_at is not None and basket.now < promotion.starts_at:
        return "not_started"
    if promotion.ends_at is not None and basket.now >= promotion.ends_at:
        return "expired"
    if promotion.channels and basket.channel not in promotion.channels:
        return "channel"
    if promotion.currency is not None and promotion.currency != basket.currency:
        return "currency"
    if not for_customer(promotion, basket.customer_id, basket.customer_tags):
        return "customer"
    if promotion.per_customer_limit is not None and basket.customer_id is None:
        return "customer"  # a per-customer limit needs to know the customer
    if promotion.usage_limit is not None and promotion.used >= promotion.usage_limit:
        return "exhausted"
    if promotion.per_customer_limit is not None and customer_used >= promotion.per_customer_limit:
        return "exhausted"
    eligible = [a for line, a in zip(basket.lines, line_amounts(basket), strict=True)
                if in_product_scope(promotion, line)]
    if promotion.min_subtotal is not None and sum(eligible, ZERO) < promotion.min_subtotal:
        return "min_subtotal"
    if not eligible:
        return "not_applicable"
    return None


def _distinct_codes(basket: Basket) -> list[tuple[int, str]]:
    """(index in the request, normalised code), first occurrence only: the same code twice counts once."""
    seen: dict[str, int] = {}
    for index, raw in enumerate(basket.codes):
        seen.setdefault(normalise_code(raw), index)
    return [(index, code) for code, index in seen.items()]


def check_codes(promotions_by_code: Mapping[str, Promotion], basket: Basket,
                customer_usage: Mapping[str, int] | None = None) -> None:
    """Refuse the basket's codes that cannot apply, naming the first bad one by its index.

    `promotions_by_code` is keyed by the upper-cased code; `customer_usage` maps promotion id to how often
    this basket's customer has already redeemed it."""
    usage = customer_usage or {}
    codes = _distinct_codes(basket)
    found: list[tuple[int, Promotion]] = []
    for index, code in codes:
        promotion = promotions_by_code.get(code)
        if promotion is None:
            raise errors.invalid_code(code, index, "unknown")
        reason = refusal(promotion, basket, usage.get(promotion.id, 0))
        if reason is not None:
            raise errors.invalid_code(code, index, reason)
        found.append((index, promotion))
    if len(found) > 1:
        for index, promotion in found:
            if not promotion.stackable:
                raise errors.invalid_code(promotion.code or "", index, "not_stackable")


def split_proportionally(amount: Decimal, weights: Sequence[Decimal], currency: str) -> list[Decimal]:
    """Spread `amount` over lines in proportion to `weights` (each share capped at its weight), in minor units.

    Shares are rounded down; the remainder goes to the largest line (then the next largest, should the largest
    be full), so the shares always add up to exactly `amount`."""
    step = unit(currency)
    total = sum(weights, ZERO)
    amount = min(to_minor(amount, currency), total)
    if total <= 0 or amount <= 0:
        return [ZERO.quantize(step) for _ in weights]
    shares = [(amount * w / total).quantize(step, rounding=ROUND_DOWN) for w in weights]
    remainder = amount - sum(shares, ZERO)
    for i in sorted(range(len(weights)), key=lambda i: (-weights[i], i)):
        if remainder <= 0:
            break
        take = min(remainder, weights[i] - shares[i])
        shares[i] += take
        remainder -= take
    return shares


def _sort_key(promotion: Promotion) -> tuple[int, int, str]:
    return (-promotion.priority, 0 if promotion.code else 1, promotion.id)


def apply_promotions(promotions: Sequence[Promotion], basket: Basket,
                     customer_usage: Mapping[str, int] | None = None) -> Discounts:
    """The discounts for this basket: automatic promotions, plus code promotions whose code the basket gives.

    Promotions that cannot apply are skipped (call check_codes first to refuse bad codes with a reason)."""
    usage = customer_usage or {}
    currency = basket.currency
    step = unit(currency)
    given = {code for _, code in _distinct_codes(basket)}
    candidates = sorted(
        (p for p in promotions
         if (p.code is None or p.code in given) and refusal(p, basket, usage.get(p.id, 0)) is None),
        key=_sort_key,
    )
    remaining = line_amounts(basket)
    shipping_left = to_minor(basket.shipping, currency)
    per_line = [ZERO.quantize(step) for _ in basket.lines]
    shipping_off = ZERO.quantize(step)
    details: list[dict[str, Decimal]] = [{} for _ in basket.lines]
    applied: list[AppliedPromotion] = []
    codes_applied: list[Promotion] = []
    for promotion in candidates:
        if applied and promotion.exclusive:
            continue  # an exclusive promotion applies alone or not at all
        if promotion.code is not None and codes_applied and not (
                promotion.stackable and all(p.stackable for p in codes_applied)):
            continue
        eligible = [i for i, line in enumerate(basket.lines) if in_product_scope(promotion, line)]
        line_off = [ZERO.quantize(step) for _ in basket.lines]
        ship = ZERO.quantize(step)
        if promotion.kind == "free_shipping":
            ship = shipping_left
        else:
            base = sum((remaining[i] for i in eligible), ZERO)
            target = base * promotion.value / 100 if promotion.kind == "percent" else promotion.value
            for i, share in zip(eligible, split_proportionally(target, [remaining[i] for i in eligible], currency),
                                strict=True):
                line_off[i] = share
        amount = sum(line_off, ZERO) + ship
        if amount <= 0:
            continue
        for i, off in enumerate(line_off):
            if off:
                remaining[i] -= off
                per_line[i] += off
                details[i][promotion.id] = off
        shipping_left -= ship
        shipping_off += ship
        applied.append(AppliedPromotion(promotion.id, promotion.code, promotion.kind, amount))
        if promotion.code is not None:
            codes_applied.append(promotion)
        if promotion.exclusive:
            break  # ... and nothing applies after it
    lines: dict[str, Decimal] = {}
    line_details: dict[str, dict[str, Decimal]] = {}
    for line, off, detail in zip(basket.lines, per_line, details, strict=True):
        lines[line.sku] = lines.get(line.sku, ZERO.quantize(step)) + off
        merged = line_details.setdefault(line.sku, {})
        for promotion_id, value in detail.items():
            merged[promotion_id] = merged.get(promotion_id, ZERO) + value
    return Discounts(lines=lines, shipping=shipping_off, applied=tuple(applied), currency=currency,
                     line_details=line_details)


# --- validating a promotion as a whole (the schemas check types and shapes; these check the combinations) ---

CODE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{3,40}$")


def check_window(starts_at: datetime, ends_at: datetime | None) -> None:
    if ends_at is not None and ends_at <= starts_at:
        raise errors.invalid("invalid_window", "ends_at must be after starts_at.", "ends_at")


def check_limit(name: str, value: int | None) -> None:
    if value is not None and value < 1:
        raise errors.invalid("invalid_limit", f"{name} must be at least 1 (leave it out for no limit).", name)


def normalise_promotion(data: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """A new promotion's fields, checked together and normalised (code upper-cased, money in minor units)."""
    kind = data["kind"]
    if kind not in KINDS:
        raise errors.invalid("invalid_kind", f"kind must be one of {', '.join(KINDS)}.", "kind")
    code = data.get("code")
    if code is not None:
        if not CODE_PATTERN.match(code):
            raise errors.invalid("invalid_code", "A code is 3-40 letters, digits, '-' or '_'.", "code")
        code = normalise_code(code)
    currency = data.get("currency")
    value = data.get("value")
    if kind == "percent":
        if value is None or not ZERO < Decimal(value) <= 100:
            raise errors.invalid("invalid_value", "A percent promotion needs 0 < value <= 100.", "value")
        value = Decimal(value)
        if value != value.quantize(Decimal("0.0001")):
            raise errors.invalid("invalid_value", "A percentage has at most 4 decimal places.", "value")
    elif kind == "fixed":
        if currency is None:
            raise errors.invalid("currency_required", "A fixed-amount promotion needs a currency.", "currency")
        if value is None:
            raise errors.invalid("invalid_value", "A fixed-amount promotion needs a value.", "value")
        value = parse_amount(value, currency, field="value")
        if value <= 0:
            raise errors.invalid("invalid_value", "The amount off must be more than zero.", "value")
    else:
        if value not in (None, ZERO):
            raise errors.invalid("invalid_value", "A free-shipping promotion takes no value.", "value")
        value = ZERO
    min_subtotal = data.get("min_subtotal")
    if min_subtotal is not None:
        if currency is None:
            raise errors.invalid("currency_required", "A minimum subtotal needs a currency.", "currency")
        min_subtotal = parse_amount(min_subtotal, currency, field="min_subtotal")
    starts_at = as_utc(data.get("starts_at") or now)  # a time without a zone is taken as UTC
    ends_at = as_utc(data["ends_at"]) if data.get("ends_at") is not None else None
    check_window(starts_at, ends_at)
    check_limit("usage_limit", data.get("usage_limit"))
    check_limit("per_customer_limit", data.get("per_customer_limit"))
    scope = {name: sorted(set(data.get(name) or ()))
             for name in ("channels", "customer_ids", "customer_tags", "skus", "categories")}
    return {
        "code": code, "name": data.get("name") or code or kind, "kind": kind, "value": value, "currency": currency,
        "min_subtotal": min_subtotal, "starts_at": starts_at, "ends_at": ends_at,
        "usage_limit": data.get("usage_limit"), "per_customer_limit": data.get("per_customer_limit"),
        "priority": int(data.get("priority") or 0), "exclusive": bool(data.get("exclusive", False)),
        "stackable": bool(data.get("stackable", False)), "active": bool(data.get("active", True)), **scope,
    }
