"""Commerce as a room of the house: its router; orders and carts follow customer merges and erasure, the 360
view shows the open cart and the purchases; click & collect orders nobody collected in time expire."""

from __future__ import annotations

from sqlalchemy.engine import Connection

from omnihub.config import Settings
from omnihub.core.clock import Clock
from omnihub.core.rooms import Job, Room


def _wire() -> None:
    from omnihub.billing import flow as billing_flow
    from omnihub.commerce import merging, payment_outcomes, queries
    from omnihub.customers import participants
    from omnihub.customers import queries as customers_queries

    participants.register_merge_participant("commerce", merging.order_merge_participant())
    participants.register_erasure_participant("commerce", merging.order_erasure_participant())
    for name, section in queries.view_sections().items():
        customers_queries.register_view_section(name, section)
    billing_flow.register_outcome_listener(payment_outcomes.on_payment_outcome)


def _expire_pickups(conn: Connection, clock: Clock, _settings: Settings) -> int:
    from omnihub.commerce.fulfilment import expire_uncollected

    return expire_uncollected(conn, clock)


def _issue_due_invoices(conn: Connection, clock: Clock, _settings: Settings) -> int:
    from omnihub.commerce.payment_outcomes import issue_due_invoices

    return issue_due_invoices(conn, clock, limit=200)


ROOM = Room(
    name="commerce",
    router="omnihub.commerce.api:router",
    wire=_wire,
    jobs=[Job("commerce.expire_pickups", _expire_pickups, paced=True),
          Job("commerce.issue_due_invoices", _issue_due_invoices, batch=200)],
)
