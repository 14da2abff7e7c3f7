"""Domain events through a transactional outbox: written with the change, delivered at least once."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.core.clock import Clock, as_utc
from omnihub.core.db import BigId, JsonDoc, Timestamp, metadata, new_id

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("seq", BigId, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(40), nullable=False, unique=True),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("occurred_at", Timestamp, nullable=False),
    sa.Column("data", JsonDoc, nullable=False),
    sa.Column("dispatched_at", Timestamp, nullable=True),
    sa.Index(
        "ix_outbox_pending",
        "seq",
        postgresql_where=sa.text("dispatched_at IS NULL"),
        sqlite_where=sa.text("dispatched_at IS NULL"),
    ),
)


_INSERT = outbox.insert()


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    occurred_at: datetime
    data: dict[str, Any]

    def envelope(self) -> dict[str, Any]:
        """The public shape: `{id, type, occurred_at, data}` (DESIGN §3)."""
        return {"id": self.id, "type": self.type, "occurred_at": self.occurred_at.isoformat(), "data": self.data}


def emit(conn: Connection, clock: Clock, type_: str, data: dict[str, Any]) -> str:
    """Record an event in the caller's transaction: it exists if and only if the change commits."""
    return emit_many(conn, clock, [(type_, data)])[0]


def emit_many(conn: Connection, clock: Clock, events: Iterable[tuple[str, dict[str, Any]]]) -> list[str]:
    now = clock.now()
    rows = [{"id": new_id("evt"), "type": t, "occurred_at": now, "data": d} for t, d in events]
    if rows:  # a single row as execute(), not executemany(): cheaper on the driver's hot path
        conn.execute(_INSERT, rows[0] if len(rows) == 1 else rows)
    return [r["id"] for r in rows]


class EventHandler(Protocol):
    """Something the dispatcher hands each batch of new events to (webhook fan-out, NATS, automations)."""

    name: str

    def handle(self, conn: Connection, events: Sequence[Event]) -> None: ...


def claim_pending(conn: Connection, limit: int) -> list[Event]:
    """Lock a batch of undelivered events; concurrent dispatchers skip each other's rows on PostgreSQL."""
    query = (
        sa.select(outbox.c.id, outbox.c.type, outbox.c.occurred_at, outbox.c.data)
        .where(outbox.c.dispatched_at.is_(None))
        .order_by(outbox.c.seq)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return [
        Event(id=r.id, type=r.type, occurred_at=as_utc(r.occurred_at), data=r.data)
        for r in conn.execute(query)
    ]


def mark_dispatched(conn: Connection, clock: Clock, event_ids: Sequence[str]) -> None:
    if event_ids:
        conn.execute(
            outbox.update().where(outbox.c.id.in_(list(event_ids))).values(dispatched_at=clock.now())
        )


def dispatch_pending(
    conn: Connection, clock: Clock, handlers: Sequence[EventHandler], *, limit: int = 500
) -> int:
    """One dispatch step inside the caller's transaction: nothing is marked done unless every handler ran."""
    events = claim_pending(conn, limit)
    for handler in handlers:
        handler.handle(conn, events)
    mark_dispatched(conn, clock, [e.id for e in events])
    return len(events)


def recent_events(conn: Connection, *, type_: str | None = None, limit: int = 100) -> list[Event]:
    query = sa.select(outbox).order_by(outbox.c.seq.desc()).limit(limit)
    if type_:
        query = query.where(outbox.c.type == type_)
    return [
        Event(id=r.id, type=r.type, occurred_at=as_utc(r.occurred_at), data=r.data) for r in conn.execute(query)
    ]
