"""The abandoned-cart scan (a worker job): per channel with a `cart_abandoned_after` threshold, the open carts with
a known customer and items whose threshold passed since the last scan are announced as `cart.abandoned` — each idle
period once, as the scan's mark only moves forward."""

from __future__ import annotations

from datetime import datetime, timedelta
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

SCAN_BATCH = 1000
EPOCH = datetime(2000, 1, 1).astimezone()


def _upsert(conn: Connection, table: sa.Table, values: dict[str, Any], keys: list[str]) -> None:
    insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table).values(**values)
    conn.execute(insert.on_conflict_do_update(index_elements=keys,
                                              set_={k: v for k, v in values.items() if k not in keys}))


def scan(conn: Connection, clock: Clock, limit: int = SCAN_BATCH) -> int:
    """Announce newly idle carts; returns how many (a full batch makes the worker run it again)."""
    now = clock.now()
    announced = 0
    channels = [c for c in catalog_queries.list_channels(conn, limit=500, cursor=None)["items"]
                if c.get("cart_abandoned_after")]
    for channel in channels:
        upto = now - timedelta(seconds=channel["cart_abandoned_after"])
        mark = conn.execute(sa.select(automation_cart_scans.c.scanned_until)
                            .where(automation_cart_scans.c.channel == channel["code"])).scalar()
        after = as_utc(mark) if mark is not None else EPOCH
        if upto <= after:
            continue
        idle = commerce_queries.idle_carts(conn, channel["code"], after=after, upto=upto, limit=limit - announced)
        events = []
        for cart in idle:
            full = commerce_queries.get_cart(conn, cart["id"])
            products = catalog_queries.pricing_facts(conn, channel["code"], cart["customer_id"],
                                                     [line["sku"] for line in full["lines"]]).products
            names = {line["sku"]: (products.get(line["sku"]) or {}).get("name") or line["sku"]
                     for line in full["lines"]}
            events.append(("cart.abandoned", jsonable({
                "id": cart["id"], "channel": channel["code"], "customer_id": cart["customer_id"],
                "idle_since": cart["updated_at"].isoformat(), "currency": full["currency"],
                "subtotal": full["subtotal"],
                "lines": [{"sku": line["sku"], "name": names[line["sku"]], "quantity": line["quantity"],
                           "unit_price": line["unit_price"]} for line in full["lines"]]})))
            _upsert(conn, automation_abandoned, {"customer_id": cart["customer_id"], "cart_id": cart["id"],
                                                 "at": now}, ["customer_id"])
        if events:
            emit_many(conn, clock, events)
        announced += len(idle)
        full_batch = announced >= limit
        new_mark = idle[-1]["updated_at"] if full_batch and idle else upto
        _upsert(conn, automation_cart_scans, {"channel": channel["code"], "scanned_until": new_mark}, ["channel"])
        if full_batch:
            break
    return announced
