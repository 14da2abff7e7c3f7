"""`imported.prepare_imported_orders` + `write_imported_orders` for a columnar import: the orders and lines are
DuckDB relations, their rows (orders, lines, status history, `order.imported` events, the customers' purchases)
are shaped in SQL, written by DuckDB as CSV files and streamed to PostgreSQL by COPY — no Python per order or line.

Same rows as the row path: amounts summed exactly (DECIMAL), a line's unit price computed per distinct
(total, discount, unit price, quantity) by the row path's own arithmetic, totals as `str(Decimal)` writes them."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

from duckdb import sqltypes
from sqlalchemy.engine import Connection

from omnihub.commerce.imported import (
    _FULFILMENT,
    _HISTORY_COLUMNS,
    _LINE_COLUMNS,
    _NO_PROMOTIONS,
    _ORDER_COLUMNS,
    IMPORT_ACTOR,
)
from omnihub.commerce.models import order_history, order_lines, orders
from omnihub.commerce.rules import STATUSES
from omnihub.core.bulk import copy_csv_file
from omnihub.core.clock import Clock
from omnihub.core.db import block_id_sql
from omnihub.core.events import OUTBOX_CSV_COLUMNS, emit_csv_file
from omnihub.customers.activity_columnar import build_purchases

SCALE = 6  # places the sums are exact to; past it (or a value in exponent notation) the row path's writers write
# amounts up to 8 integer digits, orders up to 999 lines: every sum fits DECIMAL(18, 6), which DuckDB computes on
# 64-bit integers (DECIMAL(38, 6) is 128-bit: its arithmetic and text conversion cost several times more)
INTEGER_DIGITS = 8
MAX_LINES = 999
_DEC = f"DECIMAL(18, {SCALE})"
_CENTS = Decimal("0.0001")
_DELIVERED = ("delivered", "collected", "shipped")


class Load(NamedTuple):
    """A batch's writes, in one transaction: `rows` appends the batch's own rows (nothing another batch locks),
    `totals` then adds to rows batches share (customer stats and tags) — last, so their locks are held briefly."""
    rows: Callable[[Connection], None]
    totals: Callable[[Connection], None]


def _sql(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def covers(duck: Any, lines: str) -> bool:
    """Whether every amount of relation `lines` (`total`, `discount`, `unit_price` as `str(Decimal)` text) can be
    summed here exactly and written back as the row path's `str(Decimal)` would (`INTEGER_DIGITS`, `MAX_LINES`)."""
    bad = duck.execute(
        f"SELECT count(*) FROM {lines} WHERE " + " OR ".join(
            f"({c} IS NOT NULL AND NOT regexp_full_match({c}, '-?[0-9]{{1,{INTEGER_DIGITS}}}(\\.[0-9]{{1,{SCALE}}})?'))"
            for c in ("total", "discount", "unit_price"))).fetchone()
    longest = duck.execute(f"SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM {lines} GROUP BY rank)"
                           ).fetchone()
    return bad is not None and bad[0] == 0 and longest is not None and longest[0] <= MAX_LINES


def _unit_price(total: str, discount: str | None, unit: str | None, quantity: int) -> str:
    """`prepare_imported_orders`' unit price, for one distinct combination."""
    t, d = Decimal(total), Decimal(discount or 0)
    price = Decimal(unit) if unit is not None else ((t + d) / quantity if quantity else t)
    return str(price.quantize(_CENTS))


