"""Benchmark: segments compiled to SQL against the per-profile evaluation they replaced, on PostgreSQL.

    python bench/segments.py                      # 200,000 profiles
    python bench/segments.py --people 1000000

One run: (1) makes a PostgreSQL database (default `omnihub_bench_segments`, dropped and re-created), migrates it
and generates N active profiles inside PostgreSQL (`generate_series`): purchase stats (70 % bought; lifetime value,
orders, last order up to two years ago), a phone for half of them (Spanish or British), a consent log for 30 %, a
manual `vip` tag for 5 %; (2) per segment: the live count (`segments.preview`), the first recompute (everyone who
matches enters: stored and announced as `segment.entered`), and the steady-state recompute (no change: what the
scheduled job costs every 5 minutes), and the event path (`refresh_customers` for 100 people); (3) the facts-based
evaluation the rooms used before (one 360 read per profile) timed on a sample and given per profile. Wall time and
the process's CPU time (user+sys) are printed, with the load average: the host is shared.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, postgres_version  # noqa: E402
from omnihub.bootstrap import bootstrap  # noqa: E402
from omnihub.core.clock import SystemClock  # noqa: E402
from omnihub.core.db import Database  # noqa: E402
from omnihub.core.migrate import upgrade  # noqa: E402

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
SEGMENTS = {
    "big spenders": [{"field": "customer.lifetime_value", "op": ">=", "value": "400"}],
    "lapsed (no order in 180 days)": [{"field": "customer.days_since_last_order", "op": ">", "value": 180}],
    "Spanish, e-mail consent, 2+ orders": [{"field": "customer.country", "op": "==", "value": "ES"},
                                           {"field": "customer.consents", "op": "contains",
                                            "value": "email_marketing"},
                                           {"field": "customer.orders_count", "op": ">=", "value": 2}],
    "vip or British": [{"any": [{"field": "customer.tags", "op": "contains", "value": "vip"},
                                {"field": "customer.country", "op": "==", "value": "GB"}]}],
}

GENERATE = """
INSERT INTO customers (id, name, status, created_at, updated_at)
  SELECT 'cus_b' || lpad(g::text, 9, '0'), 'Person ' || g, 'active', now() - interval '3 years', now()
  FROM generate_series(1::bigint, %(n)s) g;
INSERT INTO customer_stats (customer_id, owner_id, channel, events_count, orders_count, revenue, first_order_at,
                            last_order_at, last_seen_at)
  SELECT 'cus_b' || lpad(g::text, 9, '0'), 'cus_b' || lpad(g::text, 9, '0'), 'web', 1 + g %% 20, 1 + g %% 7,
         ((g * 7919) %% 100000) / 100.0, now() - interval '3 years',
         now() - ((g * 104729) %% 730) * interval '1 day', now()
  FROM generate_series(1::bigint, %(n)s) g WHERE g %% 10 < 7;
INSERT INTO customer_identities (key, customer_id, owner_id, kind, namespace, value, verified, created_at)
  SELECT 'phone::' || p, c, c, 'phone', '', p, false, now() FROM (
    SELECT 'cus_b' || lpad(g::text, 9, '0') AS c,
           CASE WHEN g %% 4 = 0 THEN '+4477' || lpad(g::text, 8, '0') ELSE '+346' || lpad(g::text, 8, '0') END AS p
    FROM generate_series(1::bigint, %(n)s) g WHERE g %% 2 = 0) x;
INSERT INTO customer_consents (customer_id, owner_id, purpose, granted, at, recorded_at)
  SELECT 'cus_b' || lpad(g::text, 9, '0'), 'cus_b' || lpad(g::text, 9, '0'), 'email_marketing', true,
         now() - interval '30 days', now()
  FROM generate_series(1::bigint, %(n)s) g WHERE g %% 10 < 3;
INSERT INTO customer_consents (customer_id, owner_id, purpose, granted, at, recorded_at)
  SELECT 'cus_b' || lpad(g::text, 9, '0'), 'cus_b' || lpad(g::text, 9, '0'), 'email_marketing', false,
         now() - interval '1 day', now()
  FROM generate_series(1::bigint, %(n)s) g WHERE g %% 30 = 0;
