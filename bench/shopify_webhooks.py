"""Benchmark: signed Shopify `orders/create` webhooks into a running server (meant for PostgreSQL).

    omnihub serve --workers 2          # OMNIHUB_DATABASE_URL=postgresql://...
    python bench/shopify_webhooks.py --url http://127.0.0.1:8000 --key ADMIN_KEY --orders 2000 --clients 8

Set-up (through the API, under a fresh run prefix so it can be repeated on the same database): a warehouse, a
channel selling from it, the three SKUs of the real Shopify order (../shared/datasets/shopify/order.json, which
every webhook is derived from) with plenty of stock, and the channel's Shopify connection (its shop is a name that
never resolves: stock pushes fail and retry in the worker, which is not what is measured here).

Each webhook is the dataset's order with its own id, number, customer and e-mail (a pool of --customers people,
so profiles are resolved and reused), signed as Shopify signs it (base64 HMAC-SHA256 of the raw body,
X-Shopify-Hmac-Sha256) with its own X-Shopify-Webhook-Id. They are built before the clock starts; --clients
threads with one keep-alive connection each send them until all are used. Then --duplicates of them are sent
again (Shopify's retries) and must answer `duplicate`.

Prints webhooks/s, p50/p95/p99 latency, answers by outcome, errors, the load generator's own CPU, and checks:
one order per webhook (`GET /api/v1/orders?channel=`), on-hand dropped by exactly the units sold.
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import hmac
import json
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    CLIENT_ERRORS,
    LeanClient,
    call,
    git_revision,
    machine,
    percentile,
    postgres_version,
    run_clients,
)

DATASET = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "shopify" / "order.json"
SECRET = "bench-shopify-webhook-secret"


def dataset_order(path: Path) -> dict[str, Any]:
    if not path.exists():
        path = Path("/work/shared/datasets/shopify/order.json")
    return json.loads(path.read_text())["order"]


def webhooks(template: dict[str, Any], count: int, customers: int, prefix: str, skus: dict[str, str]
             ) -> list[tuple[bytes, dict[str, str]]]:
    built = []
    for n in range(count):
        order = copy.deepcopy(template)
        person = n % customers
        order["id"] = 10**12 + n
        order["name"] = f"#{prefix}-{n}"
        order["email"] = f"{prefix}-{person}@correo.es"
        order["customer"] = {**order["customer"], "id": 10**11 + person, "email": order["email"]}
        order["customer"]["default_address"] = {**order["customer"]["default_address"], "phone": None}
        order["billing_address"] = {**order["billing_address"], "phone": None}
        for line in order["line_items"]:
            line["sku"] = skus[line["sku"]]
        body = json.dumps(order).encode()
        digest = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
        built.append((body, {"X-Shopify-Hmac-Sha256": digest, "X-Shopify-Topic": "orders/create",
                             "X-Shopify-Webhook-Id": str(uuid.uuid4()), "Content-Type": "application/json"}))
    return built


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--db-url", default=None, help="only to print the PostgreSQL version")
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--customers", type=int, default=500)
    parser.add_argument("--duplicates", type=int, default=200)
    args = parser.parse_args()
    console = Console()
    prefix = uuid.uuid4().hex[:6]
    channel, location = f"shop-{prefix}", f"wh-{prefix}"
    template = dataset_order(DATASET)
    skus = {line["sku"]: f"{line['sku']}-{prefix}" for line in template["line_items"]}
    units = {sku: sum(1 for line in template["line_items"] if skus[line["sku"]] == sku) for sku in skus.values()}
    stock = args.orders * 2

    admin = httpx.Client(base_url=args.url, headers={"Authorization": f"Bearer {args.key}"}, timeout=60)
    call(admin, "POST", "/api/v1/locations", json={"code": location, "name": "Bench warehouse", "kind": "warehouse"})
    call(admin, "POST", "/api/v1/channels", json={"code": channel, "name": "Bench Shopify", "kind": "web",
                                                  "currency": "USD", "country": "US", "locations": [location]})
    for sku in skus.values():
        call(admin, "POST", "/api/v1/products", json={"sku": sku, "name": f"iPod {sku}", "category": "music"})
        call(admin, "PUT", f"/api/v1/stock/{location}/{sku}", json={"on_hand": stock})
    call(admin, "PUT", f"/api/v1/connectors/shopify/{channel}", json={
        "shop_domain": f"{prefix}.myshopify.com", "webhook_secret": SECRET, "access_token": "shpat_bench",
        "api_base": f"https://{prefix}.shop.invalid", "default_location": location})

    batch = webhooks(template, args.orders, args.customers, prefix, skus)
    path = f"/api/v1/connectors/shopify/{channel}/webhooks"
    latencies: list[float] = []
    outcomes: Counter[str] = Counter()
    errors: list[str] = []
    lock, start = threading.Lock(), threading.Event()
    cursor = iter(range(len(batch)))

    def client() -> None:
        mine: list[float] = []
        seen: Counter[str] = Counter()
        with LeanClient(args.url) as http:
            start.set()
            while True:
                with lock:
                    index = next(cursor, None)
                if index is None:
                    break
                body, headers = batch[index]
                t0 = time.perf_counter()
                try:
                    answer = http.post(path, body, headers)
                except CLIENT_ERRORS as exc:
                    with lock:
                        errors.append(type(exc).__name__)
                    continue
                mine.append(time.perf_counter() - t0)
                outcome = answer.json().get("outcome", f"http {answer.status_code}") if answer.status_code == 200 \
                    else f"http {answer.status_code}"
                seen[outcome] += 1
        with lock:
            latencies.extend(mine)
            outcomes.update(seen)

    wall, load_cpu = run_clients([threading.Thread(target=client) for _ in range(args.clients)], start)

    duplicates: Counter[str] = Counter()
    with LeanClient(args.url) as http:
        for body, headers in batch[:args.duplicates]:
            duplicates[http.post(path, body, headers).json().get("outcome", "?")] += 1

    orders, cursor_param = 0, None
    while True:
        params = {"channel": channel, "limit": 200, **({"cursor": cursor_param} if cursor_param else {})}
        page = call(admin, "GET", "/api/v1/orders", params=params)
        orders += len(page["items"])
        cursor_param = page.get("next_cursor")
        if not cursor_param:
            break
    on_hand = {sku: call(admin, "GET", f"/api/v1/stock/{location}/{sku}")["on_hand"] for sku in skus.values()}
    expected = {sku: stock - units[sku] * outcomes.get("applied", 0) for sku in skus.values()}

    latencies.sort()
    console.print(f"[bold]shopify orders/create webhooks[/] {machine()}, "
                  f"{postgres_version(args.db_url) if args.db_url else 'database ?'}, commit {git_revision()}")
    console.print(f"{len(batch)} webhooks, {args.clients} clients, {args.customers} customers: "
                  f"[bold]{len(latencies) / wall:,.0f} webhooks/s[/] in {wall:.1f} s; "
                  f"p50 {percentile(latencies, 50) * 1000:.1f} ms, p95 {percentile(latencies, 95) * 1000:.1f} ms, "
                  f"p99 {percentile(latencies, 99) * 1000:.1f} ms; load generator {load_cpu:.2f} cores")
    console.print(f"outcomes {dict(outcomes)}; errors {Counter(errors)}; resent {args.duplicates}: "
                  f"{dict(duplicates)}")
    console.print(f"check: {orders} orders for {outcomes.get('applied', 0)} applied webhooks "
                  f"({'ok' if orders == outcomes.get('applied', 0) == len(batch) else 'MISMATCH'}); on hand "
                  f"{'ok' if on_hand == expected else f'MISMATCH {on_hand} != {expected}'}")


if __name__ == "__main__":
    main()
