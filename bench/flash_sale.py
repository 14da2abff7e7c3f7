"""Benchmark: a flash sale on one hot SKU, through the HTTP API of a running server, against PostgreSQL.

    omnihub serve --workers 2          # OMNIHUB_DATABASE_URL=postgresql://..., same OMNIHUB_SECRET_KEY as here
    python bench/flash_sale.py --url http://127.0.0.1:8000 --key ADMIN_KEY \\
        --db-url postgresql://postgres@127.0.0.1:5432/omnihub_bench --units 3000 --attempts 20000 --clients 16

Set-up (through the API): one SKU with --units units split over 3 locations, one channel per client fulfilled
by those 3 locations, and one channel key per client (made directly in --db-url with the secret from
OMNIHUB_SECRET_KEY, which must be the server's). Then --clients threads, each with its own keep-alive
connection and its own channel key, fire `POST /api/v1/reservations` for 1 unit until --attempts are
used. Attempts outnumber units, so the stock sells out midway and both the 201 and the 409 paths run.

`--mode orders` runs the same sale through `POST /api/v1/orders` instead: the SKU gets a price (49.95, tax
included) in every channel, and each attempt is a whole order of 1 unit from that client's channel (its own channel
key), fulfilment `ship` to an address, paid by card for the exact price — priced, sourced, held, paid, invoiced,
with its events — so 201s are orders and the 409s the same clean `insufficient_stock`.

Prints attempts/s, p50/p99 latency, units sold, clean `insufficient_stock` refusals, other errors and units
oversold (must be 0), cross-checked against `GET /stock/{sku}` and `POST /inventory/check`. Then, in the same
run, the database's own ceiling for the same work without HTTP or the hub: 16 threads of direct SQL doing
"conditional UPDATE of the hot row + ledger row + outbox row" on scratch tables (bench_levels, bench_ledger,
bench_outbox, dropped afterwards; the hub's own tables are not touched), and the ratio hub/ceiling.
The load generator runs on the same machine as the server; its own CPU use is printed so the figure can be
read honestly.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    CLIENT_ERRORS,
    ApiError,
    LeanClient,
    call,
    git_revision,
    machine,
    percentile,
    postgres_version,
    run_clients,
)

console = Console()


# --- set-up ---------------------------------------------------------------------------------------------


@dataclass
class Setup:
    sku: str
    locations: list[str]
    channels: list[str]
    keys: list[str]
    units: int
    price: str = "49.95"


def split_units(units: int, parts: int) -> list[int]:
    """N units over `parts` locations, as evenly as possible (the first ones take the remainder)."""
    base, extra = divmod(units, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def create_channel_keys(db_url: str, channels: list[str]) -> list[str]:
    """One channel key per channel, written with the hub's own key code so the server accepts them."""
    from omnihub.config import Settings
    from omnihub.core.clock import SystemClock
    from omnihub.core.db import Database
    from omnihub.core.security import create_api_key

    secret = Settings().secret_key
    db = Database(db_url, pool_size=2)
    try:
        with db.transaction() as conn:
            return [create_api_key(conn, SystemClock(), secret, role="channel", channel=code,
                                   name=f"bench flash sale {code}")[1] for code in channels]
    finally:
        db.dispose()


