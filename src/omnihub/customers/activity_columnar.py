"""`activity.record_purchases` for a columnar import: the purchases are a DuckDB relation, the customers' stats,
timeline entries and interest tags are shaped in SQL (CSV files) and reach PostgreSQL by COPY — no Python per purchase.

Same rows as `record_purchases` for the same purchases in the same order: stats summed per active profile and
channel, one `order_placed` entry per purchase, tag scores summed in purchase order (in Python, per profile and
tag, so that the floating-point sums are the row path's to the bit)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.core.bulk import copy_csv_file
from omnihub.core.clock import Clock
from omnihub.customers import rules
from omnihub.customers.activity import _EVENT_COLUMNS, STATS_ADDED_PG, _bump_tags
from omnihub.customers.models import customer_events, customer_stats
from omnihub.customers.writes import active_ids

_STATS_COLUMNS = ("customer_id", "owner_id", "channel", "orders_count", "revenue", "first_order_at",
                  "last_order_at", "last_seen_at", "events_count")
_WEIGHT = rules.TAG_WEIGHTS["order_placed"]


def build_purchases(duck: Any, conn: Connection, clock: Clock, purchases: str,
                    folder: Path) -> tuple[Callable[[Connection], None], Callable[[Connection], None]]:
    """The files recording the purchases of DuckDB relation `purchases` — columns `rank` (purchase order),
    `customer_id`, `channel`, `amount` (DECIMAL), `amount_text` (the amount as `str(Decimal)` gives it), `occurred`
    (ISO text, UTC), `order_id`, `currency`, `categories` (VARCHAR[], sorted, distinct, no blank) — built in
    `folder` (`conn` only reads), and the functions that write them in a connection's transaction: the timeline rows,
    then the totals (stats and tags, rows other batches update too)."""
    now = clock.now()
    ids = [row[0] for row in duck.execute(f"SELECT DISTINCT customer_id FROM {purchases}").fetchall()]
    if not ids:
        return (lambda conn: None), (lambda conn: None)
    active = active_ids(conn, ids)
    duck.execute("CREATE OR REPLACE TEMP TABLE _active AS SELECT unnest(?::VARCHAR[]) AS customer_id, "
                 "unnest(?::VARCHAR[]) AS cid", [ids, [active[i] for i in ids]])
    duck.execute(f"CREATE OR REPLACE TEMP VIEW _p AS SELECT a.cid, p.* FROM {purchases} p "
                 "JOIN _active a USING (customer_id)")
    stats = folder / "stats.csv"
    duck.execute("COPY (SELECT cid, cid, channel, count(*), sum(amount), min(occurred), max(occurred), "
                 f"max(occurred), 0 FROM _p GROUP BY cid, channel ORDER BY cid, channel) TO '{stats}' (HEADER false)")
    timeline = folder / "timeline.csv"
    duck.execute("COPY (SELECT cid, cid, 'order_placed', channel, occurred, 'commerce', "
                 "json_object('order_id', order_id, 'amount', amount_text, 'currency', currency, "
                 "'categories', categories) "
                 "FROM _p ORDER BY rank) "
                 f"TO '{timeline}' (HEADER false)")
    scores = _tag_scores(duck, now)

    def timeline_rows(conn: Connection) -> None:
        copy_csv_file(conn, customer_events, _EVENT_COLUMNS, timeline)

    def totals(conn: Connection) -> None:
        conn.execute(sa.text("CREATE TEMP TABLE IF NOT EXISTS _import_stats (LIKE customer_stats INCLUDING DEFAULTS) "
                             "ON COMMIT DELETE ROWS"))
        conn.execute(sa.text("DELETE FROM _import_stats"))
        copy_csv_file(conn, sa.table("_import_stats"), _STATS_COLUMNS, stats)
        columns = ", ".join(_STATS_COLUMNS)
        conn.execute(sa.text(
            f"INSERT INTO {customer_stats.name} ({columns}) SELECT {columns} FROM _import_stats {STATS_ADDED_PG}"))
        _bump_tags(conn, now, scores)
    return timeline_rows, totals


def _tag_scores(duck: Any, now: datetime) -> dict[tuple[str, str], float]:
    """Interest tags: each category's slug and each date's epoch score once (Python, the row path's functions),
    the scores summed per profile and tag in purchase order."""
    slugs = {c: rules.tag_slug(c) for (c,) in duck.execute(
        "SELECT DISTINCT unnest(categories) FROM _p").fetchall()}
    tagged = [c for c, s in slugs.items() if s]
    duck.execute("CREATE OR REPLACE TEMP TABLE _slugs AS SELECT unnest(?::VARCHAR[]) AS category, "
                 "unnest(?::VARCHAR[]) AS tag", [tagged, [slugs[c] for c in tagged]])
    factors = {}
    for (at,) in duck.execute("SELECT DISTINCT occurred FROM _p").fetchall():
        when = datetime.fromisoformat(at)
        factors[at] = rules.epoch_score(_WEIGHT, min(when, now))
    duck.execute("CREATE OR REPLACE TEMP TABLE _factors AS SELECT unnest(?::VARCHAR[]) AS occurred, "
                 "unnest(?::DOUBLE[]) AS score", [list(factors), list(factors.values())])
    scores: dict[tuple[str, str], float] = {}
    cursor = duck.execute(
        # in purchase order by sorting each short list, not by an ordered aggregate (a sort per group, ~6x dearer)
        "SELECT cid, tag, list_transform(list_sort(list({'r': rank, 's': score})), x -> x.s) FROM "
        "(SELECT DISTINCT p.rank, p.cid, s.tag, f.score "
        "FROM (SELECT rank, cid, occurred, unnest(categories) AS category FROM _p) p JOIN _slugs s USING (category) "
        "JOIN _factors f USING (occurred)) GROUP BY cid, tag")
    while chunk := cursor.fetchmany(8192):
        for cid, tag, parts in chunk:
            total = 0.0
            for part in parts:
                total += part
            scores[(cid, tag)] = total
    return scores
