"""Back in stock: a person (with consent for the channel they want to hear on) subscribes to a SKU in a sales
channel; when inventory announces that the SKU's availability there went from 0 to more (`availability.changed`),
each open subscription fires once — `stock.back`, the trigger of the built-in "back in stock" recipe."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.automation import rules
from omnihub.automation.models import automation_stock_subscriptions
from omnihub.catalog import queries as catalog_queries
from omnihub.core.clock import Clock, as_utc
from omnihub.core.db import new_id
from omnihub.core.errors import Conflict, DomainError, ValidationFailed
from omnihub.core.events import Event, emit_many
from omnihub.customers import queries as customers_queries
from omnihub.customers.privacy import can_contact

SUB = automation_stock_subscriptions.c
MAX_OPEN_PER_PERSON = 200


def _out(row: Any) -> dict[str, Any]:
    r = dict(row._mapping) if hasattr(row, "_mapping") else dict(row)
    return {"id": r["id"], "sku": r["sku"], "channel": r["channel"], "customer_id": r["customer_id"],
            "notify_by": r["notify_by"], "created_at": as_utc(r["created_at"]),
            "fired_at": as_utc(r["fired_at"]) if r["fired_at"] else None}


def subscribe(conn: Connection, clock: Clock, sku: str, channel: str, *, customer_id: str | None,
              identity: dict[str, Any] | None, notify_by: str) -> tuple[dict[str, Any], bool]:
    """(subscription, created). Asking again while one is open answers the open one: a subscription is a wish,
    not a counter. Refused without the consent the notice needs (`email_marketing` for e-mail, `sms`…)."""
    catalog_queries.get_product(conn, sku)
    catalog_queries.get_channel(conn, channel, field="channel")
    if customer_id:
        cid = customers_queries.resolve_id(conn, customer_id)
        if cid is None:
            raise ValidationFailed("customer_not_found", f"No customer '{customer_id}'.", field="customer_id")
    elif identity:
        cid = customers_queries.lookup(conn, identity, channel=channel)
    else:
        raise ValidationFailed("customer_required", "Say who subscribes: customer_id or identity.",
                               field="customer_id")
    purpose = rules.PURPOSE[notify_by]
    if not can_contact(conn, cid, purpose):
        raise Conflict("consent_required", f"The customer has not consented to `{purpose}`: record the consent "
                       "first.", field="notify_by", purpose=purpose)
    existing = conn.execute(sa.select(automation_stock_subscriptions).where(
        SUB.sku == sku, SUB.channel == channel, SUB.customer_id == cid, SUB.fired_at.is_(None))).first()
    if existing is not None:
        return _out(existing), False
    count = conn.execute(sa.select(sa.func.count()).where(SUB.customer_id == cid, SUB.fired_at.is_(None))).scalar()
    if (count or 0) >= MAX_OPEN_PER_PERSON:
        raise Conflict("too_many_subscriptions", f"At most {MAX_OPEN_PER_PERSON} open back-in-stock subscriptions "
                       "per customer.")
    row = dict(id=new_id("bis"), sku=sku, channel=channel, customer_id=cid, notify_by=notify_by,
               created_at=clock.now(), fired_at=None)
    conn.execute(automation_stock_subscriptions.insert(), row)
    return _out(row), True


def subscriptions_of(conn: Connection, sku: str, *, channel: str | None = None, limit: int = 100
                     ) -> list[dict[str, Any]]:
    query = sa.select(automation_stock_subscriptions).where(SUB.sku == sku)
    if channel:
        query = query.where(SUB.channel == channel)
    return [_out(r) for r in conn.execute(query.order_by(SUB.created_at.desc(), SUB.id.desc()).limit(limit))]


def fire(conn: Connection, clock: Clock, sku: str, channel: str, available: int) -> int:
    """Every open subscription to (sku, channel) fires now, once: marked first, then announced."""
    query = (sa.select(SUB.id, SUB.customer_id, SUB.notify_by)
             .where(SUB.sku == sku, SUB.channel == channel, SUB.fired_at.is_(None)).order_by(SUB.id))
    if conn.dialect.name == "postgresql":  # two dispatchers never fire the same subscription
        query = query.with_for_update(skip_locked=True)
    rows = list(conn.execute(query))
    if not rows:
        return 0
    for start in range(0, len(rows), 500):
        conn.execute(automation_stock_subscriptions.update().where(
            SUB.id.in_([r.id for r in rows[start:start + 500]])).values(fired_at=clock.now()))
    try:
        name = catalog_queries.get_product(conn, sku).get("name")
    except DomainError:  # a product deleted meanwhile still has its SKU
        name = None
    emit_many(conn, clock, [("stock.back", {"subscription_id": r.id, "customer_id": r.customer_id, "sku": sku,
                                            "name": name, "channel": channel, "available": available,
                                            "notify_by": r.notify_by}) for r in rows])
    return len(rows)


class StockHandler:
    """Reacts to inventory's `availability.changed`: from 0 to more in a channel fires its subscriptions."""

    name = "automation.stock"

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def handle(self, conn: Connection, events: Sequence[Event]) -> None:
        for event in events:
            if event.type != "availability.changed":
                continue
            data = event.data
            # from nothing (0, or never published: nothing was ever sold there) to something
            if not data.get("previous") and int(data.get("available") or 0) > 0:
                fire(conn, self.clock, str(data["sku"]), str(data["channel"]), int(data["available"]))