def set_up(url: str, admin_key: str, db_url: str, units: int, clients: int, run: str, mode: str = "reservations"
           ) -> Setup:
    sku = f"FLASH-{run}".upper()
    locations = [f"flash-{run}-{suffix}" for suffix in ("wh", "store-a", "store-b")]
    channels = [f"flash-{run}-ch{i:02d}" for i in range(clients)]
    coords = [(40.3057, -3.7329), (40.4203, -3.7058), (41.3917, 2.1649)]
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin_key}"}, timeout=60) as api:
        call(api, "POST", "/api/v1/products", json={"sku": sku, "name": "Flash sale sneaker", "category": "footwear"})
        for code, (lat, lon) in zip(locations, coords, strict=True):
            call(api, "POST", "/api/v1/locations", json={
                "code": code, "name": code, "kind": "warehouse" if code.endswith("wh") else "store",
                "lat": lat, "lon": lon, "pickup": not code.endswith("wh")})
        for code, qty in zip(locations, split_units(units, len(locations)), strict=True):
            call(api, "PUT", f"/api/v1/stock/{code}/{sku}", json={"on_hand": qty, "reason": "flash sale stock"})
        for code in channels:
            call(api, "POST", "/api/v1/channels", json={
                "code": code, "name": code, "kind": "web", "currency": "EUR", "country": "ES",
                "locations": locations, "stock_buffer": 0})
            # Priced in every mode: a product without a price in a channel is not available there.
            call(api, "PUT", f"/api/v1/channels/{code}/prices", json=[{"sku": sku, "amount": Setup.price}])
    keys = create_channel_keys(db_url, channels)
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {keys[0]}"}, timeout=60) as probe:
        response = probe.get(f"/api/v1/availability/{sku}", params={"channel": channels[0]})
        if response.status_code == 401:
            raise ApiError("The server rejects the channel keys: run this with the server's OMNIHUB_SECRET_KEY.")
        available = call(probe, "GET", f"/api/v1/availability/{sku}", params={"channel": channels[0]})
        if available["available"] != units:
            raise ApiError(f"Expected {units} available, the server says {available['available']}")
    return Setup(sku, locations, channels, keys, units)


# --- the sale -------------------------------------------------------------------------------------------


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    sold: int = 0
    sold_out: int = 0
    refused_at: list[float] = field(default_factory=list)  # when each 409 came back
    last_sale_started: float = 0.0
    errors: Counter[str] = field(default_factory=Counter)


class Budget:
    """Attempts left, shared by all clients."""

    def __init__(self, attempts: int) -> None:
        self._left = attempts
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self._left <= 0:
                return False
            self._left -= 1
            return True


ADDRESSES = [("Calle de Alcalá 45", "Madrid", "28014", 40.4189, -3.6965),
             ("Carrer de Mallorca 210", "Barcelona", "08008", 41.3915, 2.1590),
             ("Calle de la Paz 12", "Valencia", "46003", 39.4735, -0.3730)]


def attempt_request(mode: str, channel: str, sku: str, price: str, index: int) -> tuple[str, str]:
    """The path and JSON body of one attempt: a reservation, or (orders mode) a paid ship order of 1 unit."""
    if mode == "reservations":
        return "/api/v1/reservations", json.dumps({"channel": channel, "lines": [{"sku": sku, "quantity": 1}],
                                                   "ttl_seconds": 3600})
    line1, city, postal, lat, lon = ADDRESSES[index % len(ADDRESSES)]
    return "/api/v1/orders", json.dumps({
        "channel": channel, "lines": [{"sku": sku, "quantity": 1}],
        "fulfilment": {"type": "ship", "address": {"line1": line1, "city": city, "postal_code": postal,
                                                   "country": "ES", "lat": lat, "lon": lon}},
        "payments": [{"method": "card", "amount": price}]})


def client_loop(url: str, key: str, channel: str, sku: str, budget: Budget, tally: Tally,
                start: threading.Barrier, mode: str = "reservations", index: int = 0) -> None:
    path, body = attempt_request(mode, channel, sku, Setup.price, index)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    with LeanClient(url, headers, timeout=30) as http:
        http.get("/healthz")  # open the keep-alive connection before the clock starts
        start.wait()
        while budget.take():
            began = time.perf_counter()
            try:
                response = http.post(path, body)
            except CLIENT_ERRORS as exc:
                tally.latencies.append(time.perf_counter() - began)
                tally.errors[type(exc).__name__] += 1
                continue
            ended = time.perf_counter()
            tally.latencies.append(ended - began)
            if response.status_code == 201:
                tally.sold += sum(line["quantity"] for line in response.json()["lines"])
                tally.last_sale_started = max(tally.last_sale_started, began)
            elif response.status_code == 409 and response.json().get("code") == "insufficient_stock":
                tally.sold_out += 1
                tally.refused_at.append(ended)
            else:
                tally.errors[f"{response.status_code} {response.json().get('code', '')}".strip()] += 1


