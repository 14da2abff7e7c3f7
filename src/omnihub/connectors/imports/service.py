"""Writing a planned import: products created where missing (through catalog), then each order as history
through commerce (its own transaction: a rejected order never takes others down with it). Idempotent by the
mapping's external keys: a re-run finds every order and product and changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import Any

from omnihub.catalog import queries as catalog_queries
from omnihub.catalog import service as catalog_service
from omnihub.commerce import external as commerce_external
from omnihub.connectors.imports.rules import Plan
from omnihub.core.clock import Clock
from omnihub.core.db import Database
from omnihub.core.errors import DomainError

ACTOR = "import"
PRODUCT_BATCH = 500


def _moment(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(12, 0), tzinfo=UTC)
    raise ValueError("the order has no date")


def write_plan(db: Database, clock: Clock, result: Plan, *, channel: str, system: str,
               progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Products then orders; returns the counts and the orders rejected with their first line and reason."""
    counts = {"products_created": 0, "products_existing": 0, "orders_imported": 0, "orders_unchanged": 0,
              "orders_rejected": 0}
    rejected: list[dict[str, Any]] = []
    skus = sorted(result.products)
    for start in range(0, len(skus), PRODUCT_BATCH):
        batch = skus[start:start + PRODUCT_BATCH]

        def create(conn: Any, batch: list[str] = batch) -> None:
            known = catalog_queries.existing_skus(conn, batch)
            for sku in batch:
                if sku in known:
                    counts["products_existing"] += 1
                    continue
                product = result.products[sku]
                catalog_service.create_product(conn, clock, {
                    "sku": sku, "name": str(product.get("name") or sku)[:300],
                    "category": str(product.get("category") or "imported")[:120]})
                counts["products_created"] += 1

        db.run(create)
    for done, (key, order) in enumerate(result.orders.items(), 1):
        hints = [{"kind": "external", "system": system, "value": str(order["customer"])}] if order.get(
            "customer") else []
        data = {"channel": channel, "external": {"system": system, "id": key, "number": key},
                "at": _moment(order.get("date")), "hints": hints,
                "lines": [{"sku": line["sku"], "quantity": line["quantity"], "amount": line["amount"],
                           "discount": 0} for line in order["lines"]]}
        try:
            _, created = db.run(lambda conn, data=data: commerce_external.import_history_order(
                conn, clock, data, actor=ACTOR))
        except (DomainError, ValueError, KeyError, TypeError, ArithmeticError) as exc:
            counts["orders_rejected"] += 1
            rejected.append({"order": key, "line": order["first_line"], "reason": str(exc)[:300]})
            continue
        counts["orders_imported" if created else "orders_unchanged"] += 1
        if progress is not None:
            progress(done)
    return {**counts, "rejected_orders": rejected}
