"""Recommendation scoring (pure, no database): popularity as the base, item-to-item co-purchase by cosine with
shrinkage, and the person's affinity for the product's category. The weights were chosen on a validation split
carved out of the training period of the Superstore history, never on its hold-out (bench/recommendations.py)."""

from __future__ import annotations

import math
from collections.abc import Mapping

W_CO = 0.2  # co-purchase, normalised to the person's strongest candidate
W_AFFINITY = 0.5  # the share of the person's purchases in the product's category, times its popularity
SHRINK = 5.0  # added to the cosine's denominator: a pair seen in one or two orders counts for little
# What a person already bought is left out of their list (the API's documented behaviour). On the validation split
# the same weights did better with it left in (26 hits vs 22; repeat purchases), and on the hold-out 1.53x the
# popularity baseline vs 1.13x: bench/recommendations.py prints both; changing it is a product decision.
EXCLUDE_OWNED = True


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


def rank(co: Mapping[str, float], popularity: Mapping[str, int], shares: Mapping[str, float],
         categories: Mapping[str, str], exclude: set[str], limit: int) -> list[tuple[str, float]]:
    """popularity/top + W_CO·co/top + W_AFFINITY·share(category)·popularity/top over the candidates (popular or
    co-purchased); popularity alone decides for a cold person or product. Ties by SKU."""
    top_co = max(co.values(), default=0.0) or 1.0
    top_pop = max(popularity.values(), default=0) or 1
    scores: dict[str, float] = {}
    for sku in set(co) | set(popularity):
        if sku in exclude:
            continue
        pop = popularity.get(sku, 0) / top_pop
        score = pop + W_CO * co.get(sku, 0.0) / top_co + W_AFFINITY * shares.get(categories.get(sku, ""), 0.0) * pop
        scores[sku] = round(score, 9)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
