"""The customers room's errors, each with a stable code."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from omnihub.core.errors import Conflict, NotFound, ValidationFailed


def customer_not_found(customer_id: str, field: str | None = None) -> NotFound:
    return NotFound("customer_not_found", f"No customer '{customer_id}'.", field=field, customer=customer_id)


def invalid_identity(field: str, detail: str) -> ValidationFailed:
    return ValidationFailed("invalid_identity", detail, field=field)


def identity_blocked(field: str, kind: str) -> ValidationFailed:
    return ValidationFailed(
        "identity_blocked", f"This {kind} is on the block list and cannot identify a customer.", field=field
    )


def identity_erased(field: str) -> Conflict:
    return Conflict(
        "identity_erased", "This identifier belonged to an erased customer and cannot identify anyone.",
        field=field,
    )


def identity_required(field: str) -> ValidationFailed:
    return ValidationFailed("identity_required", "At least one usable identity is required.", field=field)


def batch_too_large(size: int, limit: int) -> ValidationFailed:
    return ValidationFailed(
        "batch_too_large", f"A batch holds at most {limit} events; this one has {size}.", field="body",
        size=size, limit=limit,
    )


def invalid_event(field: str, detail: str) -> ValidationFailed:
    return ValidationFailed("invalid_event", detail, field=field)


def cannot_merge_self(customer_id: str) -> ValidationFailed:
    return ValidationFailed("cannot_merge_self", "A customer cannot be merged with itself.", field="other",
                            customer=customer_id)


def already_merged(customer_id: str, survivor_id: str) -> Conflict:
    return Conflict("already_merged", f"'{customer_id}' is already part of '{survivor_id}'.", field="other",
                    customer=customer_id, survivor=survivor_id)


def customer_erased(customer_id: str, field: str | None = None) -> Conflict:
    return Conflict("customer_erased", f"Customer '{customer_id}' was erased.", field=field, customer=customer_id)


def merge_not_found(merge_id: str) -> NotFound:
    return NotFound("merge_not_found", f"No merge '{merge_id}'.", merge=merge_id)


def merge_not_undoable(merge_id: str, reason: str) -> Conflict:
    return Conflict("merge_not_undoable", f"Merge '{merge_id}' cannot be undone: {reason}.", merge=merge_id)


def suggestion_not_found(suggestion_id: str) -> NotFound:
    return NotFound("suggestion_not_found", f"No merge suggestion '{suggestion_id}'.", suggestion=suggestion_id)


def suggestion_closed(suggestion_id: str, status: str) -> Conflict:
    return Conflict("suggestion_closed", f"Suggestion '{suggestion_id}' is already {status}.",
                    suggestion=suggestion_id, status=status)


def tag_not_found(tag: str) -> NotFound:
    return NotFound("tag_not_found", f"The customer has no manual tag '{tag}'.", field="tag", tag=tag)


def insufficient_store_credit(balance: Decimal, amount: Decimal, currency: str) -> Conflict:
    return Conflict("insufficient_store_credit",
                    f"Store credit is {balance} {currency}; {amount} {currency} was asked for.",
                    field="amount", balance=str(balance), amount=str(amount), currency=currency)


def lookup_needs_one() -> ValidationFailed:
    return ValidationFailed("lookup_needs_one", "Pass exactly one of email, phone, handle, loyalty.",
                            field="email")


def consent_in_future(at: datetime, now: datetime, max_ahead_seconds: float) -> ValidationFailed:
    return ValidationFailed(
        "consent_in_future", f"'at' ({at.isoformat()}) is in the future: a choice may be dated at most "
        f"{max_ahead_seconds:g} seconds after now ({now.isoformat()}).", field="at",
        at=at.isoformat(), now=now.isoformat(), max_ahead_seconds=max_ahead_seconds)
