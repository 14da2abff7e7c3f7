"""Recommendations: what is bought with a product, and what to offer a person — item-to-item co-purchase from the
order history, blended with the person's interest tags, only what is available in the channel they shop in."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from omnihub.automation import rules
from omnihub.catalog import queries as catalog_queries
from omnihub.commerce import queries as commerce_queries
from omnihub.core.clock import Clock
from omnihub.customers import queries as customers_queries
from omnihub.inventory import queries as inventory_queries

POOL = 200


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
    co = commerce_queries.bought_together(conn, [sku], limit=POOL)
    ranked = rules.blend(co, {} if co else commerce_queries.best_sellers(conn, limit=POOL), {}, {}, {sku}, POOL)
    return _available(conn, channel, ranked, limit)


def for_customer(conn: Connection, clock: Clock, customer_id: str, channel: str, limit: int) -> list[dict[str, Any]]:
    view = customers_queries.customer_view(conn, clock, customer_id)
    ids = customers_queries.ids_of_person(conn, view["id"])
    owned = commerce_queries.skus_bought_by(conn, ids)
    co = commerce_queries.bought_together(conn, sorted(owned), limit=POOL)
    popular = commerce_queries.best_sellers(conn, limit=POOL)
    interests = {t["tag"]: float(t["score"] or 1.0) for t in view.get("tags", [])}
    candidates = sorted(set(co) | set(popular))
    ranked = rules.blend(co, popular, interests, _categories(conn, candidates), set(owned), POOL)
    return _available(conn, channel, ranked, limit)
