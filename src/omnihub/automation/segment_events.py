"""Segment membership kept current from events: the people an order, a tag, a consent, a store visit, a merge or
an erasure touched are re-checked in every segment in the dispatcher's transaction, so `segment.entered` follows
the change that caused it (the scheduled recompute catches what time alone changes)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.engine import Connection

from omnihub.automation import segments
from omnihub.commerce import queries as commerce_queries
from omnihub.core.clock import Clock
from omnihub.core.errors import DomainError
from omnihub.core.events import Event

# The events that can change what a segment reads about a person.
WATCHED = frozenset({
    "order.created", "order.imported", "order.cancelled", "order.paid", "order.refunded",
    "customer.created", "customer.updated", "customer.store_visit", "customer.merged", "customer.unmerged",
    "customer.erased", "cart.abandoned",
})


def people_of(conn: Connection, event: Event) -> set[str]:
    """Every profile id an event names (the survivor and the absorbed ones of a merge)."""
    data = event.data
    found: set[str] = set()
    for key in ("customer_id", "merged_id"):
        if isinstance(data.get(key), str):
            found.add(data[key])
    for key in ("absorbed_ids", "merged_ids"):
        found.update(v for v in data.get(key) or [] if isinstance(v, str))
    if not found and event.type.startswith("order.") and isinstance(data.get("id"), str):
        try:
            customer = commerce_queries.get_order(conn, data["id"], show_pickup_code=False).get("customer_id")
        except DomainError:
            customer = None
        if customer:
            found.add(customer)
    return found


class SegmentHandler:
    """Hands the batch's touched people to `segments.refresh_customers`; an erased person leaves silently."""

    name = "automation.segments"

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def handle(self, conn: Connection, events: Sequence[Event]) -> None:
        touched: set[str] = set()
        erased: list[str] = []
        for event in events:
            if event.type not in WATCHED:
                continue
            ids = people_of(conn, event)
            if event.type == "customer.erased":
                erased.extend(ids)
            else:
                touched |= ids
        if erased:
            segments.remove_people(conn, erased)
            touched -= set(erased)
        if touched:
            segments.refresh_customers(conn, self.clock, touched)
