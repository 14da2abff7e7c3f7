"""Benchmark: order placement with a mix of SKUs, channels and fulfilment types, through the HTTP API of a running
server (meant for PostgreSQL).

    omnihub serve --workers 2          # OMNIHUB_DATABASE_URL=postgresql://..., same OMNIHUB_SECRET_KEY as here
    python bench/orders.py --url http://127.0.0.1:8000 --key ADMIN_KEY \\
        --db-url postgresql://postgres@127.0.0.1:5432/omnihub_bench --orders 3000 --clients 16

Set-up (through the API, under a fresh run prefix so the bench can be repeated on the same database): --skus
products in 4 categories with tax-inclusive prices in a web, an app, 4 POS (store) and a marketplace channel (the
marketplace 8% dearer); a warehouse near Madrid and 4 stores (Madrid, Barcelona, Valencia, Sevilla) with their real
coordinates; generous stock everywhere (receipts through `POST /stock/movements`). With --db-url, one channel key
per channel is written with the hub's own key code (OMNIHUB_SECRET_KEY must be the server's) and each order is sent
with the key of its channel, as real front-ends would; without it, every order uses the admin key.

The orders are generated before the clock starts (seeded, so two runs send the same mix):
  web/app ship 45% (addresses scattered around the 4 store cities, so ship-from-store and nearest-location routing
  run), web/app pickup at a store 25%, POS counter sales (`in_store`) 20%, marketplace ship from the warehouse 10%;
  1-4 distinct SKUs per order, 1-3 units each; 75% name a customer (e-mail, sometimes a phone) out of a pool, so
  profiles are resolved and reused; each order pays its exact total (card, Bizum, PayPal; cash or card at the
  counter), computed from the known prices (all prices tax-inclusive, no shipping fee); each POST carries an
  `Idempotency-Key`. Then --clients threads, each with one keep-alive connection, send them until all are used.

Prints orders/s, p50/p99 latency (overall and per fulfilment type), counts by status code, errors (anything not
201 is an error unless it is a clean 409 `insufficient_stock`), unpaid orders, the load generator's own CPU, and a
final consistency check: for every SKU, units gone from on-hand plus units reserved equal the units the 201s sold,
and `POST /inventory/check` returns [].
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
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
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
from flash_sale import create_channel_keys

console = Console()

# (suffix, name, kind, lat, lon, city, postal code)
PLACES: list[tuple[str, str, str, float, float, str, str]] = [
    ("wh", "Warehouse Getafe", "warehouse", 40.3057, -3.7329, "Getafe", "28906"),
    ("mad", "Madrid Gran Vía", "store", 40.4203, -3.7058, "Madrid", "28013"),
    ("bcn", "Barcelona Passeig de Gràcia", "store", 41.3917, 2.1649, "Barcelona", "08008"),
    ("vlc", "Valencia Colón", "store", 39.4697, -0.3705, "Valencia", "46004"),
    ("svq", "Sevilla Sierpes", "store", 37.3925, -5.9950, "Sevilla", "41004"),
]
STORES = [p for p in PLACES if p[2] == "store"]
CATEGORIES = [("apparel", 12, 80), ("footwear", 25, 110), ("home", 8, 60), ("beauty", 4, 40)]
FIRST = ["Lucía", "Hugo", "Martina", "Mateo", "Sofía", "Leo", "Julia", "Daniel", "Paula", "Álvaro", "Carmen",
         "Pablo", "Elena", "Manuel", "Valeria", "Javier"]
LAST = ["García", "Martínez", "López", "Sánchez", "Pérez", "Gómez", "Fernández", "Ruiz", "Díaz", "Moreno",
        "Romero", "Navarro"]
STREETS = ["Calle Mayor", "Avenida de la Constitución", "Calle Real", "Plaza de España", "Calle del Carmen",
           "Paseo Marítimo", "Calle San Juan"]


@dataclass
class Catalog:
    run: str
    skus: list[str]
    prices: dict[str, dict[str, Decimal]]  # channel -> sku -> amount
    locations: dict[str, str]  # suffix -> code
    channels: dict[str, str]  # role (web, app, mkt, pos-mad...) -> code
    stock: dict[str, dict[str, int]]  # sku -> location code -> on_hand at the start
    keys: dict[str, str] = field(default_factory=dict)  # channel code -> key


def _to_ascii(text: str) -> str:
    table = str.maketrans("áéíóúñÁÉÍÓÚÑ", "aeiounAEIOUN")
    return text.translate(table).lower()


# --- set-up ---------------------------------------------------------------------------------------------


def set_up(url: str, admin_key: str, db_url: str | None, n_skus: int, run: str, seed: int) -> Catalog:
    rng = random.Random(seed)
    prefix = f"o{run}"
    locations = {suffix: f"{prefix}-{suffix}" for suffix, *_ in PLACES}
    everywhere = list(locations.values())
    channels: dict[str, tuple[str, str, list[str]]] = {
        "web": ("web", "Web shop", everywhere),
        "app": ("app", "Mobile app", everywhere),
        "mkt": ("marketplace", "Marketplace", [locations["wh"]]),
    }
    for suffix, name, *_ in STORES:
        channels[f"pos-{suffix}"] = ("store", f"POS {name}", [locations[suffix]])
    skus = [f"{prefix.upper()}-{i:04d}" for i in range(n_skus)]
    base: dict[str, Decimal] = {}
    stock: dict[str, dict[str, int]] = {}
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin_key}"}, timeout=120) as api:
        for suffix, name, kind, lat, lon, *_ in PLACES:
            call(api, "POST", "/api/v1/locations", json={
                "code": locations[suffix], "name": f"{name} ({run})", "kind": kind, "lat": lat, "lon": lon,
                "pickup": kind == "store"})
        for role, (kind, name, locs) in channels.items():
            call(api, "POST", "/api/v1/channels", json={
                "code": f"{prefix}-{role}", "name": f"{name} ({run})", "kind": kind, "currency": "EUR",
                "country": "ES", "locations": locs, "stock_buffer": 0})
        for index, sku in enumerate(skus):
            category, low, high = CATEGORIES[index % len(CATEGORIES)]
            base[sku] = Decimal(f"{rng.randint(low, high)}.{rng.choice(['95', '99', '50'])}")
            call(api, "POST", "/api/v1/products", json={"sku": sku, "name": f"Bench {category} {index}",
                                                        "category": category})
        prices: dict[str, dict[str, Decimal]] = {}
        for role in channels:
            code = f"{prefix}-{role}"
            factor = Decimal("1.08") if role == "mkt" else Decimal(1)
            prices[code] = {sku: (amount * factor).quantize(Decimal("0.01")) for sku, amount in base.items()}
            call(api, "PUT", f"/api/v1/channels/{code}/prices",
                 json=[{"sku": sku, "amount": str(amount)} for sku, amount in prices[code].items()])
        receipts = []
        for sku in skus:
            stock[sku] = {}
            for suffix, code in locations.items():
                units = 100_000 if suffix == "wh" else 2_000
                stock[sku][code] = units
                receipts.append({"kind": "receipt", "location": code, "sku": sku, "quantity": units,
                                 "reference": f"bench-{run}", "reason": "bench opening stock"})
        for start in range(0, len(receipts), 500):
            call(api, "POST", "/api/v1/stock/movements", json={"movements": receipts[start:start + 500]})
    catalog = Catalog(run, skus, prices, locations, {role: f"{prefix}-{role}" for role in channels}, stock)
    if db_url:
        codes = list(catalog.channels.values())
        catalog.keys = dict(zip(codes, create_channel_keys(db_url, codes), strict=True))
        with httpx.Client(base_url=url, timeout=60) as probe:
            response = probe.get(f"/api/v1/availability/{skus[0]}", params={"channel": codes[0]},
                                 headers={"Authorization": f"Bearer {catalog.keys[codes[0]]}"})
            if response.status_code == 401:
                raise ApiError("The server rejects the channel keys: run this with the server's OMNIHUB_SECRET_KEY.")
    return catalog


# --- the orders ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedOrder:
    kind: str  # ship | pickup | in_store
    channel: str
    body: bytes
    lines: tuple[tuple[str, int], ...]


def plan_orders(catalog: Catalog, count: int, seed: int, customers: int) -> list[PlannedOrder]:
    rng = random.Random(seed + 1)
    pool = []
    for i in range(customers):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        domain = rng.choice(["correo.es", "gmail.com", "hotmail.es", "yahoo.es"])
        person: dict[str, str] = {"email": f"{_to_ascii(first)}.{_to_ascii(last)}{i}@{domain}"}
        if rng.random() < 0.4:
            person["phone"] = f"+34 6{rng.randint(10, 99)} {rng.randint(100, 999)} {rng.randint(100, 999)}"
        pool.append(person)
    mix = [("web-ship", 30), ("app-ship", 15), ("web-pickup", 15), ("app-pickup", 10), ("pos", 20), ("mkt", 10)]
    planned = []
    for _ in range(count):
        what = rng.choices([m for m, _ in mix], weights=[w for _, w in mix])[0]
        store = rng.choice(STORES)
        suffix, _, _, lat, lon, city, postal = store
        if what == "pos":
            role, kind = f"pos-{suffix}", "in_store"
            fulfilment: dict[str, Any] = {"type": "in_store", "location": catalog.locations[suffix]}
        elif what.endswith("pickup"):
            role, kind = what.split("-")[0], "pickup"
            fulfilment = {"type": "pickup", "location": catalog.locations[suffix]}
        else:
            role, kind = what.split("-")[0], "ship"
            fulfilment = {"type": "ship", "address": {
                "line1": f"{rng.choice(STREETS)} {rng.randint(1, 120)}", "city": city, "postal_code": postal,
                "country": "ES", "lat": round(lat + rng.uniform(-0.08, 0.08), 5),
                "lon": round(lon + rng.uniform(-0.08, 0.08), 5)}}
        channel = catalog.channels[role]
        lines = tuple((sku, rng.choice([1, 1, 1, 2, 2, 3])) for sku in rng.sample(catalog.skus, rng.randint(1, 4)))
        total = sum((catalog.prices[channel][sku] * q for sku, q in lines), Decimal(0))
        if kind == "in_store":
            method = rng.choice(["card", "card", "cash"])
        else:
            method = rng.choice(["card", "card", "card", "bizum", "paypal"])
        body: dict[str, Any] = {"channel": channel, "lines": [{"sku": s, "quantity": q} for s, q in lines],
                                "fulfilment": fulfilment, "payments": [{"method": method, "amount": str(total)}]}
        if rng.random() < 0.75:
            body["customer"] = rng.choice(pool)
        planned.append(PlannedOrder(kind, channel, json.dumps(body).encode(), lines))
    return planned


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    by_kind: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    sold: Counter[str] = field(default_factory=Counter)
    unpaid: int = 0
    samples: list[str] = field(default_factory=list)


class Feed:
    """The planned orders, handed out one at a time to whichever client is free."""

    def __init__(self, orders: list[PlannedOrder]) -> None:
        self._orders = orders
        self._next = 0
        self._lock = threading.Lock()

    def take(self) -> PlannedOrder | None:
        with self._lock:
            if self._next >= len(self._orders):
                return None
            self._next += 1
            return self._orders[self._next - 1]


def client_loop(url: str, keys: dict[str, str], admin_key: str, feed: Feed, tally: Tally,
                start: threading.Barrier) -> None:
    auth = {channel: f"Bearer {key}" for channel, key in keys.items()}
    with LeanClient(url, timeout=30) as http:
        http.get("/healthz")  # open the keep-alive connection before the clock starts
        start.wait()
        while (order := feed.take()) is not None:
            headers = {"Authorization": auth.get(order.channel, f"Bearer {admin_key}"),
                       "Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex}
            began = time.perf_counter()
            try:
                response = http.post("/api/v1/orders", order.body, headers=headers)
            except CLIENT_ERRORS as exc:
                tally.latencies.append(time.perf_counter() - began)
                tally.statuses[type(exc).__name__] += 1
                tally.errors[type(exc).__name__] += 1
                continue
            elapsed = time.perf_counter() - began
            tally.latencies.append(elapsed)
            tally.by_kind[order.kind].append(elapsed)
            tally.statuses[str(response.status_code)] += 1
            if response.status_code == 201:
                data = response.json()
                for line in data["lines"]:
                    tally.sold[line["sku"]] += line["quantity"]
                if data["payment_status"] != "paid":
                    tally.unpaid += 1
                continue
            code = response.json().get("code", "") if response.content else ""
            if response.status_code == 409 and code == "insufficient_stock":
                continue
            tally.errors[f"{response.status_code} {code}".strip()] += 1
            if len(tally.samples) < 3:
                tally.samples.append(response.content[:300].decode("utf-8", "replace"))


def run_orders(url: str, catalog: Catalog, admin_key: str, planned: list[PlannedOrder], clients: int
               ) -> dict[str, Any]:
    feed = Feed(planned)
    tallies = [Tally() for _ in range(clients)]
    start = threading.Barrier(clients + 1)
    threads = [threading.Thread(target=client_loop, args=(url, catalog.keys, admin_key, feed, tally, start))
               for tally in tallies]
    wall, client_cpu = run_clients(threads, start)
    latencies = sorted(x for t in tallies for x in t.latencies)
    statuses: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    sold: Counter[str] = Counter()
    by_kind: dict[str, list[float]] = defaultdict(list)
    for t in tallies:
        statuses.update(t.statuses)
        errors.update(t.errors)
        sold.update(t.sold)
        for kind, values in t.by_kind.items():
            by_kind[kind] += values
    created = statuses.get("201", 0)
    return {
        "attempts": len(latencies), "created": created, "seconds": wall, "rate": created / wall,
        "attempt_rate": len(latencies) / wall,
        "p50_ms": percentile(latencies, 50) * 1000, "p99_ms": percentile(latencies, 99) * 1000,
        "max_ms": latencies[-1] * 1000 if latencies else 0.0,
        "by_kind": {kind: {"count": len(v), "p50_ms": percentile(sorted(v), 50) * 1000,
                           "p99_ms": percentile(sorted(v), 99) * 1000} for kind, v in sorted(by_kind.items())},
        "statuses": dict(statuses), "errors": dict(errors), "sold": dict(sold),
        "unpaid": sum(t.unpaid for t in tallies), "samples": [s for t in tallies for s in t.samples][:3],
        "client_cpu": client_cpu,
    }


def cross_check(url: str, admin_key: str, catalog: Catalog, sold: dict[str, int]) -> dict[str, Any]:
    """Units gone from on-hand (counter sales) + units reserved (ship, pickup) must equal units sold, per SKU."""
    mismatched = []
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin_key}"}, timeout=300) as api:
        for sku in catalog.skus:
            stock = call(api, "GET", f"/api/v1/stock/{sku}")
            taken = sum(catalog.stock[sku].values()) - stock["on_hand"] + stock["reserved"]
            if taken != sold.get(sku, 0):
                mismatched.append({"sku": sku, "taken": taken, "sold": sold.get(sku, 0)})
        drift = call(api, "POST", "/api/v1/inventory/check")
    return {"mismatched": mismatched, "drift": drift}


# --- report ---------------------------------------------------------------------------------------------


def report(args: argparse.Namespace, catalog: Catalog, result: dict[str, Any], check: dict[str, Any]) -> bool:
    errors = sum(result["errors"].values())
    consistent = not check["mismatched"] and not check["drift"]
    table = Table(title=f"Orders: {result['attempts']:,} orders of 1-4 lines over {len(catalog.skus)} SKUs, "
                        f"{len(catalog.channels)} channels, 5 locations, {args.clients} clients", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("orders/s (201)", f"{result['rate']:,.0f}")
    table.add_row("latency p50 / p99 / max", f"{result['p50_ms']:.1f} / {result['p99_ms']:.1f} / "
                                             f"{result['max_ms']:.0f} ms")
    for kind, figures in result["by_kind"].items():
        table.add_row(f"  {kind} ({figures['count']:,})",
                      f"p50 {figures['p50_ms']:.1f} / p99 {figures['p99_ms']:.1f} ms")
    table.add_row("by status code", ", ".join(f"{k}: {v:,}" for k, v in sorted(result["statuses"].items())))
    listed = ", ".join(f"{k}: {v}" for k, v in result["errors"].items()) or "0"
    table.add_row("errors (not 201, not a clean 409)", f"[{'green' if errors == 0 else 'red'}]{listed}[/]")
    table.add_row("created but not paid in full", f"{result['unpaid']:,}")
    table.add_row("units sold", f"{sum(result['sold'].values()):,}")
    table.add_row("stock moved == units sold (per SKU)",
                  "[green]yes[/]" if not check["mismatched"] else f"[red]NO {check['mismatched'][:3]}[/]")
    table.add_row("POST /inventory/check", "[green][][/]" if not check["drift"] else f"[red]{check['drift'][:3]}[/]")
    table.add_row("channel keys", "one per channel" if catalog.keys else "admin key")
    table.add_row("load generator CPU (cores busy)", f"{result['client_cpu']:.2f}")
    console.print(table)
    for sample in result["samples"]:
        console.print(f"[red]sample error:[/] {sample}")
    pg = postgres_version(args.db_url) if args.db_url else "database not given"
    load = os.getloadavg()
    console.print(f"[dim]{machine()}; {pg}; omnihub {git_revision()}; load average {load[0]:.1f}; "
                  f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC[/dim]")
    return errors == 0 and consistent and result["unpaid"] == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--key", required=True, help="An admin key (omnihub apikey create --role admin)")
    parser.add_argument("--db-url", default=None,
                        help="The server's database URL: one channel key per channel (else the admin key is used)")
    parser.add_argument("--orders", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--skus", type=int, default=200)
    parser.add_argument("--customers", type=int, default=500, help="Size of the pool of named customers")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="Also print the figures as one JSON line")
    args = parser.parse_args()
    if args.db_url:
        os.environ.setdefault("OMNIHUB_DATABASE_URL", args.db_url)
    run = uuid.uuid4().hex[:6]
    with console.status(f"Setting up {args.skus} SKUs, 5 locations, 7 channels through the API ..."):
        catalog = set_up(args.url, args.key, args.db_url, args.skus, run, args.seed)
        planned = plan_orders(catalog, args.orders, args.seed, args.customers)
    with console.status(f"{args.clients} clients, {args.orders} orders ..."):
        result = run_orders(args.url, catalog, args.key, planned, args.clients)
    with console.status("Cross-checking stock and ledger ..."):
        check = cross_check(args.url, args.key, catalog, result["sold"])
    ok = report(args, catalog, result, check)
    if args.json:
        print(json.dumps({"result": {k: v for k, v in result.items() if k != "sold"}, "check": check}, default=str))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
