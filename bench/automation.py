"""Benchmark: the abandoned-cart scan and message delivery of the automation room, on PostgreSQL.

    python bench/automation.py                      # 200,000 carts (a trial)
    python bench/automation.py --carts 1000000      # the issue's size

One run: (1) makes a PostgreSQL database (default `omnihub_bench_automation`, dropped and re-created), migrates it
and generates N carts in the `app` channel inside PostgreSQL (`generate_series`): 10 % idle for more than the
channel's `cart_abandoned_after` with a customer and lines, the rest recent, anonymous, empty or bought; (2) runs
one scheduler pass of the `automation.abandoned_carts` job (batches of 1,000 until none is left) and reports carts
scanned per second (carts in the channel / pass time) and carts announced; (3) queues M SMS messages and runs the
`automation.deliver` job against a local receiver speaking Twilio's Messages API (tests/provider_receiver.py),
reporting messages handed to the provider per second; the process's peak RSS is printed before and after each
phase (memory stays flat: both jobs work in fixed-size batches).

The host is shared, so beside every rate it prints the load average and the CPU each unit cost: this process's
CPU (all its threads), the PostgreSQL backends' CPU (from /proc, the server runs on this host) and, for delivery,
the receiver's. `--senders N` runs N delivery loops at once (N worker processes' worth of passes, each claiming
its own batches with SKIP LOCKED); every message must reach the receiver exactly once.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, postgres_version  # noqa: E402
from omnihub.bootstrap import bootstrap  # noqa: E402
from omnihub.config import Settings  # noqa: E402
from omnihub.core.clock import SystemClock  # noqa: E402
from omnihub.core.db import Database  # noqa: E402
from omnihub.core.migrate import upgrade  # noqa: E402

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
SID = "AC" + "b" * 32
# A provider's listen queue is deep; http.server's default (5) drops the connections a pool opens at once
RECEIVER = f"""
import itertools, sys, time
from http.server import ThreadingHTTPServer
from tests.provider_receiver import ProviderReceiver
ThreadingHTTPServer.request_queue_size = 128
r = ProviderReceiver().start()
numbers = itertools.count()
r.route("POST", "/2010-04-01/Accounts/{SID}/Messages.json",
        lambda call: (201, {{"sid": "SM%032d" % next(numbers), "status": "queued"}}))
print(r.base, flush=True)
for line in sys.stdin:  # "count": how many requests, how many distinct recipients
    tos = [c.form.get("To") for c in r.calls]
    print(len(tos), len(set(tos)), flush=True)
"""


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def cpu_of(pid: int) -> float:
    """user + system CPU seconds of a process on this host."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def backends_cpu(url: str) -> dict[int, float]:
    """CPU so far of every PostgreSQL backend connected to the bench database."""
    with psycopg.connect(url, autocommit=True) as conn:
        pids = [r[0] for r in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                           "AND pid <> pg_backend_pid()")]
    return {pid: cpu_of(pid) for pid in pids}