def run_sale(url: str, setup: Setup, attempts: int, mode: str = "reservations") -> dict[str, Any]:
    budget = Budget(attempts)
    tallies = [Tally() for _ in setup.channels]
    start = threading.Barrier(len(setup.channels) + 1)
    threads = [threading.Thread(target=client_loop, args=(url, key, channel, setup.sku, budget, tally, start, mode,
                                                          index))
               for index, (key, channel, tally) in enumerate(zip(setup.keys, setup.channels, tallies, strict=True))]
    wall, client_cpu = run_clients(threads, start)
    latencies = sorted(x for t in tallies for x in t.latencies)
    errors: Counter[str] = Counter()
    for t in tallies:
        errors.update(t.errors)
    # Stock only goes down during the sale, so a 409 answered before some later request still got a unit
    # was a false "sold out".
    last_sale = max(t.last_sale_started for t in tallies)
    false_sold_out = sum(1 for t in tallies for at in t.refused_at if at < last_sale)
    return {
        "false_sold_out": false_sold_out, "attempts": len(latencies), "seconds": wall, "rate": len(latencies) / wall,
        "p50_ms": percentile(latencies, 50) * 1000, "p99_ms": percentile(latencies, 99) * 1000,
        "max_ms": latencies[-1] * 1000 if latencies else 0.0,
        "sold": sum(t.sold for t in tallies), "sold_out": sum(t.sold_out for t in tallies), "errors": errors,
        "client_cpu": client_cpu,
    }


def cross_check(url: str, admin_key: str, setup: Setup) -> dict[str, Any]:
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin_key}"}, timeout=300) as api:
        stock = call(api, "GET", f"/api/v1/stock/{setup.sku}")
        drift = call(api, "POST", "/api/v1/inventory/check")
    return {"on_hand": stock["on_hand"], "reserved": stock["reserved"], "drift": drift,
            "per_location": {loc["location"]: loc["reserved"] for loc in stock["locations"]}}


# --- the database's own ceiling ---------------------------------------------------------------------------

SCRATCH = """
DROP TABLE IF EXISTS bench_levels, bench_ledger, bench_outbox;
CREATE TABLE bench_levels (
    location_code varchar(64) NOT NULL, sku varchar(64) NOT NULL,
    on_hand integer NOT NULL, reserved integer NOT NULL, safety_stock integer NOT NULL, ring_fenced integer NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (location_code, sku), CHECK (reserved >= 0), CHECK (reserved <= on_hand));
CREATE TABLE bench_ledger (
    id bigserial PRIMARY KEY, location_code varchar(64) NOT NULL, sku varchar(64) NOT NULL,
    kind varchar(16) NOT NULL, reserved_delta integer NOT NULL, on_hand_after integer NOT NULL,
    reserved_after integer NOT NULL, reference varchar(64), at timestamptz NOT NULL);
CREATE INDEX ON bench_ledger (location_code, sku, id);
CREATE TABLE bench_outbox (
    seq bigserial PRIMARY KEY, id varchar(40) NOT NULL UNIQUE, type varchar(64) NOT NULL,
    occurred_at timestamptz NOT NULL, data jsonb NOT NULL, dispatched_at timestamptz);
CREATE INDEX ON bench_outbox (seq) WHERE dispatched_at IS NULL;
"""

