"""Domain events through a transactional outbox: written with the change, delivered at least once."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.core.bulk import copy_csv_file, copy_rows
from omnihub.core.clock import Clock, as_utc
from omnihub.core.db import BigId, JsonDoc, Timestamp, metadata, new_ids, transaction_memo, witnessing

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("seq", BigId, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(40), nullable=False, unique=True),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("occurred_at", Timestamp, nullable=False),
    sa.Column("data", JsonDoc, nullable=False),
    sa.Column("dispatched_at", Timestamp, nullable=True),
    # Dispatch order, assigned when an event is dispatched, one writer at a time, so a reader that has seen
    # position N has seen every position below it: consumers keep a cursor over it (batching webhooks).
    sa.Column("position", BigId, nullable=True),
    sa.Index("ux_outbox_position", "position", unique=True,  # only dispatched events have one (migration 0044)
             postgresql_where=sa.text("position IS NOT NULL"), sqlite_where=sa.text("position IS NOT NULL")),
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
        """The public shape: `{id, type, occurred_at, data}` (docs/contract.md)."""
        return {"id": self.id, "type": self.type, "occurred_at": self.occurred_at.isoformat(), "data": self.data}


def emit(conn: Connection, clock: Clock, type_: str, data: dict[str, Any]) -> str:
    """Record an event in the caller's transaction: it exists if and only if the change commits."""
    return emit_many(conn, clock, [(type_, data)])[0]


# PostgreSQL, several events: one statement over one JSON document instead of a row-by-row executemany. One
# JSON text costs the driver next to nothing to send; a jsonb[] array parameter is adapted element by element in
# Python (~12 µs per event, measured). Rows are produced, so numbered, in the order given.
_INSERT_MANY_PG = sa.text(
    "INSERT INTO outbox (id, type, occurred_at, data) "
    "SELECT e->>0, e->>1, (e->>3)::timestamptz, e->2 "
    "FROM jsonb_array_elements(CAST(:events AS jsonb)) WITH ORDINALITY AS t(e, n) ORDER BY n")


def outbox_insert_pg(rows: str) -> str:
    """PostgreSQL: the statement that records events a use case's own SQL produces — for a use case that must be a
    single self-committing statement (the flash-sale hold: `inventory.reservations.reserve_at_once`), where the
    event rows come out of a CTE. `rows` is a SELECT yielding (id, type, occurred_at, data) as `emit` would
    write them: ids from `new_id("evt")`, data a JSON object. Built once by the caller, at import."""
    return f"INSERT INTO outbox (id, type, occurred_at, data) {rows}"


_TOGETHER = "events.together"  # per transaction: {"rows": events held by an `emitted_together` block}
EMITTED = "events.emitted"  # per transaction of a witnessed request: {"rows": every event emitted}


def emit_many(conn: Connection, clock: Clock, events: Iterable[tuple[str, dict[str, Any]]]) -> list[str]:
    now = clock.now()
    events = list(events)
    rows = [{"id": id_, "type": t, "occurred_at": now, "data": d}
            for id_, (t, d) in zip(new_ids("evt", len(events)), events, strict=True)]
    if witnessing():  # a keyed request: its key's row names what it did (core.idempotency)
        transaction_memo(conn, EMITTED).setdefault("rows", []).extend(rows)
    held = transaction_memo(conn, _TOGETHER).get("rows")
    if held is not None and not conn.in_nested_transaction():
        held.extend(rows)
    else:  # inside a savepoint the events go now, so that a rollback to it takes them along
        _write(conn, rows)
    return [r["id"] for r in rows]


OUTBOX_CSV_COLUMNS = ("id", "type", "occurred_at", "data")


def emit_csv_file(conn: Connection, path: Path) -> None:
    """Events a columnar import built in SQL, as a CSV file of `OUTBOX_CSV_COLUMNS` (ids from `new_id_block`, data
    as JSON text), appended to the outbox on PostgreSQL in the caller's transaction (no `emitted_together` or
    witnessing: a bulk import is neither)."""
    copy_csv_file(conn, outbox, OUTBOX_CSV_COLUMNS, path)


COPY_FROM = 1000  # events at once from which PostgreSQL gets them by COPY (a bulk import emits ~25,000 a batch)


