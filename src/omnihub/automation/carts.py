"""The abandoned-cart scan (a worker job): per channel with a `cart_abandoned_after` threshold, the open carts with
a known customer and items whose threshold passed since the last scan are announced as `cart.abandoned` — each idle
period once, as the scan's mark only moves forward (and, on PostgreSQL, is locked while a scan moves it).

Set-based: a page of carts is keyset-paged off `ix_carts_idle` (channel, updated_at, id; open carts of a known
customer) and announced together — on PostgreSQL as one statement that builds the events in the database."""

from __future__ import annotations

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
from omnihub.core.db import new_id_block
from omnihub.core.events import emit_many, outbox_insert_pg
from omnihub.core.jsonable import jsonable
from omnihub.core.money import format_amount, minor_units

SCAN_BATCH = 5000
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
    for customer_id, cart in sorted(latest.items()):
        _upsert(conn, automation_abandoned, {"customer_id": customer_id, "cart_id": cart["id"], "at": now},
                ["customer_id"])


def _money_sql(amount: str) -> str:
    """`format_amount` in SQL, as text: rounded to the currency's minor units (`:exp`), a tie to the even digit
    (`:scale` is 10 ** exp; `round` alone would take a tie away from zero)."""
    return (f"(CASE WHEN mod(abs({amount}) * CAST(:scale AS numeric), 2) = 0.5 THEN trunc({amount}, :exp) "
            f"ELSE round({amount}, :exp) END)::text")


def _isoformat_sql(at: str) -> str:
    """`datetime.isoformat()` of a UTC timestamp in SQL (microseconds only when there are some): the run's trigger
    key carries it, so both paths must spell it alike."""
    utc = f"({at} AT TIME ZONE 'UTC')"
    return (f"to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN date_trunc('second', {at}) = {at} "
            f"THEN '' ELSE to_char({utc}, '.US') END || '+00:00'")


# Event ids: the block from `new_id_block` and the cart's place in the page as 6 Crockford characters.
_EVENT_ID_SQL = "CAST(:ids AS text) || " + " || ".join(
    f"substr('0123456789abcdefghjkmnpqrstvwxyz', ((page.n >> {5 * k}) & 31)::int + 1, 1)" for k in range(5, -1, -1))

_EVENTS_SQL = f"""
    SELECT {_EVENT_ID_SQL}, 'cart.abandoned', :now,
           jsonb_build_object('id', page.id, 'channel', CAST(:channel AS text), 'customer_id', page.customer_id,
                              'idle_since', {_isoformat_sql("page.updated_at")}, 'currency', CAST(:currency AS text),
                              'subtotal', {_money_sql("lines.subtotal")}, 'lines', lines.lines)
    FROM page JOIN lines ON lines.cart_id = page.id
    ORDER BY page.n"""

# PostgreSQL: one page of the scan as one statement. The page comes off `ix_carts_idle` (open carts of a known
# customer by last touch, keyset-paged on (updated_at, id), skipping carts without lines); the page's lines (by
# their primary key) and product names are folded into each `cart.abandoned` document by the database; the events
# are inserted in cart order and each person's last abandonment upserted; the statement answers the page's size
# and last cart (the scan's next mark).
# It reads commerce's carts and lines and catalog's product names, and writes only the outbox and this room's table.
_SCAN_PAGE_PG = sa.text(f"""
WITH page AS MATERIALIZED (
    SELECT c.id, c.customer_id, c.updated_at, row_number() OVER (ORDER BY c.updated_at, c.id) AS n
    FROM carts c CROSS JOIN LATERAL (SELECT 1 FROM cart_lines l WHERE l.cart_id = c.id LIMIT 1) AS has_lines
    WHERE c.channel_code = :channel AND c.status = 'open' AND c.customer_id IS NOT NULL
      AND (c.updated_at, c.id) > (:after, CAST(:after_id AS text)) AND c.updated_at <= :upto
    ORDER BY c.updated_at, c.id
    LIMIT :limit
), page_lines AS MATERIALIZED (
    SELECT * FROM cart_lines WHERE cart_id = ANY (ARRAY(SELECT id FROM page))
), lines AS (
    SELECT l.cart_id,
           jsonb_agg(jsonb_build_object('sku', l.sku, 'name', coalesce(nullif(p.name, ''), l.sku),
                                        'quantity', l.quantity, 'unit_price', {_money_sql("l.unit_price")})
                     ORDER BY l.position) AS lines,
           sum(l.unit_price * l.quantity) AS subtotal
    FROM page_lines l LEFT JOIN products p ON p.sku = l.sku
    GROUP BY l.cart_id
), events AS (
    {outbox_insert_pg(_EVENTS_SQL)}
), latest AS (
    INSERT INTO automation_abandoned (customer_id, cart_id, at)
    SELECT DISTINCT ON (customer_id) customer_id, id, :now FROM page ORDER BY customer_id, n DESC
    ON CONFLICT (customer_id) DO UPDATE SET cart_id = EXCLUDED.cart_id, at = EXCLUDED.at
)
SELECT n, updated_at, id FROM page ORDER BY n DESC LIMIT 1
""")