def spent(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def generate(url: str, carts: int) -> float:
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        run = conn.execute
        run("INSERT INTO locations (code, name, kind, pickup, created_at) VALUES ('wh', 'Warehouse', 'warehouse', "
            "false, now())")
        run("INSERT INTO products (sku, name, category, attributes, tax_class, created_at, updated_at) "
            "SELECT 'SKU' || i, 'Product ' || i, 'cat', '{}', 'standard', now(), now() FROM generate_series(1, 200) i")
        run("INSERT INTO channels (code, name, kind, currency, stock_buffer, prices_include_tax, shipping_fee, "
            "cart_hold_minutes, cart_abandoned_after, created_at, updated_at) VALUES ('app', 'App', 'app', 'EUR', 0, "
            "true, 0, 0, 14400, now(), now())")
        run("INSERT INTO channel_locations (channel_code, location_code, position) VALUES ('app', 'wh', 0)")
        # every 10th cart: idle 5 h with a customer and two lines; the others: recent, anonymous or bought
        run(f"""INSERT INTO carts (id, channel_code, customer_id, origin_customer_id, identity, status, created_at,
                                  updated_at)
                SELECT 'cart_' || lpad(i::text, 9, '0'), 'app',
                       CASE WHEN i % 10 = 0 OR i % 3 = 1 THEN 'cus_' || i END, NULL, '{{}}',
                       CASE WHEN i % 10 = 5 THEN 'checked_out' ELSE 'open' END,
                       now() - interval '6 hours',
                       CASE WHEN i % 10 = 0 THEN now() - interval '5 hours' - (i % 997) * interval '1 second'
                            ELSE now() - (i % 3000) * interval '1 second' END
                FROM generate_series(1, {carts}) i""")
        run(f"""INSERT INTO cart_lines (cart_id, sku, quantity, unit_price, position)
                SELECT 'cart_' || lpad(i::text, 9, '0'), 'SKU' || (1 + (i + k) % 200), 1 + k, 19.95, k
                FROM generate_series(1, {carts}) i, generate_series(0, 1) k WHERE i % 7 <> 3""")
        run("ANALYZE")
    return time.perf_counter() - started


def queue_messages(url: str, count: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"""INSERT INTO automation_messages (id, rule_id, run_id, customer_id, channel, purpose, "to",
                            subject, body, links, token, status, attempts, created_at)
                         SELECT 'amsg_' || lpad(i::text, 9, '0'), 'rule_bench', 'run_' || i, 'cus_' || i, 'sms',
                                'sms', '+3460' || lpad(i::text, 7, '0'), NULL, 'Tu carrito te espera', '[]',
                                'tok' || i, 'queued', 0, now()
                         FROM generate_series(1, {count}) i""")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--carts", type=int, default=200_000)
    parser.add_argument("--messages", type=int, default=5_000)
    parser.add_argument("--database", default="omnihub_bench_automation")
    parser.add_argument("--senders", type=int, default=1, help="delivery loops running at once")
    parser.add_argument("--drop", action="store_true", help="drop the database at the end")
    args = parser.parse_args()

    url = f"postgresql://postgres@127.0.0.1:5432/{args.database}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{args.database}"')
    upgrade(url, "heads")
    bootstrap()
    made = generate(url, args.carts)
    print(f"machine: {machine()}; PostgreSQL {postgres_version(url)}")
    print(f"generated {args.carts:,} carts in {made:.1f} s; peak RSS {rss_mb():.0f} MB")

    from omnihub.automation.carts import scan
    from omnihub.automation.delivery import SMS_CONCURRENCY, deliver

    db = Database(url, pool_size=max(2, args.senders))
    clock = SystemClock()
    with db.transaction() as conn:  # the pool's connection exists before its backend's CPU is read
        conn.exec_driver_sql("SELECT 1")
    print(f"before the scan: {load()}")
    pg_before, cpu_before = backends_cpu(url), time.process_time()
    started = time.perf_counter()
    announced = 0
    while True:
        with db.transaction() as conn:
            done = scan(conn, clock)
        announced += done
        if done == 0:
            break
    elapsed = time.perf_counter() - started
    own, pg = time.process_time() - cpu_before, spent(pg_before, backends_cpu(url))
    print(f"scan pass: {args.carts:,} carts scanned, {announced:,} announced as cart.abandoned in {elapsed:.2f} s "
          f"= {args.carts / elapsed:,.0f} carts scanned/s ({announced / elapsed:,.0f} announced/s); "
          f"peak RSS {rss_mb():.0f} MB; {load()}")
    print(f"  CPU: this process {own:.2f} s, PostgreSQL {pg:.2f} s = {(own + pg) / args.carts * 1e6:.1f} µs per "
          f"cart scanned, {(own + pg) / max(announced, 1) * 1e6:.0f} µs per cart announced")

    # the receiver runs in its own process, as a provider would: it does not share this process's GIL
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER], cwd=ROOT, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
    assert receiver.stdout is not None and receiver.stdin is not None
    base = receiver.stdout.readline().strip()
    queue_messages(url, args.messages)
    settings = Settings(database_url=url, sms_account_sid=SID, sms_auth_token="bench", sms_from="+34910000000",
                        sms_api_base=base, outbound_allow="127.0.0.1")
    print(f"before delivery: {load()}")
    pg_before, cpu_before, receiver_before = backends_cpu(url), time.process_time(), cpu_of(receiver.pid)
    totals: list[int] = []

    def sender() -> None:
        sent = 0
        while True:
            with db.transaction() as conn:
                done = deliver(conn, clock, settings)
            sent += done
            if done == 0:
                break
        totals.append(sent)

    started = time.perf_counter()
    threads = [threading.Thread(target=sender) for _ in range(args.senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    own, pg = time.process_time() - cpu_before, spent(pg_before, backends_cpu(url))
    received = cpu_of(receiver.pid) - receiver_before
    receiver.stdin.write("count\n")
    receiver.stdin.flush()
    requests, recipients = map(int, receiver.stdout.readline().split())
    receiver.terminate()
    receiver.wait()
    sent = sum(totals)
    with psycopg.connect(url) as check:
        states = dict(check.execute("SELECT status, count(*) FROM automation_messages GROUP BY status").fetchall())
    print(f"delivery: {sent:,} SMS handed to the provider in {elapsed:.2f} s = {sent / elapsed:,.0f} messages/s "
          f"({args.senders} loop(s), {SMS_CONCURRENCY} sends at a time each); peak RSS {rss_mb():.0f} MB; {load()}")
    print(f"  receiver got {requests:,} requests for {recipients:,} recipients (doubles: {requests - recipients}); "
          f"messages by status {states}")
    print(f"  CPU: this process {own:.2f} s, PostgreSQL {pg:.2f} s, receiver {received:.2f} s = "
          f"{(own + pg) / max(sent, 1) * 1e6:.0f} µs per message on the hub's side "
          f"(+ {received / max(sent, 1) * 1e6:.0f} µs in the receiver)")
    db.dispose()
    if args.drop:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')


if __name__ == "__main__":
    main()
