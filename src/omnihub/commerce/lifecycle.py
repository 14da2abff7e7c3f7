"""An order's moves along its state machine — the guarded status update and its history row — and the
hand-over that fulfils its units, shared by orders, drafts, click & collect and shipments."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.billing import flow as billing_flow
from omnihub.commerce import errors, queries, rules
from omnihub.commerce.models import order_history, order_lines, orders
from omnihub.core.clock import Clock
from omnihub.core.events import emit
from omnihub.core.jsonable import jsonable
from omnihub.inventory import allocations as inventory_allocations

CREDIT_NOTE_SERIES = "CN"
ORD = orders.c
OL = order_lines.c


INSERT_HISTORY = order_history.insert()


@lru_cache(maxsize=32)
def _status_update(columns: tuple[str, ...]) -> Any:
    """`UPDATE orders SET status, updated_at, <columns> WHERE id AND status` for one set of extra columns."""
    b = sa.bindparam
    return (orders.update().where(ORD.id == b("b_id"), ORD.status == b("b_from"))
            .values(status=b("b_to"), updated_at=b("b_now"), **{c: b(f"v_{c}") for c in columns}))


def record_history(conn: Connection, clock: Clock, order_id: str, before: str | None, after: str, actor: str | None,
                   note: str | None = None) -> None:
    conn.execute(INSERT_HISTORY, dict(order_id=order_id, from_status=before, to_status=after, actor=actor,
                                      note=note, at=clock.now()))


def set_status(conn: Connection, clock: Clock, order: dict[str, Any], wanted: str, actor: str | None,
               note: str | None = None, **values: Any) -> None:
    """Move an order along the state machine; a concurrent move loses cleanly (409)."""
    rules.transition(order["id"], order["status"], wanted)
    now = clock.now()
    won = conn.execute(_status_update(tuple(sorted(values))), {
        "b_id": order["id"], "b_from": order["status"], "b_to": wanted, "b_now": now,
        **{f"v_{c}": v for c, v in values.items()}}).rowcount
    if won != 1:
        current = queries.order_status(conn, order["id"])
        raise errors.illegal_transition(order["id"], current, wanted)
    record_history(conn, clock, order["id"], order["status"], wanted, actor, note)
    order.update(values, status=wanted, updated_at=now)


def hand_over(conn: Connection, clock: Clock, order: dict[str, Any], actor: str | None, note: str,
              *, announce: bool = True) -> None:
    rows = queries.order_line_rows(conn, order["id"])
    left = [(r["sku"], r["location_code"], r["quantity"] - r["fulfilled"]) for r in rows
            if r["quantity"] > r["fulfilled"]]
    inventory_allocations.fulfil_reservation(conn, clock, order["reservation_id"], left, actor=actor, reason=note)
    conn.execute(order_lines.update().where(OL.order_id == order["id"]).values(fulfilled=OL.quantity))
    set_status(conn, clock, order, "collected", actor, note,
               pickup_status="collected" if order["pickup_location"] else None)
    billing_flow.request_capture(conn, clock, order["id"])  # authorised at a provider: captured at hand-over
    if announce:
        emit(conn, clock, "order.collected", {"id": order["id"], "number": order["number"],
                                              "location": rows[0]["location_code"],
                                              "customer_id": order["customer_id"]})


def order_event(conn: Connection, order_id: str) -> dict[str, Any]:
    order = queries.get_order(conn, order_id, show_pickup_code=False)
    return jsonable(order)
