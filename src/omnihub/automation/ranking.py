"""Recommendation scoring (pure, no database): popularity as the base, item-to-item co-purchase by cosine with
shrinkage, the person's affinity for the product's category, and what they bought before ("buy again"). The weights
were chosen on validation folds carved out of the training period of the Superstore history, never on its hold-out
(bench/recommendations.py)."""

from __future__ import annotations

import math
from collections.abc import Mapping

W_CO = 0.4  # co-purchase, normalised to the person's strongest candidate
W_AFFINITY = 4.0  # the share of the person's purchases in the product's category, times its popularity
W_AGAIN = 2.0  # buy again: what the person bought, by units, normalised to their most-bought product
SHRINK = 5.0  # added to the cosine's denominator: a pair seen in one or two orders counts for little
# What a person already bought may be offered again (office supplies are bought again); the API's
# `include_owned=false` leaves it out. The default is the one that did better on the validation folds.
INCLUDE_OWNED = True


def describe() -> str:
    """The weights as shipped (what the benchmark prints)."""
    return (f"weights W_CO={W_CO} W_AFFINITY={W_AFFINITY} W_AGAIN={W_AGAIN} SHRINK={SHRINK} "
            f"INCLUDE_OWNED={INCLUDE_OWNED}")


def co_purchase(pairs: Mapping[str, Mapping[str, int]], orders_with: Mapping[str, int],
                shrink: float = SHRINK) -> dict[str, float]:
    """Σ over the seeds i of n(i, s) / (√(n(i)·n(s)) + shrink): `pairs[i][s]` is the number of orders holding both,
    `orders_with[x]` the orders holding x. Cosine keeps best sellers from co-occurring with everything."""
    scores: dict[str, float] = {}
    for seed, others in pairs.items():
        n_seed = orders_with.get(seed, 0)
        for sku, both in others.items():
            n_sku = orders_with.get(sku, 0)
            if both and n_seed and n_sku:
                scores[sku] = scores.get(sku, 0.0) + both / (math.sqrt(n_seed * n_sku) + shrink)
    return scores


def affinity(units_by_category: Mapping[str, float]) -> dict[str, float]:
    """Each category's share of what the person bought (0..1)."""
    total = sum(units_by_category.values())
    return {category: units / total for category, units in units_by_category.items()} if total else {}


def buy_again(owned: Mapping[str, float]) -> dict[str, float]:
    """What the person bought, 0..1 relative to their most-bought product (units)."""
    top = max(owned.values(), default=0) or 1
    return {sku: units / top for sku, units in owned.items() if units > 0}


def rank(co: Mapping[str, float], popularity: Mapping[str, int], shares: Mapping[str, float],
         categories: Mapping[str, str], exclude: set[str], limit: int,
         again: Mapping[str, float] | None = None) -> list[tuple[str, float]]:
    """popularity/top + W_CO·co/top + W_AFFINITY·share(category)·popularity/top + W_AGAIN·again over the candidates
    (popular, co-purchased or bought before); popularity alone decides for a cold person or product. Ties by SKU."""
    again = again or {}
    top_co = max(co.values(), default=0.0) or 1.0
    top_pop = max(popularity.values(), default=0) or 1
    scores: dict[str, float] = {}
    for sku in set(co) | set(popularity) | set(again):
        if sku in exclude:
            continue
        pop = popularity.get(sku, 0) / top_pop
        score = (pop + W_CO * co.get(sku, 0.0) / top_co + W_AFFINITY * shares.get(categories.get(sku, ""), 0.0) * pop
                 + W_AGAIN * again.get(sku, 0.0))
        scores[sku] = round(score, 9)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]


def for_person(owned: Mapping[str, float], pairs: Mapping[str, Mapping[str, int]], orders_with: Mapping[str, int],
               popular: Mapping[str, int], categories: Mapping[str, str], *, include_owned: bool, limit: int
               ) -> list[tuple[str, float]]:
    """A person's list from what they bought (`owned`: SKU → units), the co-purchases of their seeds (`pairs`), the
    order counts of every SKU involved (`orders_with`), the best sellers and each SKU's category. The API and the
    benchmark both call this, so the benchmark measures what ships."""
    co = co_purchase(pairs, orders_with)
    pool = {**{sku: n for sku, n in orders_with.items() if sku in co or sku in owned}, **popular}
    units: dict[str, float] = {}
    for sku, quantity in owned.items():
        if categories.get(sku):
            units[categories[sku]] = units.get(categories[sku], 0.0) + quantity
    again = buy_again(owned) if include_owned else {}
    return rank(co, pool, affinity(units), categories, set() if include_owned else set(owned), limit, again)