CLAIM = """UPDATE bench_levels SET reserved = reserved + 1, updated_at = now()
WHERE location_code = %s AND sku = %s AND on_hand - reserved - safety_stock - ring_fenced >= 1
RETURNING on_hand, reserved"""
LEDGER = """INSERT INTO bench_ledger (location_code, sku, kind, reserved_delta, on_hand_after, reserved_after,
reference, at) VALUES (%s, %s, 'reservation', 1, %s, %s, %s, now())"""
OUTBOX = "INSERT INTO bench_outbox (id, type, occurred_at, data) VALUES (%s, 'stock.changed', now(), %s)"


def ceiling(db_url: str, sku: str, units: int, attempts: int, clients: int, rows: int) -> dict[str, Any]:
    """Direct SQL, no HTTP, no hub: what PostgreSQL itself allows for this work on the hot row(s)."""
    import psycopg
    from psycopg.types.json import Jsonb

    locations = [f"bench-loc-{i}" for i in range(rows)]
    with psycopg.connect(db_url, autocommit=True) as admin:
        admin.execute(SCRATCH)
        with admin.cursor() as cur:
            cur.executemany("INSERT INTO bench_levels VALUES (%s, %s, %s, 0, 0, 0, now())",
                            [(loc, sku, qty) for loc, qty in zip(locations, split_units(units, rows), strict=True)])
    budget = Budget(attempts)
    results: list[tuple[int, int, list[float]]] = []
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        sold = refused = 0
        latencies: list[float] = []
        with psycopg.connect(db_url) as conn:
            conn.execute("SELECT 1")
            conn.commit()
            start.wait()
            while budget.take():
                began = time.perf_counter()
                first = rng.randrange(rows)
                with conn.transaction():
                    for step in range(rows):  # like the hub: try the next row when one is empty
                        loc = locations[(first + step) % rows]
                        row = conn.execute(CLAIM, (loc, sku), prepare=True).fetchone()
                        if row:
                            ref = f"res_{uuid.uuid4().hex[:26]}"
                            conn.execute(LEDGER, (loc, sku, row[0], row[1], ref), prepare=True)
                            conn.execute(OUTBOX, (f"evt_{uuid.uuid4().hex[:26]}", Jsonb(
                                {"location": loc, "sku": sku, "reserved": row[1], "reference": ref})), prepare=True)
                            sold += 1
                            break
                    else:
                        refused += 1
                latencies.append(time.perf_counter() - began)
        with lock:
            results.append((sold, refused, latencies))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    try:
        for thread in threads:
            thread.start()
        start.wait()
        began = time.perf_counter()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - began
        with psycopg.connect(db_url) as conn:
            reserved = conn.execute("SELECT sum(reserved) FROM bench_levels").fetchone()[0]  # type: ignore[index]
    finally:
        with psycopg.connect(db_url, autocommit=True) as admin:
            admin.execute("DROP TABLE IF EXISTS bench_levels, bench_ledger, bench_outbox")
    latencies = sorted(x for r in results for x in r[2])
    sold = sum(r[0] for r in results)
    return {"rate": len(latencies) / wall, "seconds": wall, "sold": sold, "refused": sum(r[1] for r in results),
            "reserved": reserved, "p50_ms": percentile(latencies, 50) * 1000,
            "p99_ms": percentile(latencies, 99) * 1000, "rows": rows}


# --- report ---------------------------------------------------------------------------------------------


