"""Customer use cases: the only code that writes the customers room's tables.

Resolution is batch-oriented: a batch of events is normalised in Python, resolved with a few set-based
queries, planned by the pure rules (attach / create / merge / suggest) and written with bulk statements.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from omnihub.catalog import queries as catalog_queries
from omnihub.core.clock import Clock, as_utc
from omnihub.core.db import Database, PerEngine, RetryTransaction, dialect_insert, new_id
from omnihub.core.events import emit, emit_many
from omnihub.customers import errors, rules
from omnihub.customers.models import (
    customer_aliases,
    customer_consents,
    customer_credit,
    customer_erasures,
    customer_events,
    customer_identities,
    customer_merges,
    customer_stats,
    customer_tags,
    customers,
    identity_blocks,
    merge_suggestions,
)
from omnihub.customers.queries import (
    forget_locked_active,
    remember_locked_active,
    resolve_id,
    resolve_with_status,
    store_credit_balance,
)
from omnihub.customers.rules import Identity, ProfileFacts

MAX_BATCH = 1000
# Tables whose rows follow a profile through merges and back through unmerges.
OWNED_TABLES = (customer_identities, customer_events, customer_consents, customer_tags, customer_stats,
                customer_credit)
_CHUNK = 2000

T = TypeVar("T")


# ---- extension point for other rooms -------------------------------------------------------------------------


class MergeParticipant(Protocol):
    """A room that references customer ids and wants its rows to follow merges (commerce, service…).

    Called inside the merge/unmerge transaction. Rooms that do not register still resolve old ids through
    `resolve_id` (the alias table) and can react to `customer.merged` / `customer.unmerged` events.
    """

    def on_merge(self, conn: Connection, survivor_id: str, absorbed_ids: Sequence[str]) -> None: ...

    def on_unmerge(self, conn: Connection, survivor_id: str, restored_id: str,
                   absorbed_ids: Sequence[str]) -> None: ...


class ErasureParticipant(Protocol):
    """A room that keeps personal data of customers (addresses, contact handles, message text) and must
    anonymise it when they are erased. Called inside the erasure transaction: erasure is all or nothing."""

    def on_erase(self, conn: Connection, customer_ids: Sequence[str]) -> None: ...


_participants: dict[str, MergeParticipant] = {}
_erasure_participants: dict[str, ErasureParticipant] = {}


def register_erasure_participant(name: str, participant: ErasureParticipant) -> None:
    _erasure_participants[name] = participant


def unregister_erasure_participant(name: str) -> None:
    _erasure_participants.pop(name, None)


def register_merge_participant(name: str, participant: MergeParticipant) -> None:
    _participants[name] = participant


def unregister_merge_participant(name: str) -> None:
    _participants.pop(name, None)


# ---- transactions that resolve identities ------------------------------------------------------------------


class RetryResolution(RetryTransaction):
    """A concurrent request changed a profile this one relies on: resolve again from scratch."""


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, IntegrityError | RetryResolution):
        return True
    # Raw driver errors (array inserts) carry the SQLSTATE themselves; SQLAlchemy's carry it on .orig.
    code = getattr(exc, "sqlstate", None) or getattr(getattr(exc, "orig", None), "sqlstate", None)
    return code in ("23505", "40001", "40P01")


def retrying(db: Database, work: Callable[[Connection], T], *, attempts: int = 8) -> T:
    """Run `work` in a transaction; when a racing request created the same identity first (unique key),
    or a deadlock/serialization failure hit, start over: the second run sees the winner's profile."""
    for attempt in range(attempts):
        try:
            with db.transaction() as conn:
                return work(conn)
        except Exception as exc:
            if attempt == attempts - 1 or not _retryable(exc):
                raise
            time.sleep(0.005 * (attempt + 1))
    raise AssertionError("unreachable")


# ---- small helpers --------------------------------------------------------------------------------------------


def _insert(conn: Connection, table: sa.Table) -> Any:
    insert = dialect_insert(conn)
    return insert(table)


def _greatest(conn: Connection, a: Any, b: Any) -> Any:
    fn = sa.func.greatest if conn.dialect.name == "postgresql" else sa.func.max
    return fn(sa.func.coalesce(a, b), b)


def _least(conn: Connection, a: Any, b: Any) -> Any:
    fn = sa.func.least if conn.dialect.name == "postgresql" else sa.func.min
    return fn(sa.func.coalesce(a, b), b)


def _pg_type(column: sa.Column) -> str:
    kind = column.type
    if isinstance(kind, sa.JSON):
        return "jsonb"
    if isinstance(kind, sa.Boolean):
        return "bool"
    if isinstance(kind, sa.DateTime):
        return "timestamptz"
    if isinstance(kind, sa.Float):
        return "float8"
    if isinstance(kind, sa.Numeric):
        return "numeric"
    if isinstance(kind, sa.Integer):
        return "int8"
    return "text"


def _write_rows(conn: Connection, table: sa.Table, rows: list[dict[str, Any]], *, on_conflict: str = "",
                sqlite_stmt: Callable[[], Any] | None = None) -> None:
    """Insert many rows in one statement.

    PostgreSQL gets one array parameter per column (INSERT … SELECT FROM unnest(…)): a short, constant
    statement whatever the batch size, so neither the driver nor the server re-parses a 7,000-placeholder
    query per batch. SQLite runs the driver's executemany, which is already an in-process loop, with the
    statement `sqlite_stmt()` builds (built only there: building one costs more than the PostgreSQL path).
    """
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(sqlite_stmt() if sqlite_stmt is not None else table.insert(), rows)
        return
    columns = list(rows[0])
    params: dict[str, Any] = {}
    arrays, selects = [], []
    for index, name in enumerate(columns):
        pg_type = _pg_type(table.c[name])
        values = [row[name] for row in rows]
        if pg_type == "jsonb":
            values = [None if v is None else json.dumps(v) for v in values]
            arrays.append(f"%(c{index})b::text[]")
            selects.append(f"c{index}::jsonb")
        else:
            arrays.append(f"%(c{index})b::{pg_type}[]")
            selects.append(f"c{index}")
        params[f"c{index}"] = values
    aliases = ", ".join(f"c{i}" for i in range(len(columns)))
    sql = (f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT {', '.join(selects)} "
           f"FROM unnest({', '.join(arrays)}) AS u({aliases}) {on_conflict}")
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, params)  # %b: arrays travel in binary, no per-element text quoting
    finally:
        cursor.close()


