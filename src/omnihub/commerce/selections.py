"""Read-only selectables over commerce's orders, for other rooms to compose into their own SQL (the automation
room's segment rules: orders in the last N days, bought a category). Cancelled orders count for neither."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

from omnihub.commerce.models import order_lines, orders

OR, L = orders.c, order_lines.c
NOT_COUNTED = ("cancelled", "draft")


def orders_since(since: datetime, only: Sequence[str] | None = None) -> sa.Subquery:
    """Per customer, the orders placed since an instant (imported orders count from when they were placed):
    `customer_id`, `orders`. `only`: just these customers."""
    query = (sa.select(OR.customer_id.label("customer_id"), sa.func.count().label("orders"))
             .where(OR.customer_id.is_not(None), OR.created_at >= since, OR.status.not_in(NOT_COUNTED)))
    if only is not None:
        query = query.where(OR.customer_id.in_(only))
    return query.group_by(OR.customer_id).subquery("orders_since")


def bought_category(category: str) -> sa.Select:
    """Customers who bought a product of a category (the category the line was sold under)."""
    return (sa.select(OR.customer_id).join(order_lines, L.order_id == OR.id)
            .where(OR.customer_id.is_not(None), L.category == category, OR.status.not_in(NOT_COUNTED)))


def categories_bought(customer_id: str) -> sa.Select:
    """The categories a customer bought (for showing a member's facts)."""
    return (sa.select(L.category).join(orders, L.order_id == OR.id)
            .where(OR.customer_id == customer_id, OR.status.not_in(NOT_COUNTED)).distinct())
