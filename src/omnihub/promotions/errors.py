"""The promotions room's errors, each with a stable code."""

from __future__ import annotations

from omnihub.core.errors import Conflict, NotFound, ValidationFailed

# Why a code was refused (the `reason` member of an `invalid_promotion_code` problem).
REASONS = {
    "unknown": "There is no promotion with this code.",
    "inactive": "This promotion has been switched off.",
    "not_started": "This promotion has not started yet.",
    "expired": "This promotion has ended.",
    "channel": "This code is not valid in this channel.",
    "currency": "This code is not valid in this currency.",
    "customer": "This code is not valid for this customer.",
    "min_subtotal": "The basket does not reach this code's minimum subtotal.",
    "not_applicable": "Nothing in the basket is eligible for this code.",
    "exhausted": "This code has been used up.",
    "not_stackable": "This code cannot be combined with another code.",
}


def invalid_code(code: str, index: int, reason: str, **data: object) -> ValidationFailed:
    return ValidationFailed("invalid_promotion_code", f"'{code}': {REASONS[reason]}",
                            field=f"promotion_codes.{index}", promotion_code=code, reason=reason, **data)


def promotion_not_found(promotion_id: str) -> NotFound:
    return NotFound("promotion_not_found", f"No promotion '{promotion_id}'.", promotion=promotion_id)


def code_exists(code: str) -> Conflict:
    return Conflict("promotion_code_exists", f"A promotion with code '{code}' already exists.", field="code",
                    promotion_code=code)


def limit_reached(promotion_id: str, code: str | None, scope: str) -> Conflict:
    what = "for this customer" if scope == "customer" else "in total"
    return Conflict("promotion_limit_reached", f"Promotion '{code or promotion_id}' has reached its usage limit "
                    f"{what}.", promotion=promotion_id, promotion_code=code, scope=scope)


def limit_below_used(promotion_id: str, limit: int, used: int) -> Conflict:
    return Conflict("promotion_limit_below_used", f"usage_limit {limit} is below the {used} redemptions already "
                    "made.", field="usage_limit", promotion=promotion_id, usage_limit=limit, used=used)


def already_redeemed(promotion_id: str, order_id: str) -> Conflict:
    return Conflict("promotion_already_redeemed", f"Order '{order_id}' has already redeemed '{promotion_id}'.",
                    promotion=promotion_id, order=order_id)


def invalid(code: str, detail: str, field: str, **data: object) -> ValidationFailed:
    return ValidationFailed(code, detail, field=field, **data)