def _chunks(values: Sequence[T], size: int = _CHUNK) -> Iterable[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


def _utc(value: datetime | None, clock: Clock) -> datetime:
    return as_utc(value) if value is not None else clock.now()


def _active(conn: Connection, customer_id: str, field_: str | None = None) -> str:
    resolved = resolve_with_status(conn, customer_id)
    if resolved is None:
        raise errors.customer_not_found(customer_id, field_)
    cid, status = resolved
    if status == "erased":
        raise errors.customer_erased(cid, field_)
    return cid


def _lock_statement(in_: Any, *, exclusive: bool) -> Any:
    query = (sa.select(customers.c.id, customers.c.status).where(in_(customers.c.id, "b_values"))
             .order_by(customers.c.id))
    # SQLite serialises writers itself; FOR UPDATE/SHARE is PostgreSQL's (SQLAlchemy drops it on SQLite).
    return query.with_for_update(read=not exclusive)


# Built once per engine kind (resolving a customer runs these on every order).
_LOCK_EXCLUSIVE = PerEngine(lambda in_: _lock_statement(in_, exclusive=True))
_LOCK_SHARED = PerEngine(lambda in_: _lock_statement(in_, exclusive=False))
_BLOCKS = PerEngine(lambda in_: sa.select(identity_blocks.c.hash, identity_blocks.c.reason)
                    .where(in_(identity_blocks.c.hash, "b_values")))
_PROFILES_CREATED = PerEngine(lambda in_: sa.select(customers.c.id, customers.c.created_at)
                               .where(in_(customers.c.id, "b_values")))
_IDENTITIES_OF = PerEngine(lambda in_: sa.select(
    customer_identities.c.customer_id, customer_identities.c.kind, customer_identities.c.namespace,
    customer_identities.c.value, customer_identities.c.verified)
    .where(in_(customer_identities.c.customer_id, "b_values")).order_by(customer_identities.c.id))
_CONSENTS_OF = PerEngine(lambda in_: sa.select(customer_consents)
                         .where(in_(customer_consents.c.customer_id, "b_values")))
_KNOWN = PerEngine(lambda in_: sa.select(
    customer_identities.c.key, customer_identities.c.customer_id, customer_identities.c.verified)
    .where(in_(customer_identities.c.key, "b_values")))
# Both of the above as one read (what a single order's customer needs): block rows first, then known keys.
_BLOCKS_AND_KNOWN = PerEngine(lambda in_: sa.union_all(
    sa.select(sa.literal("block").label("what"), identity_blocks.c.hash.label("k"),
              identity_blocks.c.reason.label("v"), sa.literal(False).label("verified"))
    .where(in_(identity_blocks.c.hash, "b_hashes")),
    sa.select(sa.literal("known").label("what"), customer_identities.c.key, customer_identities.c.customer_id,
              customer_identities.c.verified)
    .where(in_(customer_identities.c.key, "b_keys"))))


def _lock(conn: Connection, ids: Iterable[str], *, exclusive: bool) -> dict[str, str]:
    """Lock profiles (in id order, so two requests never deadlock on each other) and return their status.
    SQLite already serialises writers, so the FOR UPDATE/SHARE only matters on PostgreSQL."""
    wanted = sorted(set(ids))
    result: dict[str, str] = {}
    statement = (_LOCK_EXCLUSIVE if exclusive else _LOCK_SHARED)(conn)
    for chunk in _chunks(wanted):
        result.update({r.id: r.status for r in conn.execute(statement, {"b_values": chunk})})
    return result


def _regions(conn: Connection, channels: Sequence[str | None], field_: Callable[[int], str]) -> dict[str, str | None]:
    regions: dict[str, str | None] = {}
    for index, code in enumerate(channels):
        if code is not None and code not in regions:
            regions[code] = catalog_queries.get_channel(conn, code, field=field_(index))["country"]
    return regions


def _blocks(conn: Connection, keys: Iterable[str]) -> dict[str, str]:
    """key -> 'blocked' | 'erased' for the keys on the block list."""
    by_hash = {rules.identity_hash(k): k for k in set(keys)}
    found: dict[str, str] = {}
    for chunk in _chunks(list(by_hash)):
        for h, reason in conn.execute(_BLOCKS(conn), {"b_values": chunk}):
            found[by_hash[h]] = reason
    return found


def _blocks_and_known(conn: Connection, keys: Iterable[str]) -> tuple[dict[str, str], dict[str, tuple[str, bool]]]:
    """`_blocks` and `_known` of the same keys in one read (a blocked key's known entry is simply unused)."""
    by_hash = {rules.identity_hash(k): k for k in set(keys)}
    if len(by_hash) > _CHUNK:
        return _blocks(conn, by_hash.values()), _known(conn, by_hash.values())
    blocks: dict[str, str] = {}
    known: dict[str, tuple[str, bool]] = {}
    for what, k, v, verified in conn.execute(_BLOCKS_AND_KNOWN(conn), {"b_hashes": list(by_hash),
                                                                       "b_keys": sorted(by_hash.values())}):
        if what == "block":
            blocks[by_hash[k]] = v
        else:
            known[k] = (v, bool(verified))
    return blocks, known


def _known(conn: Connection, keys: Iterable[str]) -> dict[str, tuple[str, bool]]:
    known: dict[str, tuple[str, bool]] = {}
    for chunk in _chunks(sorted(set(keys))):
        rows = conn.execute(_KNOWN(conn), {"b_values": chunk})
        known.update({r.key: (r.customer_id, bool(r.verified)) for r in rows})
    return known


def _facts(conn: Connection, ids: Iterable[str]) -> dict[str, ProfileFacts]:
    wanted = sorted(set(ids))
    facts = {r.id: ProfileFacts(r.id, as_utc(r.created_at), [])
             for r in conn.execute(_PROFILES_CREATED(conn), {"b_values": wanted})}
    rows = conn.execute(_IDENTITIES_OF(conn), {"b_values": wanted})
    for r in rows:
        facts[r.customer_id].identities.append(Identity(r.kind, r.value, r.namespace, bool(r.verified)))
    return facts


# ---- resolution -----------------------------------------------------------------------------------------------


@dataclass
class Resolution:
    customer_ids: list[str | None]
    created: list[str] = field(default_factory=list)
    merges: list[dict[str, Any]] = field(default_factory=list)
    suggestions: int = 0


def _resolve(conn: Connection, clock: Clock, items: list[list[Identity]], channels: Sequence[str | None],
             *, actor: str | None = None, known: dict[str, tuple[str, bool]] | None = None) -> Resolution:
    """Attach each item's identities to one profile: existing, new, or merged (rules.plan decides).
    `known`: the profiles the items' keys belong to, when the caller has read them."""
    keys = {i.key for ids in items for i in ids}
    if known is None:
        known = _known(conn, keys)
    facts: dict[str, ProfileFacts] = {}
    plan = rules.plan(items, known, facts)
    while plan.missing_facts:
        facts.update(_facts(conn, plan.missing_facts))
        plan = rules.plan(items, known, facts)

    existing = {r for r in plan.assignments if r is not None and not r.startswith(rules.NEW)}
    existing |= {s for m in plan.merges for s in (m.survivor, m.merged)}
    statuses = _lock(conn, existing, exclusive=bool(plan.merges))
    if any(statuses.get(cid) != "active" for cid in existing):
        raise RetryResolution()  # merged or erased since we read its identities

    now = clock.now()
    real: dict[str, str] = {ref: new_id("cus") for ref in plan.new_profiles}
    if real:
        _write_rows(conn, customers, [
            {"id": cid, "name": None, "status": "active", "created_at": now, "updated_at": now}
            for cid in real.values()
        ])

    remember_locked_active(conn, [*existing, *real.values()])

    def final(ref: str) -> str:
        return real.get(ref, ref)

    result = Resolution([final(r) if r is not None else None for r in plan.assignments], created=list(real.values()))
    for step in plan.merges:
        result.merges.append(_merge(conn, clock, step.survivor, step.merged, reason="auto", actor=actor,
                                    evidence=step.evidence))

    channel_of: dict[str, str | None] = {}
    for ids, channel in zip(items, channels, strict=True):
        for identity in ids:
            channel_of.setdefault(identity.key, channel)
    if plan.new_identities:
        rows = sorted(
            ({"key": i.key, "customer_id": final(ref), "owner_id": final(ref), "kind": i.kind,
              "namespace": i.namespace, "value": i.value, "verified": i.verified, "channel": channel_of.get(i.key),
              "created_at": now} for i, ref in plan.new_identities),
            key=lambda r: r["key"],
        )
        _write_rows(conn, customer_identities, rows)
    if plan.verify:
        conn.execute(customer_identities.update().where(customer_identities.c.key.in_(plan.verify))
                     .values(verified=True))
    if plan.suggestions:
        stmt = _insert(conn, merge_suggestions).on_conflict_do_nothing(index_elements=["customer_a", "customer_b"])
        rows = []
        for a, b, reason, evidence in plan.suggestions:
            fa, fb = sorted((final(a), final(b)))
            rows.append({"id": new_id("sug"), "customer_a": fa, "customer_b": fb, "reason": reason,
                         "evidence": evidence, "status": "open", "created_at": now})
        conn.execute(stmt, rows)
        result.suggestions = len(rows)

    created = set(real.values())
    gained = sorted({final(ref) for _, ref in plan.new_identities} - created)
    emit_many(conn, clock, [  # one insert however many: a batch can create hundreds of profiles
        *(("customer.created", {"customer_id": cid}) for cid in real.values()),
        *(("customer.updated", {"customer_id": cid, "changed": ["identities"]}) for cid in gained),
    ])
    return result


def _usable(conn: Connection, parsed: list[list[tuple[Identity, str]]], *, strict: bool,
            blocks: dict[str, str] | None = None) -> list[list[Identity]]:
    """Drop identifiers that must never identify anyone. `strict` (explicit creates) makes them an error.
    `blocks`: the block list's entries for these keys, when the caller has read them."""
    if blocks is None:
        blocks = _blocks(conn, (i.key for ids in parsed for i, _ in ids))
    usable = []
    for ids in parsed:
        keep = []
        for identity, where in ids:
            reason = "blocked" if rules.is_default_blocked(identity) else blocks.get(identity.key)
            if reason is None:
                keep.append(identity)
            elif strict and reason == "erased":
                raise errors.identity_erased(where)
            elif strict:
                raise errors.identity_blocked(where, identity.kind)
        usable.append(keep)
    return usable


def _parse_with_fields(hints: Any, region: str | None, field_: str) -> list[tuple[Identity, str]]:
    identities = rules.parse_identities(hints, region, field_)
    return [(i, field_) for i in identities]


# ---- events ---------------------------------------------------------------------------------------------------


def ingest_events(conn: Connection, clock: Clock, events: Sequence[dict[str, Any]],
                  *, actor: str | None = None) -> dict[str, Any]:
    """Store a batch of behavioural events on the right timelines, all or nothing.

    Every event's identity hints are resolved together: a handful of queries per batch, not per event.
    """
    if len(events) > MAX_BATCH:
        raise errors.batch_too_large(len(events), MAX_BATCH)
    regions = _regions(conn, [e["channel"] for e in events], lambda i: f"{i}.channel")
    parsed = [_parse_with_fields(e["identity"], regions[e["channel"]], f"{i}.identity") for i, e in enumerate(events)]
    items = _usable(conn, parsed, strict=False)
    resolution = _resolve(conn, clock, items, [e["channel"] for e in events], actor=actor)

    now = clock.now()
    rows = []
    stats: dict[tuple[str, str], list[Any]] = {}
    tags: dict[tuple[str, str], float] = {}
    for event, cid in zip(events, resolution.customer_ids, strict=True):
        if cid is None:
            continue
        at = _utc(event.get("at"), clock)
        properties = event.get("properties") or {}
        rows.append({"customer_id": cid, "owner_id": cid, "type": event["type"], "channel": event["channel"],
                     "occurred_at": at, "source": "events", "properties": properties})
        entry = stats.setdefault((cid, event["channel"]), [0, at])
        entry[0] += 1
        entry[1] = max(entry[1], at)
        for tag, weight in rules.interest_tags(event["type"], properties):
            tags[(cid, tag)] = tags.get((cid, tag), 0.0) + rules.epoch_score(weight, min(at, now))
    _write_rows(conn, customer_events, rows)
    _bump_stats(conn, [{"customer_id": c, "owner_id": c, "channel": ch, "events_count": n, "last_seen_at": at}
                       for (c, ch), (n, at) in sorted(stats.items())])
    _bump_tags(conn, now, tags)
    return {
        "accepted": len(rows),
        "ignored": len(events) - len(rows),
        "customers_created": len(resolution.created),
        "merges": len(resolution.merges),
        "suggestions": resolution.suggestions,
        "customer_ids": resolution.customer_ids,
    }


def _bump_stats(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    for row in rows:
        row.setdefault("events_count", 0)
        row.setdefault("orders_count", 0)
        row.setdefault("revenue", Decimal(0))
        row.setdefault("first_order_at", None)
        row.setdefault("last_order_at", None)
        row.setdefault("last_seen_at", None)

    def sqlite_stmt() -> Any:
        stmt = _insert(conn, customer_stats)
        t, x = customer_stats.c, stmt.excluded
        return stmt.on_conflict_do_update(
            index_elements=["customer_id", "owner_id", "channel"],
            set_={
                "events_count": t.events_count + x.events_count,
                "orders_count": t.orders_count + x.orders_count,
                "revenue": t.revenue + x.revenue,
                "first_order_at": _least(conn, t.first_order_at,
                                         sa.func.coalesce(x.first_order_at, t.first_order_at)),
                "last_order_at": _greatest(conn, t.last_order_at, sa.func.coalesce(x.last_order_at, t.last_order_at)),
                "last_seen_at": _greatest(conn, t.last_seen_at, sa.func.coalesce(x.last_seen_at, t.last_seen_at)),
            },
        )

    _write_rows(conn, customer_stats, rows, sqlite_stmt=sqlite_stmt, on_conflict=(
        "ON CONFLICT (customer_id, owner_id, channel) DO UPDATE SET "
        "events_count = customer_stats.events_count + EXCLUDED.events_count, "
        "orders_count = customer_stats.orders_count + EXCLUDED.orders_count, "
        "revenue = customer_stats.revenue + EXCLUDED.revenue, "
        "first_order_at = LEAST(customer_stats.first_order_at, EXCLUDED.first_order_at), "
        "last_order_at = GREATEST(customer_stats.last_order_at, EXCLUDED.last_order_at), "
        "last_seen_at = GREATEST(customer_stats.last_seen_at, EXCLUDED.last_seen_at)"))


def _bump_tags(conn: Connection, now: datetime, scores: dict[tuple[str, str], float]) -> None:
    if not scores:
        return

    def sqlite_stmt() -> Any:
        stmt = _insert(conn, customer_tags)
        return stmt.on_conflict_do_update(
            index_elements=["customer_id", "owner_id", "tag", "source"],
            set_={"score": sa.func.coalesce(customer_tags.c.score, 0.0) + stmt.excluded.score,
                  "updated_at": stmt.excluded.updated_at},
        )

    _write_rows(conn, customer_tags, [
        {"customer_id": cid, "owner_id": cid, "tag": tag, "source": "auto", "score": score, "updated_at": now}
        for (cid, tag), score in sorted(scores.items())
    ], sqlite_stmt=sqlite_stmt, on_conflict=(
        "ON CONFLICT (customer_id, owner_id, tag, source) DO UPDATE SET "
        "score = COALESCE(customer_tags.score, 0) + EXCLUDED.score, updated_at = EXCLUDED.updated_at"))


def add_timeline_entries(conn: Connection, clock: Clock, customer_id: str, entries: Sequence[dict[str, Any]],
                         *, source: str) -> None:
    """For other rooms: purchases, returns, messages and tickets join the same timeline."""
    cid = _active(conn, customer_id)
    conn.execute(customer_events.insert(), [
        {"customer_id": cid, "owner_id": cid, "type": e["type"], "channel": e.get("channel"),
         "occurred_at": _utc(e.get("at"), clock), "source": source, "properties": e.get("properties") or {}}
        for e in entries
    ])


def record_purchase(conn: Connection, clock: Clock, customer_id: str, channel: str, amount: Decimal,
                    at: datetime | None = None, *, order_id: str | None = None, currency: str | None = None,
                    categories: Sequence[str] = ()) -> None:
    """Commerce calls this when an order is placed: the 360 aggregates, timeline and interests follow."""
    cid = _active(conn, customer_id)
    when = _utc(at, clock)
    properties = {"order_id": order_id, "amount": str(amount), "currency": currency, "categories": list(categories)}
    now = clock.now()
    scores = {(cid, tag): rules.epoch_score(w, min(when, now))
              for tag, w in rules.interest_tags("order_placed", {"categories": list(categories)})}
    if conn.dialect.name == "postgresql":  # the three writes below as one statement: it runs on every order
        conn.execute(_RECORD_PURCHASE_PG, {
            "cid": cid, "channel": channel, "amount": str(Decimal(amount)), "at": when, "now": now,
            "properties": json.dumps(properties),
            "tags": json.dumps([[tag, score] for (_, tag), score in sorted(scores.items())])})
        return
    _bump_stats(conn, [{"customer_id": cid, "owner_id": cid, "channel": channel, "orders_count": 1,
                        "revenue": Decimal(amount), "first_order_at": when, "last_order_at": when,
                        "last_seen_at": when}])
    conn.execute(customer_events.insert(), dict(customer_id=cid, owner_id=cid, type="order_placed", channel=channel,
                                                 occurred_at=when, source="commerce", properties=properties))
    _bump_tags(conn, now, scores)


# PostgreSQL: record_purchase's stats bump, timeline entry and interest tags in one statement (data-modifying
# CTEs always run to completion). Same conflict rules as _bump_stats and _bump_tags.
_RECORD_PURCHASE_PG = sa.text(
    "WITH stats AS (INSERT INTO customer_stats (customer_id, owner_id, channel, orders_count, revenue, "
    "first_order_at, last_order_at, last_seen_at, events_count) "
    "VALUES (:cid, :cid, :channel, 1, CAST(:amount AS numeric), :at, :at, :at, 0) "
    "ON CONFLICT (customer_id, owner_id, channel) DO UPDATE SET "
    "orders_count = customer_stats.orders_count + 1, revenue = customer_stats.revenue + EXCLUDED.revenue, "
    "first_order_at = LEAST(customer_stats.first_order_at, EXCLUDED.first_order_at), "
    "last_order_at = GREATEST(customer_stats.last_order_at, EXCLUDED.last_order_at), "
    "last_seen_at = GREATEST(customer_stats.last_seen_at, EXCLUDED.last_seen_at)), "
    "timeline AS (INSERT INTO customer_events (customer_id, owner_id, type, channel, occurred_at, source, properties) "
    "VALUES (:cid, :cid, 'order_placed', :channel, :at, 'commerce', CAST(:properties AS jsonb))) "
    "INSERT INTO customer_tags (customer_id, owner_id, tag, source, score, updated_at) "
    "SELECT :cid, :cid, t->>0, 'auto', (t->>1)::float8, :now FROM jsonb_array_elements(CAST(:tags AS jsonb)) AS x(t) "
    "ON CONFLICT (customer_id, owner_id, tag, source) DO UPDATE SET "
    "score = COALESCE(customer_tags.score, 0) + EXCLUDED.score, updated_at = EXCLUDED.updated_at")


def add_store_credit(conn: Connection, clock: Clock, customer_id: str, amount: Decimal, currency: str,
                     reason: str | None = None) -> None:
    """A signed entry in the profile's store-credit ledger (returns add, redemptions subtract)."""
    cid = _active(conn, customer_id)
    conn.execute(customer_credit.insert(), dict(customer_id=cid, owner_id=cid, amount=Decimal(amount),
                                                 currency=currency, reason=reason, at=clock.now()))


def spend_store_credit(conn: Connection, clock: Clock, customer_id: str, amount: Decimal, currency: str, *,
                       reason: str | None = None) -> Decimal:
    """Take `amount` from the wallet, never below zero; returns the balance left. The profile row is the
    lock (merges lock it too), so two tills spending at once cannot both succeed on the same money."""
    cid = _active(conn, customer_id, "customer_id")
    _lock(conn, [cid], exclusive=True)
    balance = store_credit_balance(conn, cid, currency)
    if Decimal(amount) > balance:
        raise errors.insufficient_store_credit(balance, Decimal(amount), currency)
    conn.execute(customer_credit.insert(), dict(customer_id=cid, owner_id=cid, amount=-Decimal(amount),
                                                 currency=currency, reason=reason, at=clock.now()))
    return balance - Decimal(amount)


# ---- profiles -------------------------------------------------------------------------------------------------


def create_customer(conn: Connection, clock: Clock, *, name: str | None, identities: Any, channel: str | None,
                    actor: str | None = None, channel_country: str | None = None) -> tuple[str, bool]:
    """Get-or-create: the same person sent twice (or by two channels at once) is one profile.
    Returns (customer id, created). `channel_country`: the channel's country when the caller has read the
    channel already (it decides how local phone numbers are read)."""
    region = channel_country
    if region is None and channel:
        region = _regions(conn, [channel], lambda _: "channel")[channel]
    parsed = [_parse_identities_for_create(identities, region)]
    blocks, known = _blocks_and_known(conn, (i.key for i, _ in parsed[0]))
    items = _usable(conn, parsed, strict=True, blocks=blocks)
    if not items[0]:
        raise errors.identity_required("identities")
    resolution = _resolve(conn, clock, items, [channel], actor=actor, known=known)
    cid = resolution.customer_ids[0]
    assert cid is not None
    if name:
        changed = conn.execute(customers.update().where(customers.c.id == cid, customers.c.name.is_(None))
                               .values(name=name, updated_at=clock.now())).rowcount
        if changed and cid not in resolution.created:
            emit(conn, clock, "customer.updated", {"customer_id": cid, "changed": ["name"]})
    return cid, cid in resolution.created


def _parse_identities_for_create(hints: Any, region: str | None) -> list[tuple[Identity, str]]:
    if isinstance(hints, list):
        result = []
        for i, raw in enumerate(hints):
            result.append((rules.normalise_identity(raw, region, f"identities.{i}"), f"identities.{i}.value"))
        return result
    return [(i, f"identities.{i.kind}") for i in rules.parse_identities(hints, region, "identities")]


# ---- merge / unmerge --------------------------------------------------------------------------------------------


def _merge(conn: Connection, clock: Clock, survivor_id: str, merged_id: str, *, reason: str, actor: str | None,
           evidence: dict[str, Any]) -> dict[str, Any]:
    """Move everything of `merged_id` onto `survivor_id`, keep the old id resolving, audit field by field."""
    now = clock.now()
    rows = {r.id: r for r in conn.execute(sa.select(customers).where(customers.c.id.in_([survivor_id, merged_id])))}
    survivor, merged = rows[survivor_id], rows[merged_id]
    absorbed = [merged_id, *conn.execute(
        sa.select(customer_aliases.c.merged_id).where(customer_aliases.c.survivor_id == merged_id)
        .order_by(customer_aliases.c.merged_id)).scalars()]

    name, name_from = rules.merged_name(survivor.name, merged.name)
    consent_rows = [dict(r._mapping) for r in conn.execute(_CONSENTS_OF(conn), {"b_values": [survivor_id, merged_id]})]
    consents_before = {
        "survivor": rules.current_consents(r for r in consent_rows if r["customer_id"] == survivor_id),
        "merged": rules.current_consents(r for r in consent_rows if r["customer_id"] == merged_id),
    }
    moved_identities = [
        {"kind": r.kind, "value": r.value, "namespace": r.namespace or None, "verified": bool(r.verified)}
        for r in conn.execute(sa.select(customer_identities).where(customer_identities.c.customer_id == merged_id)
                              .order_by(customer_identities.c.id))
    ]
    manual_tags = list(conn.execute(
        sa.select(customer_tags.c.tag).where(customer_tags.c.customer_id == merged_id,
                                             customer_tags.c.source == "manual")).scalars())
    credit = [
        {"currency": cur, "amount": str(Decimal(amt))}
        for cur, amt in conn.execute(sa.select(customer_credit.c.currency, sa.func.sum(customer_credit.c.amount))
                                     .where(customer_credit.c.customer_id == merged_id)
                                     .group_by(customer_credit.c.currency))
    ]
    consents_after = rules.current_consents(consent_rows)
    fields = {
        "name": {"value": name, "from": survivor_id if name_from == "survivor" else merged_id,
                 "survivor_before": survivor.name, "merged_before": merged.name},
        "identities": [{**i, "from": merged_id} for i in moved_identities],
        "consents": {p: {"granted": bool(r["granted"]), "from": r["owner_id"]} for p, r in consents_after.items()},
        "consents_before": {side: {p: bool(r["granted"]) for p, r in c.items()} for side, c in consents_before.items()},
        "manual_tags": [{"tag": t, "from": merged_id} for t in manual_tags],
        "store_credit": [{**c, "from": merged_id} for c in credit],
    }

    # Tables the reads above showed empty for the merged profile need no UPDATE.
    skip = {t for t, empty in ((customer_consents, not consents_before["merged"]), (customer_credit, not credit),
                               (customer_identities, not moved_identities)) if empty}
    for table in OWNED_TABLES:
        if table not in skip:
            conn.execute(table.update().where(table.c.customer_id == merged_id).values(customer_id=survivor_id))
    merge_id = new_id("mrg")
    conn.execute(customer_aliases.update().where(customer_aliases.c.survivor_id == merged_id)
                 .values(survivor_id=survivor_id))
    conn.execute(customer_aliases.insert(), dict(merged_id=merged_id, survivor_id=survivor_id, merge_id=merge_id,
                                                  created_at=now))
    forget_locked_active(conn)
    conn.execute(customers.update().where(customers.c.id == merged_id)
                 .values(status="merged", merged_into=survivor_id, updated_at=now))
    conn.execute(customers.update().where(customers.c.id == survivor_id).values(name=name, updated_at=now))
    pair = sorted((survivor_id, merged_id))
    conn.execute(merge_suggestions.update()
                 .where(merge_suggestions.c.customer_a == pair[0], merge_suggestions.c.customer_b == pair[1],
                        merge_suggestions.c.status == "open")
                 .values(status="accepted", decided_at=now, decided_by=actor, merge_id=merge_id))
    for participant in list(_participants.values()):
        participant.on_merge(conn, survivor_id, absorbed)
    record = {"id": merge_id, "survivor_id": survivor_id, "merged_id": merged_id, "reason": reason, "actor": actor,
              "absorbed_ids": absorbed, "evidence": evidence, "fields": fields, "created_at": now,
              "undone_at": None}
    conn.execute(customer_merges.insert(), dict(**{k: v for k, v in record.items() if k != "undone_at"}))
    emit(conn, clock, "customer.merged", {"customer_id": survivor_id, "merged_id": merged_id, "merge_id": merge_id,
                                          "reason": reason, "absorbed_ids": absorbed})
    return record


def merge_customers(conn: Connection, clock: Clock, customer_id: str, other_id: str, *,
                    actor: str | None = None) -> dict[str, Any]:
    """Manual merge: the person asking names the survivor, so `customer_id` keeps its id."""
    survivor = _active(conn, customer_id)
    other = _active(conn, other_id, "other")
    if other_id == customer_id:
        raise errors.cannot_merge_self(customer_id)
    if survivor == other:
        raise errors.already_merged(other_id, survivor)
    statuses = _lock(conn, [survivor, other], exclusive=True)
    if statuses.get(survivor) != "active" or statuses.get(other) != "active":
        raise RetryResolution()
    return _merge(conn, clock, survivor, other, reason="manual", actor=actor, evidence={"requested_by": actor})


def _suggestion(conn: Connection, suggestion_id: str) -> Any:
    row = conn.execute(sa.select(merge_suggestions).where(merge_suggestions.c.id == suggestion_id)).first()
    if row is None:
        raise errors.suggestion_not_found(suggestion_id)
    if row.status != "open":
        raise errors.suggestion_closed(suggestion_id, row.status)
    return row


def accept_suggestion(conn: Connection, clock: Clock, suggestion_id: str, *, actor: str | None = None
                      ) -> dict[str, Any]:
    """A person confirmed the pair is one customer: merge with the deterministic survivor rule."""
    row = _suggestion(conn, suggestion_id)
    a, b = _active(conn, row.customer_a), _active(conn, row.customer_b)
    now = clock.now()
    merge_id = None
    if a != b:
        statuses = _lock(conn, [a, b], exclusive=True)
        if statuses.get(a) != "active" or statuses.get(b) != "active":
            raise RetryResolution()
        facts = _facts(conn, [a, b])
        survivor, merged = (p.id for p in rules.choose_survivor([facts[a], facts[b]]))
        merge_id = _merge(conn, clock, survivor, merged, reason="suggestion", actor=actor,
                          evidence={"suggestion_id": suggestion_id, **(row.evidence or {})})["id"]
    conn.execute(merge_suggestions.update().where(merge_suggestions.c.id == suggestion_id)
                 .values(status="accepted", decided_at=now, decided_by=actor, merge_id=merge_id))
    return {"suggestion_id": suggestion_id, "merge_id": merge_id}


def reject_suggestion(conn: Connection, clock: Clock, suggestion_id: str, *, actor: str | None = None) -> None:
    """Not the same person: the pair is never proposed again."""
    _suggestion(conn, suggestion_id)
    conn.execute(merge_suggestions.update().where(merge_suggestions.c.id == suggestion_id)
                 .values(status="rejected", decided_at=clock.now(), decided_by=actor))


def undo_merge(conn: Connection, clock: Clock, merge_id: str, *, actor: str | None = None) -> dict[str, Any]:
    """Unmerge from the audit record: the absorbed profile comes back with what it brought; what arrived
    after the merge stays with the survivor."""
    record = conn.execute(sa.select(customer_merges).where(customer_merges.c.id == merge_id)).first()
    if record is None:
        raise errors.merge_not_found(merge_id)
    if record.undone_at is not None:
        raise errors.merge_not_undoable(merge_id, "it was already undone")
    statuses = _lock(conn, [record.survivor_id, record.merged_id], exclusive=True)
    if statuses.get(record.survivor_id) != "active":
        raise errors.merge_not_undoable(merge_id, "the survivor was merged or erased since; undo that first")
    merged_row = conn.execute(sa.select(customers).where(customers.c.id == record.merged_id)).first()
    if merged_row is None or merged_row.status != "merged" or merged_row.merged_into != record.survivor_id:
        raise errors.merge_not_undoable(merge_id, "the merged profile changed since")
    absorbed = list(record.absorbed_ids)
    now = clock.now()
    for table in OWNED_TABLES:
        conn.execute(table.update().where(table.c.customer_id == record.survivor_id, table.c.owner_id.in_(absorbed))
                     .values(customer_id=record.merged_id))
    conn.execute(customer_aliases.delete().where(customer_aliases.c.merged_id == record.merged_id))
    others = [a for a in absorbed if a != record.merged_id]
    if others:
        conn.execute(customer_aliases.update().where(customer_aliases.c.merged_id.in_(others))
                     .values(survivor_id=record.merged_id))
    names = record.fields.get("name", {})
    forget_locked_active(conn)
    conn.execute(customers.update().where(customers.c.id == record.merged_id)
                 .values(status="active", merged_into=None, name=names.get("merged_before"), updated_at=now))
    conn.execute(customers.update().where(customers.c.id == record.survivor_id)
                 .values(name=names.get("survivor_before"), updated_at=now))
    for participant in list(_participants.values()):
        participant.on_unmerge(conn, record.survivor_id, record.merged_id, absorbed)
    conn.execute(customer_merges.update().where(customer_merges.c.id == merge_id)
                 .values(undone_at=now, undone_by=actor))
    emit(conn, clock, "customer.unmerged", {"customer_id": record.survivor_id, "restored_id": record.merged_id,
                                            "merge_id": merge_id})
    return {"merge_id": merge_id, "survivor_id": record.survivor_id, "restored_id": record.merged_id}


# ---- consent and tags -----------------------------------------------------------------------------------------


def record_consent(conn: Connection, clock: Clock, customer_id: str, purpose: str, *, granted: bool,
                   channel: str | None = None, at: datetime | None = None, proof: Any = None,
                   max_ahead_seconds: float = 300.0) -> str:
    """Append an explicit choice; the latest choice (by when it was made) is the one that counts. A choice
    dated beyond the clock skew allowed is refused: it would outrank every real choice made until then."""
    if purpose not in rules.PURPOSES:
        raise errors.invalid_identity("purpose", f"purpose must be one of: {', '.join(rules.PURPOSES)}.")
    if at is not None and rules.dated_in_the_future(as_utc(at), clock.now(), max_ahead_seconds):
        raise errors.consent_in_future(as_utc(at), clock.now(), max_ahead_seconds)
    cid = _active(conn, customer_id)
    if channel is not None:
        catalog_queries.get_channel(conn, channel, field="channel")
    now = clock.now()
    conn.execute(customer_consents.insert(), dict(
        customer_id=cid, owner_id=cid, purpose=purpose, granted=granted, channel=channel, at=_utc(at, clock),
        proof=proof, recorded_at=now))
    emit(conn, clock, "customer.updated", {"customer_id": cid, "changed": ["consents"], "purpose": purpose,
                                           "granted": granted})
    return cid


def can_contact(conn: Connection, customer_id: str, purpose: str) -> bool:
    """What every send checks: an explicit, current grant for this purpose. No record means no."""
    cid = resolve_id(conn, customer_id)
    if cid is None:
        return False
    status = conn.execute(sa.select(customers.c.status).where(customers.c.id == cid)).scalar()
    if status != "active":
        return False
    latest = conn.execute(
        sa.select(customer_consents.c.granted)
        .where(customer_consents.c.customer_id == cid, customer_consents.c.purpose == purpose)
        .order_by(customer_consents.c.at.desc(), customer_consents.c.id.desc()).limit(1)
    ).scalar()
    return bool(latest)


def set_tag(conn: Connection, clock: Clock, customer_id: str, tag: str) -> str:
    cid = _active(conn, customer_id)
    stmt = _insert(conn, customer_tags).on_conflict_do_nothing(
        index_elements=["customer_id", "owner_id", "tag", "source"])
    inserted = conn.execute(stmt.values(customer_id=cid, owner_id=cid, tag=tag, source="manual", score=None,
                                        updated_at=clock.now())).rowcount
    if inserted:
        emit(conn, clock, "customer.updated", {"customer_id": cid, "changed": ["tags"], "tag": tag})
    return cid


def remove_tag(conn: Connection, clock: Clock, customer_id: str, tag: str) -> str:
    cid = _active(conn, customer_id)
    removed = conn.execute(customer_tags.delete().where(
        customer_tags.c.customer_id == cid, customer_tags.c.tag == tag, customer_tags.c.source == "manual")).rowcount
    if not removed:
        raise errors.tag_not_found(tag)
    emit(conn, clock, "customer.updated", {"customer_id": cid, "changed": ["tags"], "tag": tag})
    return cid


# ---- block list and GDPR --------------------------------------------------------------------------------------


def add_block(conn: Connection, clock: Clock, raw: dict[str, Any], *, channel: str | None, note: str | None
              ) -> dict[str, Any]:
    """Block an identifier shared by many people (a store's phone or e-mail) from ever joining two profiles.
    Profiles that already carry it keep it; new events no longer match on it."""
    region = _regions(conn, [channel], lambda _: "channel")[channel] if channel else None
    identity = rules.normalise_identity(raw, region, "value")
    now = clock.now()
    stmt = _insert(conn, identity_blocks).on_conflict_do_nothing(index_elements=["hash"])
    conn.execute(stmt.values(hash=rules.identity_hash(identity.key), reason="blocked", kind=identity.kind,
                             namespace=identity.namespace or None, value=identity.value, note=note, created_at=now))
    return {"kind": identity.kind, "value": identity.value, "namespace": identity.namespace or None, "note": note,
            "created_at": now}


def erase_customer(conn: Connection, clock: Clock, customer_id: str, *, actor: str | None = None) -> dict[str, Any]:
    """GDPR erasure: personal data goes, financial aggregates stay, and the erased identifiers are kept only
    as hashes so that they never rebuild the person. Audited; `customer.erased` tells the other rooms."""
    cid = _active(conn, customer_id)
    _lock(conn, [cid], exclusive=True)
    now = clock.now()
    erasure_id = new_id("era")
    keys = list(conn.execute(sa.select(customer_identities.c.key, customer_identities.c.kind)
                             .where(customer_identities.c.customer_id == cid)))
    if keys:
        stmt = _insert(conn, identity_blocks).on_conflict_do_nothing(index_elements=["hash"])
        conn.execute(stmt, [{"hash": rules.identity_hash(k), "reason": "erased", "kind": kind, "namespace": None,
                             "value": None, "note": None, "erasure_id": erasure_id, "created_at": now}
                            for k, kind in keys])
    merged_ids = list(conn.execute(sa.select(customer_aliases.c.merged_id)
                                   .where(customer_aliases.c.survivor_id == cid)).scalars())
    events_deleted = conn.execute(customer_events.delete().where(customer_events.c.customer_id == cid)).rowcount
    for table in (customer_identities, customer_consents, customer_tags):
        conn.execute(table.delete().where(table.c.customer_id == cid))
    everyone = [cid, *merged_ids]
    conn.execute(customers.update().where(customers.c.id.in_(everyone)).values(name=None, updated_at=now))
    forget_locked_active(conn)
    conn.execute(customers.update().where(customers.c.id == cid).values(status="erased", erased_at=now))
    conn.execute(merge_suggestions.delete().where(sa.or_(merge_suggestions.c.customer_a.in_(everyone),
                                                         merge_suggestions.c.customer_b.in_(everyone))))
    conn.execute(customer_merges.update().where(sa.or_(customer_merges.c.survivor_id.in_(everyone),
                                                       customer_merges.c.merged_id.in_(everyone)))
                 .values(fields={"erased": True}, evidence={"erased": True}))
    record = {"id": erasure_id, "customer_id": cid, "actor": actor, "identities_blocked": len(keys),
              "events_deleted": events_deleted, "at": now}
    conn.execute(customer_erasures.insert(), dict(**record))
    for participant in list(_erasure_participants.values()):
        participant.on_erase(conn, everyone)
    emit(conn, clock, "customer.erased", {"customer_id": cid, "merged_ids": merged_ids, "erasure_id": erasure_id})
    return record
