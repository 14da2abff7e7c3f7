"""Commerce's part in customer merges and erasure: orders and carts follow their customer, and an erased
customer's addresses leave orders, their events and carts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.commerce.models import carts, orders
from omnihub.core.events import rewrite_events

ORD = orders.c


def order_merge_participant() -> Any:
    """Orders and carts follow their customer through merges and back through unmerges."""

    class _Participant:
        def on_merge(self, conn: Connection, survivor_id: str, absorbed_ids: Sequence[str]) -> None:
            for table in (orders, carts):
                conn.execute(table.update().where(table.c.customer_id.in_(list(absorbed_ids)))
                             .values(customer_id=survivor_id))

        def on_unmerge(self, conn: Connection, survivor_id: str, restored_id: str,
                       absorbed_ids: Sequence[str]) -> None:
            owners = [restored_id, *absorbed_ids]
            for table in (orders, carts):
                conn.execute(table.update().where(table.c.customer_id == survivor_id,
                                                  table.c.origin_customer_id.in_(owners))
                             .values(customer_id=restored_id))

    return _Participant()


ORDER_SNAPSHOT_EVENTS = ("order.created", "order.cancelled")  # events whose data is the whole order


def _without_address(fulfilment: dict[str, Any] | None) -> dict[str, Any] | None:
    """An erased customer's delivery address, cut to its country (tax and accounting need it)."""
    address = (fulfilment or {}).get("address")
    if not fulfilment or not address:
        return fulfilment
    return {**fulfilment, "address": {"country": address.get("country")}}


def order_erasure_participant() -> Any:
    """An erased customer's delivery addresses leave their orders (the country stays: tax and accounting need
    it), and the contact hints their carts were opened with are cleared."""

    class _Participant:
        def on_erase(self, conn: Connection, customer_ids: Sequence[str]) -> None:
            ids = list(customer_ids)
            owned = sa.or_(ORD.customer_id.in_(ids), ORD.origin_customer_id.in_(ids))
            order_ids = []
            for order_id, fulfilment in conn.execute(sa.select(ORD.id, ORD.fulfilment).where(owned)).all():
                order_ids.append(order_id)
                if (fulfilment or {}).get("address"):
                    conn.execute(orders.update().where(ORD.id == order_id)
                                 .values(fulfilment=_without_address(fulfilment)))
            conn.execute(orders.update().where(owned, ORD.contact.is_not(None)).values(contact=None))
            # The events that carried the whole order carried the address (and contact) too: the outbox (replays)
            # and the webhook delivery log (a rewrite listener) lose it as well.
            rewrite_events(conn, types=ORDER_SNAPSHOT_EVENTS, about=order_ids,
                           rewrite=lambda data: {**data, "fulfilment": _without_address(data.get("fulfilment")),
                                                 "contact": None})
            conn.execute(carts.update().where(sa.or_(carts.c.customer_id.in_(ids),
                                                     carts.c.origin_customer_id.in_(ids)))
                         .values(identity={}))

    return _Participant()