def report(args: argparse.Namespace, setup: Setup, sale: dict[str, Any], check: dict[str, Any],
           floor: dict[str, Any] | None) -> bool:
    oversold = max(0, sale["sold"] - setup.units)
    consistent = (check["reserved"] == sale["sold"] and check["reserved"] <= check["on_hand"]
                  and check["on_hand"] == setup.units and not check["drift"])
    what = "POST /orders" if args.mode == "orders" else "POST /reservations"
    table = Table(title=f"Flash sale ({what}): {setup.units} units of {setup.sku} over 3 locations, "
                        f"{args.clients} clients, {sale['attempts']} attempts", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("attempts/s", f"{sale['rate']:,.0f}")
    table.add_row("latency p50 / p99 / max", f"{sale['p50_ms']:.1f} / {sale['p99_ms']:.1f} / {sale['max_ms']:.0f} ms")
    table.add_row("units sold (201)", f"{sale['sold']:,}")
    table.add_row("refused, insufficient_stock (409)", f"{sale['sold_out']:,}")
    table.add_row("other errors", ", ".join(f"{k}: {v}" for k, v in sale["errors"].items()) or "0")
    table.add_row("units oversold", f"[{'green' if oversold == 0 else 'red'}]{oversold}[/]")
    table.add_row("GET /stock: on_hand / reserved", f"{check['on_hand']:,} / {check['reserved']:,}  "
                  + " ".join(f"{k.rsplit('-', 1)[-1]}={v}" for k, v in check["per_location"].items()))
    table.add_row("reserved == sold, ≤ on_hand", "[green]yes[/]" if consistent else "[red]NO[/]")
    table.add_row("POST /inventory/check", "[green][][/]" if not check["drift"] else f"[red]{check['drift']}[/]")
    # Every 409 was false if units were left at the end; otherwise those answered before a later sale.
    false_sold_out = sale["false_sold_out"] if sale["sold"] >= setup.units else sale["sold_out"]
    table.add_row("false 'sold out' while stock remained", f"{false_sold_out:,}")
    table.add_row("load generator CPU (cores busy)", f"{sale['client_cpu']:.2f}")
    if floor:
        table.add_row(f"PostgreSQL ceiling, direct SQL ({floor['rows']} row{'s' if floor['rows'] > 1 else ''})",
                      f"{floor['rate']:,.0f} tx/s (p50 {floor['p50_ms']:.1f} ms, p99 {floor['p99_ms']:.1f} ms)")
        table.add_row("ceiling check: sold / reserved", f"{floor['sold']:,} / {floor['reserved']:,}")
        table.add_row("hub / ceiling", f"{sale['rate'] / floor['rate']:.2f}")
    console.print(table)
    console.print(f"[dim]{machine()}; {postgres_version(args.db_url)}; omnihub {git_revision()}; "
                  f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC[/dim]")
    return oversold == 0 and consistent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--key", required=True, help="An admin key (omnihub apikey create --role admin)")
    parser.add_argument("--db-url", required=True,
                        help="The server's PostgreSQL URL: channel keys and the ceiling measurement")
    parser.add_argument("--units", type=int, default=3000)
    parser.add_argument("--attempts", type=int, default=20000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--mode", choices=["reservations", "orders"], default="reservations",
                        help="What each attempt is: a reservation (default) or a paid ship order of 1 unit")
    parser.add_argument("--ceiling-rows", type=int, default=1,
                        help="Rows the ceiling spreads the units over (1 = one hot row; 3 = like the hub)")
    parser.add_argument("--no-ceiling", action="store_true", help="Skip the direct-SQL measurement")
    parser.add_argument("--json", action="store_true", help="Also print the figures as one JSON line")
    args = parser.parse_args()
    run = uuid.uuid4().hex[:8]
    os.environ.setdefault("OMNIHUB_DATABASE_URL", args.db_url)
    with console.status("Setting up the sale through the API ..."):
        setup = set_up(args.url, args.key, args.db_url, args.units, args.clients, run, args.mode)
    with console.status(f"{args.clients} clients, {args.attempts} attempts ..."):
        sale = run_sale(args.url, setup, args.attempts, args.mode)
    with console.status("Cross-checking stock and ledger ..."):
        check = cross_check(args.url, args.key, setup)
    floor = None
    if not args.no_ceiling:
        with console.status("Measuring PostgreSQL's own ceiling (direct SQL) ..."):
            floor = ceiling(args.db_url, setup.sku, args.units, args.attempts, args.clients, args.ceiling_rows)
    ok = report(args, setup, sale, check, floor)
    if args.json:
        print(json.dumps({"sale": {**sale, "errors": dict(sale["errors"])}, "check": check, "ceiling": floor},
                         default=str))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