def build_imported_orders(duck: Any, conn: Connection, clock: Clock, *, orders_in: str, lines_in: str,
                          event_block: str, channel: str, prices_include_tax: bool, source: str,
                          folder: Path) -> Load:
    """The files that write the orders of relation `orders_in` (`rank`, `id`, `number`, `placed` ISO text UTC,
    `customer_id` or NULL, `currency`, `status` or NULL) with their lines from `lines_in` (`rank`, `line_no`, `sku`,
    `name`, `category`, `quantity`, `total`, `unit_price`, `discount`; amounts as text, `covers` true), built in
    `folder` (`conn` only reads), and the functions that load them in a connection's transaction (`Load`): a caller
    loads one batch while it builds the next. Order `rank`'s event gets id `rank` of `event_block` (`new_id_block`)."""
    now = clock.now().isoformat()
    note = f"imported from {source}"[:300]
    try:
        duck.create_function("_unit_price", _unit_price, [sqltypes.VARCHAR, sqltypes.VARCHAR, sqltypes.VARCHAR,
                                                          sqltypes.BIGINT], sqltypes.VARCHAR,
                             null_handling="special", side_effects=False)
    except Exception as exc:  # registered by an earlier chunk on this connection
        if "already" not in str(exc):
            raise
    dec = _DEC
    duck.execute(
        "CREATE OR REPLACE TEMP TABLE _units AS SELECT total, discount, unit_price, quantity, "
        "_unit_price(total, discount, unit_price, quantity) AS unit FROM "
        f"(SELECT DISTINCT total, discount, unit_price, quantity FROM {lines_in})")
    duck.execute(
        f"CREATE OR REPLACE TEMP TABLE _sums AS SELECT rank, sum(total::{dec} + coalesce(discount, '0')::{dec})::{dec} "
        f"AS subtotal, sum(coalesce(discount, '0')::{dec})::{dec} AS discount, "
        "greatest(0, max(CASE WHEN contains(total, '.') THEN length(split_part(total, '.', 2)) ELSE 0 END), "
        f"max(CASE WHEN discount::{dec} <> 0 AND contains(discount, '.') THEN length(split_part(discount, '.', 2)) "
        "ELSE 0 END)) AS places, "
        "list(DISTINCT category) FILTER (WHERE category IS NOT NULL AND category <> '') AS categories "
        f"FROM {lines_in} GROUP BY rank")
    # the order: status defaulted, totals and their `str(Decimal)` (the sum's places are its terms' most)
    duck.execute(
        "CREATE OR REPLACE TEMP TABLE _o AS SELECT o.rank, o.id, o.number, o.customer_id, o.placed, "
        "o.currency, coalesce(nullif(o.status, ''), 'delivered') AS status, s.subtotal, s.discount, "
        "s.subtotal - s.discount AS total, "
        f"left(CAST(s.subtotal - s.discount AS VARCHAR), length(CAST(s.subtotal - s.discount AS VARCHAR)) - {SCALE} "
        "+ s.places - CASE WHEN s.places = 0 THEN 1 ELSE 0 END) AS total_text, "
        "list_sort(coalesce(s.categories, []::VARCHAR[])) AS categories "
        f"FROM {orders_in} o JOIN _sums s USING (rank)")
    bad = duck.execute("SELECT count(*) FROM _o WHERE status NOT IN (SELECT unnest(?))", [list(STATUSES)]).fetchone()
    if bad is None or bad[0]:
        raise ValueError("an order status is not an order status")  # the caller sends such orders elsewhere
    tax = "true" if prices_include_tax else "false"
    fulfilment, sourcing, promotions = (json.dumps(v) for v in (_FULFILMENT, {"imported": source}, _NO_PROMOTIONS))
    written = folder / "orders.csv"
    duck.execute(
        f"COPY (SELECT id, number, {_sql(channel)}, customer_id, customer_id, status, 'paid', currency, subtotal, "
        f"discount, 0, 0, total, {tax}, 0, 0, {_sql(fulfilment)}, {_sql(sourcing)}, {_sql(promotions)}, placed, "
        f"placed FROM _o ORDER BY rank) TO '{written}' (HEADER false)")
    written = folder / "lines.csv"
    duck.execute(
        f"COPY (SELECT o.id, l.line_no, l.sku, coalesce(nullif(l.name, ''), l.sku), coalesce(l.category, ''), "
        "l.quantity, u.unit, coalesce(l.discount, '0'), 0, 0, l.total, NULL, "
        f"CASE WHEN o.status IN {tuple(_DELIVERED)} THEN l.quantity ELSE 0 END, 0 "
        f"FROM {lines_in} l JOIN _o o USING (rank) JOIN _units u ON u.total = l.total "
        "AND u.quantity = l.quantity AND u.discount IS NOT DISTINCT FROM l.discount "
        "AND u.unit_price IS NOT DISTINCT FROM l.unit_price ORDER BY l.rank, l.line_no) "
        f"TO '{written}' (HEADER false)")
    written = folder / "history.csv"
    duck.execute(f"COPY (SELECT id, NULL, status, {_sql(IMPORT_ACTOR)}, {_sql(note)}, {_sql(now)} FROM _o "
                 f"ORDER BY rank) TO '{written}' (HEADER false)")
    duck.execute(
        f"CREATE OR REPLACE TEMP VIEW _purchases AS SELECT rank, customer_id, {_sql(channel)} AS channel, "
        "total AS amount, total_text AS amount_text, placed AS occurred, id AS order_id, currency, categories FROM _o "
        "WHERE customer_id IS NOT NULL")
    timeline, totals = build_purchases(duck, conn, clock, "_purchases", folder)
    written = folder / "events.csv"
    event_id = block_id_sql(event_block, "rank")
    assert len(OUTBOX_CSV_COLUMNS) == 4
    duck.execute(
        f"COPY (SELECT {event_id}, 'order.imported', {_sql(now)}, json_object('id', id, 'number', number, "
        f"'channel', {_sql(channel)}, 'customer_id', customer_id, 'placed_at', placed, 'currency', currency, "
        f"'total', total_text, 'status', status, 'source', {_sql(source)}) FROM _o ORDER BY rank) "
        f"TO '{written}' (HEADER false)")

    def rows(conn: Connection) -> None:
        copy_csv_file(conn, orders, _ORDER_COLUMNS, folder / "orders.csv")
        copy_csv_file(conn, order_lines, _LINE_COLUMNS, folder / "lines.csv")
        copy_csv_file(conn, order_history, _HISTORY_COLUMNS, folder / "history.csv")
        timeline(conn)
        emit_csv_file(conn, folder / "events.csv")
    return Load(rows, totals)