def _mark(conn: Connection, channel: str) -> tuple[datetime, str]:
    """Where the channel's scan stopped. On PostgreSQL the mark's row is locked for the transaction: a second
    scan running at once waits here and then starts after what the first announced (never the same carts)."""
    marks = automation_cart_scans.c
    if conn.dialect.name == "postgresql":
        conn.execute(postgresql.insert(automation_cart_scans)
                     .values(channel=channel, scanned_until=EPOCH, scanned_id="").on_conflict_do_nothing())
        mark = conn.execute(sa.select(marks.scanned_until, marks.scanned_id).where(marks.channel == channel)
                            .with_for_update()).one()
    else:
        mark = conn.execute(sa.select(marks.scanned_until, marks.scanned_id).where(marks.channel == channel)).first()
    return (as_utc(mark.scanned_until), mark.scanned_id) if mark is not None else (EPOCH, "")


def _page_pg(conn: Connection, clock: Clock, channel: dict[str, Any], after: datetime, after_id: str,
             upto: datetime, limit: int) -> tuple[int, tuple[datetime, str] | None]:
    """PostgreSQL: announce one page in one statement; (carts announced, the last one's (updated_at, id))."""
    exp = minor_units(channel["currency"])
    conn.execute(sa.text("SET LOCAL jit = off"))  # compiling this statement costs more than running a page
    last = conn.execute(_SCAN_PAGE_PG, {
        "channel": channel["code"], "currency": channel["currency"], "exp": exp, "scale": Decimal(10) ** exp,
        "after": after, "after_id": after_id, "upto": upto, "limit": limit, "now": clock.now(),
        "ids": new_id_block("evt")}).first()
    return (0, None) if last is None else (int(last.n), (as_utc(last.updated_at), last.id))


def _page(conn: Connection, clock: Clock, channel: dict[str, Any], after: datetime, after_id: str,
          upto: datetime, limit: int) -> tuple[int, tuple[datetime, str] | None]:
    """Elsewhere (SQLite): read the page, then write its events and abandonments."""
    idle = commerce_queries.idle_carts(conn, channel["code"], after=after, after_id=after_id, upto=upto,
                                       limit=limit)
    if not idle:
        return 0, None
    _announce(conn, clock, channel, idle)
    return len(idle), (idle[-1]["updated_at"], idle[-1]["id"])


def scan(conn: Connection, clock: Clock, limit: int = SCAN_BATCH) -> int:
    """Announce newly idle carts, a page at a time; returns how many (a full page makes the worker run it again)."""
    now = clock.now()
    announced = 0
    channels = [c for c in catalog_queries.list_channels(conn, limit=500, cursor=None)["items"]
                if c.get("cart_abandoned_after")]
    for channel in channels:
        upto = now - timedelta(seconds=channel["cart_abandoned_after"])
        after, after_id = _mark(conn, channel["code"])
        if upto < after:
            continue
        wanted = limit - announced
        found, last = (_page_pg if conn.dialect.name == "postgresql" else _page)(
            conn, clock, channel, after, after_id, upto, wanted)
        full_batch = found >= wanted
        # a full page leaves the mark on its last cart (the next pass goes on from there); else everything up to
        # `upto` was seen
        new_mark = last if full_batch and last is not None else (upto, "~")
        announced += found
        _upsert(conn, automation_cart_scans, {"channel": channel["code"], "scanned_until": new_mark[0],
                                              "scanned_id": new_mark[1]}, ["channel"])
        if full_batch:
            break
    return announced
