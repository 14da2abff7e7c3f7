"""Where an order is fulfilled from: a pure, explainable decision (unit-tested without a database).

Rules, in order: one location that can fill every line; then the nearest to the delivery point; then the
fewest shipments (greedy: the location that fills the most remaining units first, then a bounded search for a
smaller set of locations when greedy needed three or more). Locations at their
daily capacity are skipped."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Candidate:
    code: str
    lat: float | None
    lon: float | None
    capacity_left: int | None = None  # None: no daily limit
    rank: int = 0  # the channel's own preference order, last tie-breaker


@dataclass(frozen=True)
class Decision:
    allocations: list[tuple[str, str, int]]  # (sku, location, quantity)
    short: dict[str, int]  # sku → units nobody can supply
    explanation: dict[str, Any] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return not self.short


def distance_km(a: tuple[float | None, float | None], b: tuple[float | None, float | None]) -> float | None:
    """Great-circle distance; None when either point is unknown."""
    if None in a or None in b:
        return None
    lat1, lon1, lat2, lon2 = map(math.radians, (a[0], a[1], b[0], b[1]))  # type: ignore[arg-type]
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 6371.0 * 2 * math.asin(math.sqrt(h))


def source_order(lines: Sequence[tuple[str, int]], candidates: Sequence[Candidate],
                 stock: Mapping[tuple[str, str], int], destination: tuple[float | None, float | None] | None
                 ) -> Decision:
    """Choose locations for `lines` ((sku, quantity)) given `stock[(location, sku)]` available units."""
    usable = [c for c in candidates if c.capacity_left is None or c.capacity_left > 0]
    skipped = [c.code for c in candidates if c not in usable]
    point = destination or (None, None)

    def distance(c: Candidate) -> float:
        d = distance_km((c.lat, c.lon), point)
        return math.inf if d is None else d

    def order_key(c: Candidate) -> tuple[float, int, str]:
        return (distance(c), c.rank, c.code)

    considered = [{"location": c.code, "distance_km": None if distance(c) == math.inf else round(distance(c), 1),
                   "can_fill_all": all(stock.get((c.code, s), 0) >= q for s, q in lines),
                   "capacity_left": c.capacity_left} for c in sorted(usable, key=order_key)]
    full = sorted((c for c in usable if all(stock.get((c.code, s), 0) >= q for s, q in lines)), key=order_key)
    if full:
        chosen = full[0]
        reason = (f"{chosen.code} can fill every line"
                  + (f" and is the nearest of {len(full)} that can" if len(full) > 1 else ""))
        return Decision([(s, chosen.code, q) for s, q in lines], {},
                        {"strategy": "single_location", "chosen": [chosen.code], "reason": reason,
                         "considered": considered, "skipped_at_capacity": skipped})

    remaining = {s: q for s, q in lines}
    left = dict(stock)
    allocations: list[tuple[str, str, int]] = []
    chosen_codes: list[str] = []
    pool = list(usable)
    while any(remaining.values()) and pool:
        def fills(c: Candidate) -> int:
            return sum(min(left.get((c.code, s), 0), q) for s, q in remaining.items())

        best = max(pool, key=lambda c: (fills(c), -distance(c), -c.rank))
        if fills(best) == 0:
            break
        pool.remove(best)
        chosen_codes.append(best.code)
        for sku, quantity in list(remaining.items()):
            take = min(left.get((best.code, sku), 0), quantity)
            if take:
                allocations.append((sku, best.code, take))
                remaining[sku] -= take
                left[(best.code, sku)] -= take
    short = {s: q for s, q in remaining.items() if q}
    how = "taking the one that covers most of what is left first"
    if not short and len(chosen_codes) > 2:  # greedy is not always the fewest: look for a smaller cover
        fewer = _fewest_cover(lines, sorted(usable, key=order_key), stock, len(chosen_codes) - 1, order_key)
        if fewer is not None:
            allocations, chosen_codes = fewer
            how = "the fewest locations that together cover every line, nearest first"
    reason = f"no single location can fill every line; split over {len(chosen_codes)} location(s), {how}"
    return Decision(allocations, short, {"strategy": "split", "chosen": chosen_codes, "reason": reason,
                                         "considered": considered, "skipped_at_capacity": skipped})


MAX_COVER_TRIES = 20_000  # subsets examined before settling for the greedy split


def _fewest_cover(lines: Sequence[tuple[str, int]], ordered: Sequence[Candidate], stock: Mapping[tuple[str, str], int],
                  at_most: int, order_key: Any) -> tuple[list[tuple[str, str, int]], list[str]] | None:
    """The smallest set of locations (2..at_most) whose stock covers every line, the nearest such set first;
    None when there is none or the search would be too long. Each SKU is taken nearest first."""
    tries = 0
    for size in range(2, at_most + 1):
        best: tuple[Any, tuple[Candidate, ...]] | None = None
        for group in itertools.combinations(ordered, size):
            tries += 1
            if tries > MAX_COVER_TRIES:
                return None
            if all(sum(stock.get((c.code, s), 0) for c in group) >= q for s, q in lines):
                key = sorted(order_key(c) for c in group)
                if best is None or key < best[0]:
                    best = (key, group)
        if best is not None:
            allocations: list[tuple[str, str, int]] = []
            for sku, quantity in lines:
                for c in best[1]:
                    take = min(stock.get((c.code, sku), 0), quantity)
                    if take:
                        allocations.append((sku, c.code, take))
                        quantity -= take
            return allocations, [c.code for c in best[1]]
    return None
