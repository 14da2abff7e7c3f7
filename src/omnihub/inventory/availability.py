"""The availability projection: committed stock and channel changes become `availability.changed`, once per
real change."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.catalog import queries as catalog
from omnihub.core.clock import Clock
from omnihub.core.db import dialect_insert
from omnihub.core.events import Event, emit_many
from omnihub.inventory import queries
from omnihub.inventory.models import channel_availability


class AvailabilityProjector:
    """Turns committed stock and channel changes into `availability.changed`, once per real change.

    It runs in the dispatcher's transaction, after the change committed, so it always reads the latest
    committed stock: the last event a channel receives for a SKU carries the final figure."""

    name = "availability"

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def handle(self, conn: Connection, events: Sequence[Event]) -> None:
        skus_by_location: dict[str, set[str]] = {}
        whole_channels: set[str] = set()
        repriced: set[tuple[str, str]] = set()  # a product is available only where priced: a new price counts
        for event in events:
            if event.type == "stock.changed":
                skus_by_location.setdefault(event.data["location"], set()).add(event.data["sku"])
            elif event.type in ("channel.created", "channel.updated"):
                whole_channels.add(event.data["code"])
            elif event.type == "price.changed":
                repriced.update((event.data["channel"], p["sku"]) for p in event.data["prices"])
        pairs: set[tuple[str, str]] = set()
        channels: dict[str, dict[str, Any]] = {}
        if skus_by_location:
            channels = catalog.channels_fulfilled_by(conn, skus_by_location)
            for code, chan in channels.items():
                for loc in chan["locations"]:
                    pairs.update((code, sku) for sku in skus_by_location.get(loc, ()))
        for code in whole_channels:
            chan = channels[code] = catalog.get_channel(conn, code)
            pairs.update((code, sku) for sku in queries.skus_at(conn, chan["locations"]))
        if repriced:  # only products stocked for the channel: a price alone changes no figure worth publishing
            for code, _ in repriced:
                if code not in channels:
                    channels[code] = catalog.get_channel(conn, code)
            pairs.update(queries.stocked_pairs(conn, channels, repriced))
        if pairs:
            publish_availability(conn, self.clock, sorted(pairs), list(channels.values()))


def publish_availability(conn: Connection, clock: Clock, pairs: Sequence[tuple[str, str]],
                         channels: Sequence[dict[str, Any]]) -> int:
    """Recompute (channel, SKU) availability and emit `availability.changed` where it moved. `channels`: every
    channel named in `pairs`, as catalog reads them."""
    now = clock.now()
    published = _touch_and_lock_published(conn, now, pairs)
    views = queries.availability_views(conn, channels, pairs)
    moved: list[tuple[str, str, int]] = []
    events: list[tuple[str, dict[str, Any]]] = []
    for pair in pairs:
        view = views[pair]
        previous = published.get(pair, -1)
        if view["available"] == previous:
            continue
        moved.append((pair[0], pair[1], view["available"]))
        events.append(("availability.changed", {**view, "previous": None if previous < 0 else previous}))
    if moved:
        _write_published(conn, now, moved)
        emit_many(conn, clock, events)
    return len(events)


# PostgreSQL: the projector's batch as one statement each (arrays), instead of a row-by-row executemany.
# The pairs go as one JSON document ([[channel, sku], ...]): the driver adapts array parameters element by
# element in Python, a JSON text in one go (a projector batch has hundreds of pairs).
_TOUCH_PUBLISHED_PG = sa.text(
    "INSERT INTO channel_availability (channel_code, sku, available, updated_at) "
    "SELECT p->>0, p->>1, -1, :now FROM jsonb_array_elements(CAST(:pairs AS jsonb)) AS t(p) "
    "ON CONFLICT DO NOTHING")
_LOCK_PUBLISHED_PG = sa.text(
    "SELECT a.channel_code, a.sku, a.available FROM channel_availability a "
    "JOIN jsonb_array_elements(CAST(:pairs AS jsonb)) AS t(p) "
    "ON a.channel_code = t.p->>0 AND a.sku = t.p->>1 ORDER BY a.channel_code, a.sku FOR UPDATE OF a")
_WRITE_PUBLISHED_PG = sa.text(
    "UPDATE channel_availability a SET available = (t.p->>2)::integer, updated_at = :now "
    "FROM jsonb_array_elements(CAST(:figures AS jsonb)) AS t(p) "
    "WHERE a.channel_code = t.p->>0 AND a.sku = t.p->>1")


def _touch_and_lock_published(conn: Connection, now: Any, pairs: Sequence[tuple[str, str]]
                              ) -> dict[tuple[str, str], int]:
    """Make sure every pair has a published row, then lock them: concurrent projectors for one pair take turns.
    Returns the figure last published per pair (-1: never)."""
    if conn.dialect.name == "postgresql":
        document = json.dumps([[c, s] for c, s in pairs])
        conn.execute(_TOUCH_PUBLISHED_PG, {"pairs": document, "now": now})
        return {(r.channel_code, r.sku): r.available
                for r in conn.execute(_LOCK_PUBLISHED_PG, {"pairs": document})}
    ca = channel_availability.c
    insert = dialect_insert(conn)
    conn.execute(insert(channel_availability).on_conflict_do_nothing(),
                 [{"channel_code": c, "sku": s, "available": -1, "updated_at": now} for c, s in pairs])
    published: dict[tuple[str, str], int] = {}
    for chunk in _chunks(list(pairs), 400):
        rows = conn.execute(sa.select(ca.channel_code, ca.sku, ca.available).where(
            sa.tuple_(ca.channel_code, ca.sku).in_(chunk)))
        published.update({(r.channel_code, r.sku): r.available for r in rows})
    return published


def _write_published(conn: Connection, now: Any, moved: Sequence[tuple[str, str, int]]) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(_WRITE_PUBLISHED_PG, {"figures": json.dumps([[c, s, n] for c, s, n in moved]), "now": now})
        return
    conn.execute(_PUBLISH_AVAILABILITY, [{"b_channel": c, "b_sku": s, "b_available": n, "b_now": now}
                                         for c, s, n in moved])


_PUBLISH_AVAILABILITY = channel_availability.update().where(
    channel_availability.c.channel_code == sa.bindparam("b_channel"),
    channel_availability.c.sku == sa.bindparam("b_sku"),
).values(available=sa.bindparam("b_available"), updated_at=sa.bindparam("b_now"))


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]