def _write(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if len(rows) >= COPY_FROM and conn.dialect.name == "postgresql":
        # past a thousand events, one JSON document costs the server more to take apart than COPY's rows
        copy_rows(conn, outbox, ("id", "type", "occurred_at", "data"),
                  [(r["id"], r["type"], r["occurred_at"], r["data"]) for r in rows])
    elif len(rows) > 1 and conn.dialect.name == "postgresql":
        conn.execute(_INSERT_MANY_PG, {"events": json.dumps(
            [[r["id"], r["type"], r["data"], r["occurred_at"].isoformat()] for r in rows])})
    elif rows:  # a single row as execute(), not executemany(): cheaper on the driver's hot path
        conn.execute(_INSERT, rows[0] if len(rows) == 1 else rows)


@contextmanager
def emitted_together(conn: Connection) -> Iterator[None]:
    """The events emitted inside the block are written when it ends, as one insert, in the order emitted (an
    order emits four or more: paid, stock changed, created, invoice issued). Nothing changes for readers: the
    events still exist if and only if the transaction commits. Blocks nest (the outermost writes). Inside a
    savepoint `emit` writes at once, so that a rollback to the savepoint takes its events along — those then
    come before the events held from earlier in the block. Meant for a use case's whole body; nothing in it
    may read the outbox back."""
    memo = transaction_memo(conn, _TOGETHER)
    if "rows" in memo:
        yield
        return
    memo["rows"] = []
    try:
        yield
        _write(conn, memo["rows"])
    finally:
        memo.pop("rows", None)


@dataclass(frozen=True)
class PositionedEvent:
    """An event's place in dispatch order, without its data (what a cursor needs to choose)."""

    position: int
    id: str
    type: str


# Any constant both sides agree on: the PostgreSQL advisory lock that serialises position assignment.
_POSITIONS_LOCK = 0x6F6D6E68  # "omnh"


def lock_positions(conn: Connection) -> None:
    """Hold, until this transaction ends, the right to assign outbox positions (and to move a cursor's
    starting point). On SQLite every write transaction already holds the database lock."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _POSITIONS_LOCK})


def head_position(conn: Connection) -> int:
    """The last committed position (0 when nothing was dispatched yet)."""
    return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(outbox.c.position), 0))).scalar_one())


def _after(after: int, upto: int, types: Sequence[str], prefixes: Sequence[str]) -> list[Any]:
    """Dispatched events with after < position <= upto, of the given exact types and type prefixes (any type
    when both are empty): what a cursor has still to go through."""
    where: list[Any] = [outbox.c.position > after, outbox.c.position <= upto]
    if types or prefixes:
        kinds: list[Any] = [outbox.c.type.in_(list(types))] if types else []
        kinds += [outbox.c.type.startswith(prefix, autoescape=True) for prefix in prefixes]
        where.append(sa.or_(*kinds))
    return where


def events_after(
    conn: Connection, after: int, upto: int, *, types: Sequence[str] = (), prefixes: Sequence[str] = (),
    limit: int,
) -> list[PositionedEvent]:
    """The first `limit` of those events, in order."""
    query = (sa.select(outbox.c.position, outbox.c.id, outbox.c.type).where(*_after(after, upto, types, prefixes))
             .order_by(outbox.c.position).limit(limit))
    return [PositionedEvent(int(r.position), r.id, r.type) for r in conn.execute(query)]


def count_events_after(
    conn: Connection, after: int, upto: int, *, types: Sequence[str] = (), prefixes: Sequence[str] = (),
    cap: int,
) -> int:
    """How many of those events there are, counting at most `cap`."""
    capped = sa.select(sa.literal(1)).where(*_after(after, upto, types, prefixes)).limit(cap).subquery()
    return int(conn.execute(sa.select(sa.func.count()).select_from(capped)).scalar_one())


def events_by_id(conn: Connection, event_ids: Sequence[str]) -> dict[str, Event]:
    if not event_ids:
        return {}
    query = sa.select(outbox.c.id, outbox.c.type, outbox.c.occurred_at, outbox.c.data).where(
        outbox.c.id.in_(list(event_ids)))
    return {r.id: Event(id=r.id, type=r.type, occurred_at=as_utc(r.occurred_at), data=r.data)
            for r in conn.execute(query)}


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


_MARK_DISPATCHED = (
    outbox.update().where(outbox.c.id == sa.bindparam("b_id"))
    .values(dispatched_at=sa.bindparam("b_at"), position=sa.bindparam("b_position"))
)
# PostgreSQL: one statement for the whole batch, positions following the order of the ids given.
_MARK_DISPATCHED_PG = sa.text(
    "UPDATE outbox SET dispatched_at = :at, position = :head + v.n "
    "FROM jsonb_array_elements_text(CAST(:ids AS jsonb)) WITH ORDINALITY AS v(id, n) WHERE outbox.id = v.id"
)


def mark_dispatched(conn: Connection, clock: Clock, event_ids: Sequence[str]) -> None:
    """Done, and placed in dispatch order (the order given). Holds the positions lock until commit, so
    positions become visible in increasing order."""
    if not event_ids:
        return
    lock_positions(conn)
    head, now = head_position(conn), clock.now()
    if conn.dialect.name == "postgresql":
        conn.execute(_MARK_DISPATCHED_PG, {"at": now, "head": head, "ids": json.dumps(list(event_ids))})
        return
    conn.execute(_MARK_DISPATCHED, [
        {"b_id": event_id, "b_at": now, "b_position": head + n} for n, event_id in enumerate(event_ids, 1)
    ])


def dispatch_pending(
    conn: Connection, clock: Clock, handlers: Sequence[EventHandler], *, limit: int = 500
) -> int:
    """One dispatch step inside the caller's transaction: nothing is marked done unless every handler ran."""
    events = claim_pending(conn, limit)
    for handler in handlers:
        handler.handle(conn, events)
    mark_dispatched(conn, clock, [e.id for e in events])
    return len(events)


def first_position_since(conn: Connection, since: datetime) -> int | None:
    """The position of the first retained event that happened at or after `since` (None: there is none)."""
    o = outbox.c
    return conn.execute(sa.select(sa.func.min(o.position)).where(o.position.is_not(None), o.occurred_at >= since)
                        ).scalar()


def purge_dispatched(conn: Connection, *, before: datetime, keep_after: int | None, limit: int) -> int:
    """Delete up to `limit` events dispatched before `before`, oldest first. Events at positions above
    `keep_after` stay whatever their age: a consumer's cursor has not passed them yet. Undispatched events are
    never deleted. Returns how many went."""
    o = outbox.c
    doomed = sa.select(o.seq).where(o.dispatched_at.is_not(None), o.dispatched_at < before)
    if keep_after is not None:
        doomed = doomed.where(sa.or_(o.position.is_(None), o.position <= keep_after))
    doomed = doomed.order_by(o.seq).limit(limit)
    return int(conn.execute(outbox.delete().where(o.seq.in_(doomed.scalar_subquery()))).rowcount or 0)


def recent_events(conn: Connection, *, type_: str | None = None, limit: int = 100) -> list[Event]:
    query = sa.select(outbox).order_by(outbox.c.seq.desc()).limit(limit)
    if type_:
        query = query.where(outbox.c.type == type_)
    return [
        Event(id=r.id, type=r.type, occurred_at=as_utc(r.occurred_at), data=r.data) for r in conn.execute(query)
    ]


# ---- anonymising stored events (erasure) --------------------------------------------------------------------

EventRewriteListener = Callable[[Connection, Sequence[Event]], None]
_rewrite_listeners: dict[str, EventRewriteListener] = {}


def register_rewrite_listener(name: str, listener: EventRewriteListener) -> None:
    """Something that keeps its own copies of events (the webhook delivery log) and must follow when an event's
    stored data is rewritten. Called in the rewriting transaction with the events as they now read."""
    _rewrite_listeners[name] = listener


def rewrite_events(conn: Connection, *, types: Sequence[str], about: Sequence[str],
                   rewrite: Callable[[dict[str, Any]], dict[str, Any]]) -> list[Event]:
    """Rewrite the stored data of the events of these types whose `data.id` is one of `about` — the outbox is
    otherwise append-only; this is for erasure, so that a replay never sends again what was erased. Returns
    the events that changed, as they now read, after telling the rewrite listeners.

    It reads every retained event of those types (no index on the data): an admin operation, not a hot path."""
    wanted = set(about)
    if not wanted or not types:
        return []
    o = outbox.c
    changed: list[Event] = []
    rows = conn.execute(sa.select(o.seq, o.id, o.type, o.occurred_at, o.data)
                        .where(o.type.in_(list(types)), o.data["id"].as_string().in_(sorted(wanted))))
    for seq, event_id, type_, occurred_at, data in rows.all():
        new_data = rewrite(data)
        if new_data != data:
            conn.execute(outbox.update().where(o.seq == seq).values(data=new_data))
            changed.append(Event(id=event_id, type=type_, occurred_at=as_utc(occurred_at), data=new_data))
    if changed:
        for listener in list(_rewrite_listeners.values()):
            listener(conn, changed)
    return changed
