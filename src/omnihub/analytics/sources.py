"""What every figure is made of, in two layers.

*Raw* tables are the operational rows the figures need, already narrowed (one row per sold order with its net
units, first line's location, refunds and the channel of its cart; the behavioural events that open visits; NPS
answers; the stock ledger; stock levels; merges). Each has a full definition (DuckDB SQL over the attached
database, `{op}.table`) and, where a watermark is reliable, a *changes* query: plain SQL the source database runs
itself (PostgreSQL through `postgres_query`, so its indexes answer it) for the rows changed since the last copy.

*Derived* tables are DuckDB SQL over the raw ones (`{r_orders}`…) and over each other: sales with merges
followed, first/second/multichannel purchase per customer, purchase days, session starts, the ledger with each
level's validity, and — in the copy only — pre-aggregated tables (cohort cells, omnichannel totals).

Live mode (max-age 0) inlines every definition as a subquery over the attached database; copy mode keeps the raw
tables in DuckDB, updates them from the changes queries, and rebuilds the derived tables from that local copy
(sorted by time, so a period's query reads only the row groups of that period). See copy.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from omnihub.analytics import rules

if TYPE_CHECKING:
    from omnihub.analytics.engine import Engine


def in_list(values: tuple[str, ...] | list[str]) -> str:
    """A SQL list of string literals (values are validated codes; quotes are doubled anyway)."""
    return "(" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + ")"


SOLD = in_list(rules.SOLD_STATUSES)
VISITS = f"source = 'events' AND channel IS NOT NULL AND type NOT IN {in_list(rules.NOT_A_VISIT)}"
NPS = f"type = '{rules.NPS_EVENT}' AND source = 'events'"
FOREVER = "TIMESTAMP '9999-12-31 00:00:00'"  # the valid_to of a stock level's latest change


@dataclass(frozen=True)
class Raw:
    """One raw table. `full(e)` is DuckDB SQL over `{op}`; `changes(since)` is SQL for the source database over
    `{t}table` ({t} is empty on PostgreSQL, `{op}.` on SQLite), given the watermark; `shape` turns the changed rows
    (`{rows}`) into the raw table's columns. `mode`: "upsert" (replace the rows of the changed keys; a changed row
    that no longer belongs is dropped — `keep` says which belong), "append" (rows past an id watermark) or
    "replace" (a small table, read whole each time)."""

    full: Callable[[Engine], str]
    mode: Literal["upsert", "append", "replace"]
    changes: Callable[[str], str] | None = None
    shape: str = "SELECT * FROM {rows}"
    watermark: str = ""  # the raw column the next changes query starts from
    keep: str = "TRUE"


def _orders_full(e: Engine) -> str:
    return (
        "SELECT o.id, o.channel_code AS channel, o.currency, c.channel_code AS cart_channel, o.customer_id,"
        f" {e.timestamp('o.created_at')} AS sold_at, CAST(COALESCE(l.units, 0) AS BIGINT) AS units,"
        " COALESCE(o.pickup_location, l.location) AS location,"
        f" {e.money('o.total')} - COALESCE(r.refunded, 0) AS revenue, {e.timestamp('o.updated_at')} AS updated_at"
        " FROM {op}.orders o"
        " LEFT JOIN (SELECT order_id, SUM(quantity - returned) AS units,"
        " arg_min(location_code, line_no) AS location FROM {op}.order_lines GROUP BY order_id) l"
        " ON l.order_id = o.id"
        f" LEFT JOIN (SELECT order_id, SUM({e.money('refund_amount')}) AS refunded FROM {{op}}.returns"
        " GROUP BY order_id) r ON r.order_id = o.id"
        " LEFT JOIN {op}.carts c ON c.id = o.cart_id"
        f" WHERE o.status IN {SOLD}")


def _orders_changes(since: str) -> str:
    # Every status: an order that stopped being a sale (cancelled after payment) must leave the copy. Lines,
    # returns and the cart come with it: a return or a line change always moves the order's updated_at.
    return (
        "SELECT o.id, o.channel_code AS channel, o.currency, o.customer_id, o.created_at, o.updated_at, o.total,"
        f" o.pickup_location, CASE WHEN o.status IN {SOLD} THEN 1 ELSE 0 END AS sold,"
        " (SELECT c.channel_code FROM {t}carts c WHERE c.id = o.cart_id) AS cart_channel,"
        " (SELECT SUM(x.quantity - x.returned) FROM {t}order_lines x WHERE x.order_id = o.id) AS units,"
        " (SELECT x.location_code FROM {t}order_lines x WHERE x.order_id = o.id ORDER BY x.line_no LIMIT 1)"
        " AS first_location,"
        " (SELECT SUM(r.refund_amount) FROM {t}returns r WHERE r.order_id = o.id) AS refunded"
        f" FROM {{t}}orders o WHERE o.updated_at >= {since}")


ORDERS_SHAPE = (
    "SELECT id, channel, currency, cart_channel, customer_id, CAST(created_at AS TIMESTAMP) AS sold_at,"
    " CAST(COALESCE(units, 0) AS BIGINT) AS units, COALESCE(pickup_location, first_location) AS location,"
    " CAST(total AS DECIMAL(18,4)) - CAST(COALESCE(refunded, 0) AS DECIMAL(18,4)) AS revenue,"
    " CAST(updated_at AS TIMESTAMP) AS updated_at, sold FROM {rows}")


def _visits_full(e: Engine) -> str:
    return (f"SELECT id, customer_id, channel, {e.timestamp('occurred_at')} AS seen_at FROM {{op}}.customer_events"
            f" WHERE {VISITS}")


def _visits_changes(since: str) -> str:
    return f"SELECT id, customer_id, channel, occurred_at FROM {{t}}customer_events WHERE id > {since} AND {VISITS}"


def _nps_full(e: Engine) -> str:
    return (f"SELECT id, channel, CAST(properties AS VARCHAR) AS properties, occurred_at"
            f" FROM {{op}}.customer_events WHERE {NPS}")


def _nps_changes(since: str) -> str:
    return (f"SELECT id, channel, CAST(properties AS TEXT) AS properties, occurred_at FROM {{t}}customer_events"
            f" WHERE id > {since} AND {NPS}")


NPS_SHAPE = """
    SELECT id, channel, location, score, answered_at FROM (
      SELECT id, channel, json_extract_string(properties, '$.location') AS location,
             CAST(occurred_at AS TIMESTAMP) AS answered_at,
             TRY_CAST(COALESCE(json_extract_string(properties, '$.score'),
                               json_extract_string(properties, '$.nps')) AS DOUBLE) AS score
      FROM {rows}) a
    WHERE score IN (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)"""


def _ledger_full(e: Engine) -> str:
    at = e.timestamp('"at"')
    return (f"SELECT id, location_code, sku, kind, on_hand_delta, on_hand_after, {at} AS changed_at"
            " FROM {op}.stock_ledger")


def _ledger_changes(since: str) -> str:
    return ('SELECT id, location_code, sku, kind, on_hand_delta, on_hand_after, "at" FROM {t}stock_ledger'
            f" WHERE id > {since}")


RAW: dict[str, Raw] = {
    "r_orders": Raw(_orders_full, "upsert", _orders_changes, ORDERS_SHAPE, "updated_at", "sold = 1"),
    "r_visits": Raw(_visits_full, "append", _visits_changes,
                    "SELECT id, customer_id, channel, CAST(occurred_at AS TIMESTAMP) AS seen_at FROM {rows}", "id"),
    "r_nps": Raw(lambda e: NPS_SHAPE.replace("{rows}", f"({_nps_full(e)})"), "append", _nps_changes, NPS_SHAPE,
                 "id"),
    "r_ledger": Raw(_ledger_full, "append", _ledger_changes,
                    "SELECT id, location_code, sku, kind, on_hand_delta, on_hand_after,"
                    " CAST(\"at\" AS TIMESTAMP) AS changed_at FROM {rows}", "id"),
    "r_levels": Raw(lambda e: "SELECT location_code, sku, on_hand FROM {op}.stock_levels", "replace"),
    "r_aliases": Raw(lambda e: "SELECT merged_id, survivor_id FROM {op}.customer_aliases", "replace"),
}


# ---- derived ---------------------------------------------------------------------------------------------------

SALES = """
    SELECT o.id, o.channel, o.currency, o.cart_channel, COALESCE(a.survivor_id, o.customer_id) AS customer,
           o.sold_at, o.units, o.location, o.revenue
    FROM {r_orders} o LEFT JOIN {r_aliases} a ON a.merged_id = o.customer_id"""

# One row per customer: when they first bought, when a second time, and when first in a second channel — so
# "new", "repeat" and "omnichannel" up to any moment are comparisons, not scans.
BUYERS = """
    WITH ranked AS (SELECT customer, channel, sold_at,
                           ROW_NUMBER() OVER (PARTITION BY customer ORDER BY sold_at, id) AS n
                    FROM {sales} WHERE customer IS NOT NULL),
    firsts AS (SELECT customer, MIN(sold_at) FILTER (WHERE n = 1) AS first_at,
                      MIN(sold_at) FILTER (WHERE n = 2) AS second_at, arg_min(channel, n) AS first_channel
               FROM ranked GROUP BY customer),
    multi AS (SELECT r.customer, MIN(r.sold_at) AS multichannel_at FROM ranked r
              JOIN firsts f ON f.customer = r.customer WHERE r.channel <> f.first_channel GROUP BY r.customer)
    SELECT f.customer, f.first_at, f.second_at, m.multichannel_at
    FROM firsts f LEFT JOIN multi m ON m.customer = f.customer"""

# Per currency, customer and UTC day with a sale: the day's revenue and orders (the CLV models count purchases
# per day).
PURCHASE_DAYS = """SELECT currency, customer, CAST(sold_at AS DATE) AS day, SUM(revenue) AS v, COUNT(*) AS n
                   FROM {sales} s WHERE customer IS NOT NULL GROUP BY ALL"""

# The first event of every session: a customer's run of behavioural events in one channel with no gap over 30
# minutes (answers and message reactions are not visits).
SESSION_STARTS = f"""
    SELECT channel, seen_at FROM (
      SELECT channel, seen_at, LAG(seen_at) OVER (PARTITION BY customer, channel ORDER BY seen_at) AS prev
      FROM (SELECT COALESCE(a.survivor_id, v.customer_id) AS customer, v.channel, v.seen_at
            FROM {{r_visits}} v LEFT JOIN {{r_aliases}} a ON a.merged_id = v.customer_id) x
    ) y WHERE prev IS NULL OR seen_at - prev > INTERVAL {rules.SESSION_GAP_MINUTES} MINUTE"""

NPS_ANSWERS = "SELECT channel, location, score, answered_at FROM {r_nps}"

# Every stock change with the on-hand it left, valid until the level's next change (FOREVER for the latest).
LEDGER = f"""
    SELECT location_code, sku, kind, on_hand_delta, on_hand_after, changed_at AS valid_from,
           COALESCE(LEAD(changed_at) OVER (PARTITION BY location_code, sku ORDER BY id), {FOREVER}) AS valid_to
    FROM {{r_ledger}}"""

LEVELS = "SELECT location_code, sku, on_hand FROM {r_levels}"

DERIVED: dict[str, str] = {
    "sales": SALES, "buyers": BUYERS, "purchase_days": PURCHASE_DAYS, "session_starts": SESSION_STARTS,
    "nps_answers": NPS_ANSWERS, "ledger": LEDGER, "levels": LEVELS}

# How the copy stores them: sorted by time, so a period's filter skips whole row groups (DuckDB's min/max zone
# maps); the ledger by the end of each validity (a period needs the segments ending after its start).
ORDER_BY = {"sales": "sold_at", "session_starts": "seen_at", "nps_answers": "answered_at", "ledger": "valid_to",
            "purchase_days": "currency, customer, day"}

# Pre-aggregated tables, copy only: the answer of an all-history report when the period ends after every copied
# sale (the dashboard's default). Each report falls back to the derived tables otherwise.
COHORT_CELLS = """
    WITH s AS (SELECT customer, channel, CAST(date_trunc('month', sold_at) AS DATE) AS m,
                      CAST(date_trunc('year', sold_at) AS DATE) AS y FROM {sales} WHERE customer IS NOT NULL),
    per AS (SELECT 'month' AS unit, '' AS channel, customer, m AS p FROM s GROUP BY ALL
            UNION ALL SELECT 'year', '', customer, y FROM s GROUP BY ALL
            UNION ALL SELECT 'month', channel, customer, m FROM s GROUP BY ALL
            UNION ALL SELECT 'year', channel, customer, y FROM s GROUP BY ALL),
    f AS (SELECT unit, channel, customer, MIN(p) AS cohort FROM per GROUP BY ALL)
    SELECT per.unit, per.channel, f.cohort, per.p, COUNT(*) AS customers
    FROM per JOIN f USING (unit, channel, customer) GROUP BY ALL"""

OMNI_TOTALS = """
    SELECT s.currency, CASE WHEN b.multichannel_at IS NOT NULL THEN '2+' ELSE '1' END AS grp,
           COUNT(DISTINCT s.customer) AS customers, COUNT(*) AS orders, SUM(s.revenue) AS spend
    FROM {sales} s JOIN {buyers} b ON b.customer = s.customer GROUP BY ALL"""

HORIZON = "SELECT MAX(sold_at) AS last_sale FROM {sales}"

AGGREGATES: dict[str, str] = {"cohort_cells": COHORT_CELLS, "omni_totals": OMNI_TOTALS, "horizon": HORIZON}

# Copy only, after the tables above: `sales` gains each customer's buyer facts and a whole-number customer key
# (`cno`, numbered per copy). Counting distinct customers of a period, and telling new, repeat and omnichannel
# ones apart, then needs no join and no hashing of id strings (summary, channels).
SALES_WIDE = """
    SELECT s.*, b.cno, b.first_at, b.second_at, b.multichannel_at
    FROM {sales} s LEFT JOIN (SELECT *, ROW_NUMBER() OVER () AS cno FROM {buyers}) b ON b.customer = s.customer"""
