"""Pure inventory logic: availability arithmetic, allocation plans, reservation states, drift. No I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from omnihub.inventory import errors

RESERVATION_STATES = ("active", "released", "expired", "committed")

# The same two quantities as SQL over a `stock_levels` row (or a CTE returning its columns): the statements that
# claim stock in one round trip use these fragments, so the database and Python never disagree on them.
AVAILABLE_SQL = "GREATEST(0, on_hand - reserved - safety_stock)"  # = free_units(...)
CLAIMABLE_SQL = "on_hand - reserved - safety_stock - ring_fenced"  # a claim's guard: CLAIMABLE + own quota >= qty
MAX_TTL_SECONDS = 30 * 24 * 3600


def free_units(on_hand: int, reserved: int, safety_stock: int) -> int:
    """Sellable by anyone before quotas: on hand - reserved - safety stock, never negative (`AVAILABLE_SQL`)."""
    return max(0, on_hand - reserved - safety_stock)


@dataclass(frozen=True)
class Level:
    """One (location, SKU) stock level as read from the database."""

    location: str
    on_hand: int
    reserved: int
    safety_stock: int = 0
    ring_fenced: int = 0

    @property
    def free(self) -> int:
        """Sellable by anyone before quotas: on hand - reserved - safety stock, never negative."""
        return free_units(self.on_hand, self.reserved, self.safety_stock)


def available_for_channel(level: Level, own_quota: int) -> int:
    """What one channel may take here: free stock less what is ring-fenced for *other* channels."""
    others = max(0, level.ring_fenced - own_quota)
    return max(0, level.free - others)


@dataclass(frozen=True)
class ChannelAvailability:
    available: int
    locations: dict[str, int]


def channel_availability(
    levels: Mapping[str, Level], own_quotas: Mapping[str, int], locations: Sequence[str], buffer: int
) -> ChannelAvailability:
    """Sum over the channel's locations, minus the channel's buffer, never negative."""
    per_location = {
        code: available_for_channel(levels[code], own_quotas.get(code, 0)) if code in levels else 0
        for code in locations
    }
    return ChannelAvailability(max(0, sum(per_location.values()) - buffer), per_location)


def withhold_buffer(available: Mapping[str, int], preference: Sequence[str], buffer: int) -> dict[str, int]:
    """What a channel may take per location once its stock buffer is held back: the buffer is a channel-wide
    number, so it comes off the least preferred locations first (the pickup store or nearest keep theirs)."""
    result = dict(available)
    left = buffer
    for code in reversed(preference):
        if left <= 0:
            break
        taken = min(result.get(code, 0), left)
        if taken:
            result[code] -= taken
            left -= taken
    return result


def plan_allocation(quantity: int, candidates: Sequence[tuple[str, int]], spread: int = 0) -> list[tuple[str, int]]:
    """Where to take `quantity` from, given (location, available) candidates.

    One location that can fill everything is preferred (fewest movements); when several can, `spread`
    rotates among them so concurrent claims on a hot SKU land on different rows. Otherwise the largest
    holdings are taken first. The plan may fall short: the caller decides what a shortfall means.
    """
    usable = [(code, avail) for code, avail in candidates if avail > 0]
    full = [code for code, avail in usable if avail >= quantity]
    if full:
        return [(full[spread % len(full)], quantity)]
    plan: list[tuple[str, int]] = []
    remaining = quantity
    for code, avail in sorted(usable, key=lambda c: (-c[1], c[0])):
        take = min(avail, remaining)
        plan.append((code, take))
        remaining -= take
        if remaining == 0:
            break
    return plan


def quota_consumption(own_quota: int, quantity: int) -> int:
    """A channel's claims use its ring-fenced units first."""
    return max(0, min(own_quota, quantity))


def reservation_expiry(now: datetime, ttl_seconds: int) -> datetime:
    if not 1 <= ttl_seconds <= MAX_TTL_SECONDS:
        raise errors.invalid_ttl(ttl_seconds, MAX_TTL_SECONDS)
    return now + timedelta(seconds=ttl_seconds)


def ensure_active(reservation_id: str, status: str) -> None:
    """Only an active reservation can be released, committed or expired."""
    if status != "active":
        raise errors.reservation_not_active(reservation_id, status)


def merge_lines(lines: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
    """Add up repeated SKUs and order by SKU: one lock order for every transaction avoids deadlocks."""
    totals: dict[str, int] = {}
    for sku, quantity in lines:
        if quantity <= 0:
            raise errors.invalid_quantity(sku, quantity)
        totals[sku] = totals.get(sku, 0) + quantity
    return sorted(totals.items())


@dataclass(frozen=True)
class Drift:
    location: str
    sku: str
    check: str  # "ledger_on_hand", "ledger_reserved", "live_reservations", "quotas"
    expected: int
    actual: int


def find_drift(
    level: Level, sku: str, ledger_on_hand: int, ledger_reserved: int, live_reserved: int, quota_units: int
) -> list[Drift]:
    """Every way a level can disagree with the records that justify it."""
    checks = [
        ("ledger_on_hand", ledger_on_hand, level.on_hand),
        ("ledger_reserved", ledger_reserved, level.reserved),
        ("live_reservations", live_reserved, level.reserved),
        ("quotas", quota_units, level.ring_fenced),
    ]
    return [Drift(level.location, sku, name, expected, actual) for name, expected, actual in checks
            if expected != actual]