INSERT INTO customer_tags (customer_id, owner_id, tag, source, score, updated_at)
  SELECT 'cus_b' || lpad(g::text, 9, '0'), 'cus_b' || lpad(g::text, 9, '0'), 'vip', 'manual', NULL, now()
  FROM generate_series(1::bigint, %(n)s) g WHERE g %% 20 = 0;
ANALYZE
"""


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(label: str, work: object) -> object:
    wall, used = time.perf_counter(), cpu()
    result = work() if callable(work) else None
    print(f"  {label}: {time.perf_counter() - wall:8.3f} s wall, {cpu() - used:7.3f} s CPU (this process) -> "
          f"{result}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=200_000)
    parser.add_argument("--database", default="omnihub_bench_segments")
    parser.add_argument("--sample", type=int, default=500, help="profiles for the per-profile evaluation")
    parser.add_argument("--keep", action="store_true", help="do not drop the database at the end")
    args = parser.parse_args()
    print(machine(), "| load average", os.getloadavg())
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{args.database}"')
        admin.execute(f'CREATE DATABASE "{args.database}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{args.database}"
    try:
        upgrade(url)
        bootstrap()
        db = Database(url)
        print(postgres_version(ADMIN_URL))
        clock = SystemClock()
        with psycopg.connect(url.replace("+psycopg", "")) as raw:
            def generate() -> str:
                for statement in GENERATE.split(";\n"):
                    if statement.strip():
                        raw.execute(statement.replace("%(n)s", str(int(args.people))).replace("%%", "%"))
                return "ok"

            timed(f"generate {args.people:,} profiles", generate)
            raw.commit()

        from omnihub.automation import facts, rules, segments

        for name, conditions in SEGMENTS.items():
            print(f"segment {name!r}")
            with db.read() as conn:
                timed("live count (preview)", lambda c=conditions, k=conn: segments.preview(
                    k, clock, {"name": "b", "conditions": c})["count"])
            with db.transaction() as conn:
                made = segments.create_segment(conn, clock, {"name": name, "conditions": [{"field":
                                               "customer.orders_count", "op": "<", "value": -1}]})
            segment_id = made["id"]
            from omnihub.automation.models import automation_segments

            with db.transaction() as conn:
                conn.execute(automation_segments.update().where(automation_segments.c.id == segment_id)
                             .values(conditions=conditions))
            with db.transaction() as conn:
                timed("first recompute (all enter, announced)", lambda k=conn, s=segment_id: segments.recompute(
                    k, clock, s))
            with db.transaction() as conn:
                timed("steady recompute (no change)", lambda k=conn, s=segment_id: segments.recompute(k, clock, s))
            people = [f"cus_b{g:09d}" for g in range(1, args.people, args.people // 100 + 1)][:100]
            with db.transaction() as conn:
                timed("event path: refresh 100 people in every segment",
                      lambda k=conn, p=people: segments.refresh_customers(k, clock, p))

        sample = [f"cus_b{g:09d}" for g in range(1, args.people, args.people // args.sample + 1)][:args.sample]
        conditions = SEGMENTS["Spanish, e-mail consent, 2+ orders"]
        with db.read() as conn:
            wall, used = time.perf_counter(), cpu()
            hits = sum(rules.matches(conditions, {"customer": facts.customer_facts(conn, clock, c)})[0]
                       for c in sample)
            per = (time.perf_counter() - wall) / len(sample)
            print(f"per-profile facts evaluation (before): {per * 1000:.2f} ms wall and "
                  f"{(cpu() - used) / len(sample) * 1000:.2f} ms CPU per profile ({hits}/{len(sample)} matched) -> "
                  f"{per * args.people:,.0f} s for {args.people:,} profiles")
        print("load average", os.getloadavg(), "| peak RSS", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
              "MB")
        db.dispose()
    finally:
        if not args.keep:
            with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')


if __name__ == "__main__":
    main()
