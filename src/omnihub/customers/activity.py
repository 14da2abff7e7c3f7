"""What customers do: events ingested into timelines, stats and scored tags; purchases; store credit; manual tags."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.core.bulk import copy_rows
from omnihub.core.clock import Clock
from omnihub.core.events import emit, emit_many
from omnihub.customers import errors, rules
from omnihub.customers.models import customer_credit, customer_events, customer_stats, customer_tags
from omnihub.customers.queries import store_credit_balance
from omnihub.customers.resolution import parse_with_fields, resolve_identities, usable_identities
from omnihub.customers.writes import (
    active_id,
    active_ids,
    channel_regions,
    greatest,
    insert_into,
    least,
    lock_profiles,
    utc_or_now,
    write_rows,
)

MAX_BATCH = 1000


def ingest_events(conn: Connection, clock: Clock, events: Sequence[dict[str, Any]],
                  *, actor: str | None = None) -> dict[str, Any]:
    """Store a batch of behavioural events on the right timelines, all or nothing.

    Every event's identity hints are resolved together: a handful of queries per batch, not per event.
    """
    if len(events) > MAX_BATCH:
        raise errors.batch_too_large(len(events), MAX_BATCH)
    regions = channel_regions(conn, [e["channel"] for e in events], lambda i: f"{i}.channel")
    parsed = [parse_with_fields(e["identity"], regions[e["channel"]], f"{i}.identity") for i, e in enumerate(events)]
    items = usable_identities(conn, parsed, strict=False)
    resolution = resolve_identities(conn, clock, items, [e["channel"] for e in events], actor=actor)

    now = clock.now()
    rows = []
    stats: dict[tuple[str, str], list[Any]] = {}
    tags: dict[tuple[str, str], float] = {}
    for event, cid in zip(events, resolution.customer_ids, strict=True):
        if cid is None:
            continue
        at = utc_or_now(event.get("at"), clock)
        properties = event.get("properties") or {}
        rows.append({"customer_id": cid, "owner_id": cid, "type": event["type"], "channel": event["channel"],
                     "occurred_at": at, "source": "events", "properties": properties})
        entry = stats.setdefault((cid, event["channel"]), [0, at])
        entry[0] += 1
        entry[1] = max(entry[1], at)
        for tag, weight in rules.interest_tags(event["type"], properties):
            tags[(cid, tag)] = tags.get((cid, tag), 0.0) + rules.epoch_score(weight, min(at, now))
    write_rows(conn, customer_events, rows)
    # A check-in at a store is a moment other rooms act on (automations): it goes out as an event too.
    visits = [("customer.store_visit", {"customer_id": r["customer_id"], "channel": r["channel"],
                                        "at": r["occurred_at"].isoformat(), "properties": r["properties"]})
              for r in rows if r["type"] == "store_visit"]
    if visits:
        emit_many(conn, clock, visits)
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


# PostgreSQL: new stats rows added to a profile's existing ones (counts and revenue summed, first/last widened)
STATS_ADDED_PG = (
    "ON CONFLICT (customer_id, owner_id, channel) DO UPDATE SET "
    "events_count = customer_stats.events_count + EXCLUDED.events_count, "
    "orders_count = customer_stats.orders_count + EXCLUDED.orders_count, "
    "revenue = customer_stats.revenue + EXCLUDED.revenue, "
    "first_order_at = LEAST(customer_stats.first_order_at, EXCLUDED.first_order_at), "
    "last_order_at = GREATEST(customer_stats.last_order_at, EXCLUDED.last_order_at), "
    "last_seen_at = GREATEST(customer_stats.last_seen_at, EXCLUDED.last_seen_at)")


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
        stmt = insert_into(conn, customer_stats)
        t, x = customer_stats.c, stmt.excluded
        return stmt.on_conflict_do_update(
            index_elements=["customer_id", "owner_id", "channel"],
            set_={
                "events_count": t.events_count + x.events_count,
                "orders_count": t.orders_count + x.orders_count,
                "revenue": t.revenue + x.revenue,
                "first_order_at": least(conn, t.first_order_at,
                                        sa.func.coalesce(x.first_order_at, t.first_order_at)),
                "last_order_at": greatest(conn, t.last_order_at, sa.func.coalesce(x.last_order_at, t.last_order_at)),
                "last_seen_at": greatest(conn, t.last_seen_at, sa.func.coalesce(x.last_seen_at, t.last_seen_at)),
            },
        )

    write_rows(conn, customer_stats, rows, sqlite_stmt=sqlite_stmt, on_conflict=STATS_ADDED_PG)


def _bump_tags(conn: Connection, now: datetime, scores: dict[tuple[str, str], float]) -> None:
    if not scores:
        return

    def sqlite_stmt() -> Any:
        stmt = insert_into(conn, customer_tags)
        return stmt.on_conflict_do_update(
            index_elements=["customer_id", "owner_id", "tag", "source"],
            set_={"score": sa.func.coalesce(customer_tags.c.score, 0.0) + stmt.excluded.score,
                  "updated_at": stmt.excluded.updated_at},
        )

    write_rows(conn, customer_tags, [
        {"customer_id": cid, "owner_id": cid, "tag": tag, "source": "auto", "score": score, "updated_at": now}
        for (cid, tag), score in sorted(scores.items())
    ], sqlite_stmt=sqlite_stmt, on_conflict=(
        "ON CONFLICT (customer_id, owner_id, tag, source) DO UPDATE SET "
        "score = COALESCE(customer_tags.score, 0) + EXCLUDED.score, updated_at = EXCLUDED.updated_at"))


def add_timeline_entries(conn: Connection, clock: Clock, customer_id: str, entries: Sequence[dict[str, Any]],
                         *, source: str) -> None:
    """For other rooms: purchases, returns, messages and tickets join the same timeline."""
    cid = active_id(conn, customer_id)
    conn.execute(customer_events.insert(), [
        {"customer_id": cid, "owner_id": cid, "type": e["type"], "channel": e.get("channel"),
         "occurred_at": utc_or_now(e.get("at"), clock), "source": source, "properties": e.get("properties") or {}}
        for e in entries
    ])


def add_timeline_entries_many(conn: Connection, clock: Clock, entries: Sequence[tuple[str, dict[str, Any]]],
                              *, source: str) -> None:
    """`add_timeline_entries` for many customers at once (the service desk's batches of messages): the profiles
    resolved in one query, the entries (customer id, entry) written in one statement, in order."""
    if not entries:
        return
    active = active_ids(conn, (cid for cid, _ in entries))
    copy_rows(conn, customer_events, _EVENT_COLUMNS, [  # COPY on PostgreSQL (as record_purchases)
        (active[cid], active[cid], e["type"], e.get("channel"), utc_or_now(e.get("at"), clock), source,
         e.get("properties") or {}) for cid, e in entries])


def record_purchase(conn: Connection, clock: Clock, customer_id: str, channel: str, amount: Decimal,
                    at: datetime | None = None, *, order_id: str | None = None, currency: str | None = None,
                    categories: Sequence[str] = ()) -> None:
    """Commerce calls this when an order is placed: the 360 aggregates, timeline and interests follow."""
    cid = active_id(conn, customer_id)
    when = utc_or_now(at, clock)
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


_EVENT_COLUMNS = ("customer_id", "owner_id", "type", "channel", "occurred_at", "source", "properties")


def record_purchases(conn: Connection, clock: Clock, purchases: Sequence[dict[str, Any]]) -> None:
    """`record_purchase` for a batch (imported order history): `{customer_id, channel, amount, at, order_id,
    currency, categories}` each. The stats are summed per profile and channel first, so the batch is one upsert
    of stats, one insert of timeline entries and one upsert of interest tags."""
    if not purchases:
        return
    now = clock.now()
    active = active_ids(conn, (p["customer_id"] for p in purchases))
    stats: dict[tuple[str, str], dict[str, Any]] = {}
    scores: dict[tuple[str, str], float] = {}
    events = []
    tagged: dict[tuple[str, ...], list[tuple[str, float]]] = {}  # a batch repeats its categories: slug them once
    for p in purchases:
        cid, when, amount = active[p["customer_id"]], utc_or_now(p.get("at"), clock), Decimal(p["amount"])
        row = stats.setdefault((cid, p["channel"]), {
            "customer_id": cid, "owner_id": cid, "channel": p["channel"], "orders_count": 0, "revenue": Decimal(0),
            "first_order_at": when, "last_order_at": when, "last_seen_at": when})
        row["orders_count"] += 1
        row["revenue"] += amount
        row["first_order_at"] = min(row["first_order_at"], when)
        row["last_order_at"] = row["last_seen_at"] = max(row["last_order_at"], when)
        categories = list(p.get("categories") or ())
        tags = tagged.get(tuple(categories))
        if tags is None:
            tags = tagged[tuple(categories)] = rules.interest_tags("order_placed", {"categories": categories})
        for tag, weight in tags:
            scores[(cid, tag)] = scores.get((cid, tag), 0.0) + rules.epoch_score(weight, min(when, now))
        events.append((cid, cid, "order_placed", p["channel"], when, "commerce",
                       {"order_id": p.get("order_id"), "amount": str(amount), "currency": p.get("currency"),
                        "categories": categories}))
    _bump_stats(conn, [stats[key] for key in sorted(stats)])
    copy_rows(conn, customer_events, _EVENT_COLUMNS, events)
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
    cid = active_id(conn, customer_id)
    conn.execute(customer_credit.insert(), dict(customer_id=cid, owner_id=cid, amount=Decimal(amount),
                                                 currency=currency, reason=reason, at=clock.now()))


def spend_store_credit(conn: Connection, clock: Clock, customer_id: str, amount: Decimal, currency: str, *,
                       reason: str | None = None) -> Decimal:
    """Take `amount` from the wallet, never below zero; returns the balance left. The profile row is the
    lock (merges lock it too), so two tills spending at once cannot both succeed on the same money."""
    cid = active_id(conn, customer_id, "customer_id")
    lock_profiles(conn, [cid], exclusive=True)
    balance = store_credit_balance(conn, cid, currency)
    if Decimal(amount) > balance:
        raise errors.insufficient_store_credit(balance, Decimal(amount), currency)
    conn.execute(customer_credit.insert(), dict(customer_id=cid, owner_id=cid, amount=-Decimal(amount),
                                                 currency=currency, reason=reason, at=clock.now()))
    return balance - Decimal(amount)


def set_tag(conn: Connection, clock: Clock, customer_id: str, tag: str) -> str:
    cid = active_id(conn, customer_id)
    stmt = insert_into(conn, customer_tags).on_conflict_do_nothing(
        index_elements=["customer_id", "owner_id", "tag", "source"])
    inserted = conn.execute(stmt.values(customer_id=cid, owner_id=cid, tag=tag, source="manual", score=None,
                                        updated_at=clock.now())).rowcount
    if inserted:
        emit(conn, clock, "customer.updated", {"customer_id": cid, "changed": ["tags"], "tag": tag})
    return cid


def remove_tag(conn: Connection, clock: Clock, customer_id: str, tag: str) -> str:
    cid = active_id(conn, customer_id)
    removed = conn.execute(customer_tags.delete().where(
        customer_tags.c.customer_id == cid, customer_tags.c.tag == tag, customer_tags.c.source == "manual")).rowcount
    if not removed:
        raise errors.tag_not_found(tag)
    emit(conn, clock, "customer.updated", {"customer_id": cid, "changed": ["tags"], "tag": tag})
    return cid

