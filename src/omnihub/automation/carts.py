"""The abandoned-cart scan (a worker job): per channel with a `cart_abandoned_after` threshold, the open carts with
a known customer and items whose threshold passed since the last scan are announced as `cart.abandoned` — each idle
period once, as the scan's mark only moves forward."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from omnihub.automation.models import automation_abandoned, automation_cart_scans
from omnihub.catalog import queries as catalog_queries
from omnihub.commerce import queries as commerce_queries
from omnihub.core.clock import Clock, as_utc
from omnihub.core.events import emit_many
from omnihub.core.jsonable import jsonable
from omnihub.core.money import format_amount

SCAN_BATCH = 1000
EPOCH = datetime(2000, 1, 1).astimezone()


def _upsert(conn: Connection, table: sa.Table, values: dict[str, Any], keys: list[str]) -> None:
    insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table).values(**values)
    conn.execute(insert.on_conflict_do_update(index_elements=keys,
                                              set_={k: v for k, v in values.items() if k not in keys}))


def _announce(conn: Connection, clock: Clock, channel: dict[str, Any], idle: list[dict[str, Any]]) -> None:
    """One `cart.abandoned` per cart, with its lines (names and the prices it showed), written together; and each
    person's last abandonment (what "a store visit within N days of abandoning" reads)."""
    lines = commerce_queries.lines_of_carts(conn, [cart["id"] for cart in idle])
    skus = sorted({line["sku"] for found in lines.values() for line in found})
    products = catalog_queries.pricing_facts(conn, channel["code"], None, skus).products if skus else {}
    currency = channel["currency"]
    events = []
    for cart in idle:
        mine = lines[cart["id"]]
        events.append(("cart.abandoned", jsonable({
            "id": cart["id"], "channel": channel["code"], "customer_id": cart["customer_id"],
            "idle_since": cart["updated_at"].isoformat(), "currency": currency,
            "subtotal": format_amount(sum((line["unit_price"] * line["quantity"] for line in mine), Decimal(0)),
                                      currency),
            "lines": [{"sku": line["sku"], "name": (products.get(line["sku"]) or {}).get("name") or line["sku"],
                       "quantity": line["quantity"], "unit_price": format_amount(line["unit_price"], currency)}
                      for line in mine]})))
    emit_many(conn, clock, events)
    latest: dict[str, dict[str, Any]] = {}
    for cart in idle:
        latest[cart["customer_id"]] = cart
    now = clock.now()
    if conn.dialect.name == "postgresql":  # one statement over one JSON document, not a compiled VALUES list
        conn.execute(_ABANDONED_PG, {"at": now, "rows": json.dumps(
            [[customer_id, cart["id"]] for customer_id, cart in sorted(latest.items())])})
        return
    for customer_id, cart in sorted(latest.items()):
        _upsert(conn, automation_abandoned, {"customer_id": customer_id, "cart_id": cart["id"], "at": now},
                ["customer_id"])


_ABANDONED_PG = sa.text(
    "INSERT INTO automation_abandoned (customer_id, cart_id, at) "
    "SELECT r->>0, r->>1, :at FROM jsonb_array_elements(CAST(:rows AS jsonb)) AS x(r) "
    "ON CONFLICT (customer_id) DO UPDATE SET cart_id = EXCLUDED.cart_id, at = EXCLUDED.at")


def scan(conn: Connection, clock: Clock, limit: int = SCAN_BATCH) -> int:
    """Announce newly idle carts; returns how many (a full batch makes the worker run it again)."""
    now = clock.now()
    announced = 0
    channels = [c for c in catalog_queries.list_channels(conn, limit=500, cursor=None)["items"]
                if c.get("cart_abandoned_after")]
    for channel in channels:
        upto = now - timedelta(seconds=channel["cart_abandoned_after"])
        mark = conn.execute(sa.select(automation_cart_scans.c.scanned_until, automation_cart_scans.c.scanned_id)
                            .where(automation_cart_scans.c.channel == channel["code"])).first()
        after, after_id = (as_utc(mark.scanned_until), mark.scanned_id) if mark is not None else (EPOCH, "")
        if upto < after:
            continue
        wanted = limit - announced
        idle = commerce_queries.idle_carts(conn, channel["code"], after=after, after_id=after_id, upto=upto,
                                           limit=wanted)
        full_batch = len(idle) >= wanted
        # a full batch leaves the mark on its last cart (the next pass goes on from there); else everything up to
        # `upto` was seen
        new_mark = (idle[-1]["updated_at"], idle[-1]["id"]) if full_batch and idle else (upto, "~")
        if idle:
            _announce(conn, clock, channel, idle)
        announced += len(idle)
        _upsert(conn, automation_cart_scans, {"channel": channel["code"], "scanned_until": new_mark[0],
                                              "scanned_id": new_mark[1]}, ["channel"])
        if full_batch:
            break
    return announced
