"""Recommendations: what is bought with a product, and what to offer a person — item-to-item co-purchase from the
order history (cosine with shrinkage), blended with the person's category affinity and what they bought before
over a popularity base (automation.ranking), only what is available in the channel they shop in."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from omnihub.automation import ranking
from omnihub.catalog import queries as catalog_queries
from omnihub.commerce import queries as commerce_queries
from omnihub.core.clock import Clock
from omnihub.customers import queries as customers_queries
from omnihub.inventory import queries as inventory_queries

POOL = 200
SEEDS = 20  # a person's most-bought products that seed co-purchase (one query each)


def _available(conn: Connection, channel_code: str, ranked: list[tuple[str, float]], limit: int
               ) -> list[dict[str, Any]]:
    channel = catalog_queries.get_channel(conn, channel_code, field="channel")
    views = inventory_queries.availability_views(conn, [channel], [(channel_code, sku) for sku, _ in ranked])
    out = []
    for sku, score in ranked:
        available = views[(channel_code, sku)]["available"]
        if available > 0:  # no out-of-stock (or unpriced) suggestion
            out.append({"sku": sku, "score": score, "available": available})
        if len(out) == limit:
            break
    return out


def _categories(conn: Connection, skus: list[str]) -> dict[str, str]:
    found = {}
    for start in range(0, len(skus), 500):
        chunk = skus[start:start + 500]
        products = catalog_queries.pricing_facts(conn, "", None, chunk).products if chunk else {}
        found.update({sku: (p.get("category") or "").lower() for sku, p in products.items()})
    return found


def related(conn: Connection, sku: str, channel: str, limit: int) -> list[dict[str, Any]]:
    catalog_queries.get_product(conn, sku)
    pairs = {sku: commerce_queries.bought_together(conn, [sku], limit=POOL)}
    co = ranking.co_purchase(pairs, commerce_queries.orders_with(conn, sorted({sku} | set(pairs[sku]))))
    popular = {} if co else commerce_queries.best_sellers(conn, limit=POOL)  # cold product: the best sellers
    ranked = ranking.rank(co, popular, {}, {}, {sku}, POOL)
    return _available(conn, channel, ranked, limit)


def for_customer(conn: Connection, clock: Clock, customer_id: str, channel: str, limit: int,
                 include_owned: bool = ranking.INCLUDE_OWNED) -> list[dict[str, Any]]:
    """Each item says whether the person bought it before (`buy_again`); `include_owned=False` leaves those out."""
    view = customers_queries.customer_view(conn, clock, customer_id)
    ids = customers_queries.ids_of_person(conn, view["id"])
    owned = commerce_queries.skus_bought_by(conn, ids)
    seeds = sorted(owned, key=lambda s: (-owned[s], s))[:SEEDS]
    pairs = {seed: commerce_queries.bought_together(conn, [seed], limit=POOL) for seed in seeds}
    counts = commerce_queries.orders_with(conn, sorted(set(owned).union(*pairs.values())))
    popular = commerce_queries.best_sellers(conn, limit=POOL)
    categories = _categories(conn, sorted(set(popular) | set(counts) | set(owned)))
    ranked = ranking.for_person(owned, pairs, counts, popular, categories, include_owned=include_owned, limit=POOL)
    return [{**item, "buy_again": item["sku"] in owned} for item in _available(conn, channel, ranked, limit)]
