"""Pickup codes cannot be guessed at the counter: every try at an order's code is counted *before* the code is
compared, in a transaction of its own that commits whatever the answer; after `max_wrong_codes` tries without
a collection, the order's collection is locked for `lock_seconds` (`409 pickup_locked` with `locked_until` and
Retry-After). That is the per-order rate limit: 5 tries per 15 minutes by default, so a 6-digit code would
take years to find while the order is kept 7 days. A lock that ran out starts a fresh count; an admin can lift
it sooner (`DELETE /orders/{id}/pickup/lock`). The row is locked while counting, so parallel tries are
counted one after the other: 300 parallel wrong codes compare at most `max_wrong_codes` of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.commerce import errors
from omnihub.commerce.models import orders
from omnihub.core.clock import Clock, as_utc

ORD = orders.c


@dataclass(frozen=True)
class PickupPolicy:
    max_wrong_codes: int = 5
    lock_seconds: float = 900.0


@dataclass(frozen=True)
class Attempt:
    """This try's number since the last unlock, and the lock it set when it was the last one allowed."""

    number: int
    locked_until: datetime | None

    def left(self, policy: PickupPolicy) -> int:
        return max(0, policy.max_wrong_codes - self.number)


def claim_attempt(conn: Connection, clock: Clock, order_id: str, policy: PickupPolicy) -> Attempt:
    """Count one try at the order's pickup code, or refuse it while collection is locked."""
    query = sa.select(ORD.id, ORD.pickup_attempts, ORD.pickup_locked_until).where(ORD.id == order_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise errors.order_not_found(order_id)
    now = clock.now()
    locked = as_utc(row.pickup_locked_until) if row.pickup_locked_until else None
    if locked is not None and locked > now:
        raise errors.pickup_locked(order_id, locked, now)
    number = (0 if locked is not None else row.pickup_attempts) + 1
    until = now + timedelta(seconds=policy.lock_seconds) if number >= policy.max_wrong_codes else None
    conn.execute(orders.update().where(ORD.id == order_id).values(pickup_attempts=number, pickup_locked_until=until))
    return Attempt(number, until)


def wrong_code(order_id: str, attempt: Attempt, policy: PickupPolicy) -> Any:
    """The refusal of a wrong code, saying how many tries are left (and the lock, after the last one)."""
    refusal = errors.wrong_pickup_code(order_id)
    refusal.data["attempts_left"] = attempt.left(policy)
    if attempt.locked_until is not None:
        refusal.data["locked_until"] = attempt.locked_until.isoformat()
    return refusal


def reset(conn: Connection, order_id: str) -> bool:
    """Forget the tries and lift the lock (after a collection, or by an admin). True when there was a lock."""
    row = conn.execute(sa.select(ORD.pickup_locked_until).where(ORD.id == order_id)).first()
    if row is None:
        raise errors.order_not_found(order_id)
    conn.execute(orders.update().where(ORD.id == order_id).values(pickup_attempts=0, pickup_locked_until=None))
    return row.pickup_locked_until is not None
