"""The demo business, seen through the public API, and `omnihub demo` as a newcomer runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.builders import ok

from omnihub.commerce.models import carts, orders
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.core.migrate import upgrade
from omnihub.core.security import KeyAuthenticator, Role
from omnihub.customers.models import customers
from omnihub.demo import generate_customers, load_demo


def _all(api: TestClient, path: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 500}
    while True:
        page = ok(api.get(path, params=params))
        items += page["items"]
        if not page["next_cursor"]:
            return items
        params["cursor"] = page["next_cursor"]


def _valid_ean13(code: str) -> bool:
    if len(code) != 13 or not code.isdigit():
        return False
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(code[:12]))
    return (10 - total % 10) % 10 == int(code[12])


def _people(api: TestClient) -> list[dict[str, Any]]:
    """The demo's customers as the counter finds them (by e-mail), with their orders from every channel."""
    found = []
    for person in generate_customers():
        response = api.get("/api/v1/customers/lookup", params={"email": person.email})
        if response.status_code == 404:
            continue
        customer = ok(response)
        customer["orders"] = _all(api, f"/api/v1/customers/{customer['id']}/orders")
        found.append(customer)
    return found


def _snapshot(api: TestClient) -> dict[str, Any]:
    products = _all(api, "/api/v1/products")
    people = _people(api)
    return {
        "locations": _all(api, "/api/v1/locations"),
        "channels": _all(api, "/api/v1/channels"),
        "products": sorted(p["sku"] for p in products),
        "stock": [ok(api.get(f"/api/v1/stock/{p['sku']}")) for p in products[:25]],
        "customers": [(c["id"], c["stats"]["orders_count"], c["stats"]["lifetime_value"],
                       (c.get("open_cart") or {}).get("id")) for c in people],
        "orders": sorted((o["id"], o["number"], o["status"], o["totals"]["total"]) for c in people
                         for o in c["orders"]),
    }


def test_demo_business_is_complete_and_consistent(db: Database, clock: ManualClock, admin: TestClient) -> None:
    summary = load_demo(db, clock)

    assert summary.startswith("Demo data loaded.")
    locations = _all(admin, "/api/v1/locations")
    stores = [loc for loc in locations if loc["kind"] == "store"]
    warehouses = [loc for loc in locations if loc["kind"] == "warehouse"]
    assert len(warehouses) == 1
    assert len(stores) >= 4
    for loc in locations:  # all in Spain
        assert 36.0 <= loc["lat"] <= 43.8 and -9.3 <= loc["lon"] <= 3.3, loc
    assert all(store["pickup"] for store in stores)

    channels = _all(admin, "/api/v1/channels")
    assert {"web", "app", "store", "marketplace"} <= {c["kind"] for c in channels}
    assert {c["currency"] for c in channels} == {"EUR"}
    assert {c["country"] for c in channels} == {"ES"}
    assert all(c["locations"] for c in channels)
    assert any(c["kind"] == "marketplace" and c["stock_buffer"] > 0 for c in channels)

    products = _all(admin, "/api/v1/products")
    assert len(products) >= 200
    categories = Counter(p["category"] for p in products)
    assert len(categories) >= 4
    assert all(p["barcode"] and _valid_ean13(p["barcode"]) for p in products)
    groups = Counter(p["group"] for p in products if p["group"])
    assert groups and max(groups.values()) >= 4  # size/colour variants share a group

    skus = [p["sku"] for p in products[:30]]
    for chan in channels:
        available = [ok(admin.get(f"/api/v1/availability/{sku}", params={"channel": chan["code"]}))["available"]
                     for sku in skus]
        assert any(a > 0 for a in available), chan["code"]
        prices = ok(admin.get(f"/api/v1/channels/{chan['code']}/prices", params={"limit": 500}))["items"]
        assert len(prices) == min(500, len(products)), chan["code"]

    assert ok(admin.post("/api/v1/inventory/check")) == []


def test_marketplace_prices_are_higher_than_web(db: Database, clock: ManualClock, admin: TestClient) -> None:
    load_demo(db, clock)

    web = {p["sku"]: float(p["amount"]) for p in _all(admin, "/api/v1/channels/web/prices")}
    market = {p["sku"]: float(p["amount"]) for p in _all(admin, "/api/v1/channels/marketplace/prices")}

    assert web.keys() == market.keys()
    assert all(market[sku] > web[sku] for sku in web)


def test_demo_has_customers_with_carts_and_an_order_history_across_channels(
        db: Database, clock: ManualClock, admin: TestClient) -> None:
    load_demo(db, clock)

    people = _people(admin)
    assert len(people) == len(generate_customers()) >= 40
    assert all(any(i["kind"] == "email" for i in c["identities"]) for c in people)
    assert sum(1 for c in people if any(i["kind"] == "phone" for i in c["identities"])) >= 20
    browsed = ok(admin.get(f"/api/v1/customers/{people[0]['id']}/timeline"))["items"]
    assert any(item["type"] in ("product_viewed", "searched", "page_viewed", "store_visit") for item in browsed)
    merged = [c for c in people if c["merged_ids"]]
    assert len(merged) >= 3  # met online by e-mail and at the till by phone, then recognised as one person
    assert all({"email", "phone"} <= {i["kind"] for i in c["identities"]} for c in merged)

    orders = [o for c in people for o in c["orders"]]
    assert len(orders) >= 100
    kinds = {c["code"]: c["kind"] for c in _all(admin, "/api/v1/channels")}
    assert {"web", "app", "store", "marketplace"} <= {kinds[o["channel"]] for o in orders}
    assert {o["fulfilment"]["type"] for o in orders} == {"ship", "pickup", "in_store"}
    assert all(o["payment_status"] != "unpaid" for o in orders)
    payments = ok(admin.get("/api/v1/payments", params={"order": orders[0]["id"]}))
    assert payments["paid"] == orders[0]["totals"]["total"]
    statuses = Counter(o["status"] for o in orders)
    assert statuses["collected"] >= 10 and statuses["shipped"] + statuses["delivered"] >= 10
    assert statuses["partially_returned"] + statuses["returned"] >= 2

    ready = [o for o in orders if o["status"] == "ready_for_pickup"]
    assert len(ready) >= 3
    assert all(o["pickup"]["status"] == "ready" and o["pickup"]["expires_at"] > clock.now().isoformat()
               for o in ready)

    carts = [c["open_cart"] for c in people if c.get("open_cart")]
    assert len(carts) >= 3
    assert any(cart["channel"] == "app" for cart in carts)
    assert all(cart["lines"] and cart["status"] == "open" for cart in carts)
    assert ok(admin.post("/api/v1/inventory/check")) == []


def test_second_load_reuses_the_data_and_changes_nothing(db: Database, clock: ManualClock,
                                                         admin: TestClient) -> None:
    load_demo(db, clock)
    before = _snapshot(admin)

    summary = load_demo(db, clock)

    assert "reused" in summary
    assert _snapshot(admin) == before


def _run_demo(db_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMNIHUB_DATABASE_URL": db_url, "OMNIHUB_SECRET_KEY": "demo-test-secret"}
    return subprocess.run([sys.executable, "-m", "omnihub.cli", "demo", "--no-serve"], env=env,
                          capture_output=True, text=True, timeout=300)


def test_demo_command_prints_a_working_admin_key_and_reruns_cleanly(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'x.db'}"

    first = _run_demo(db_url)
    second = _run_demo(db_url)

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert "Demo data loaded." in first.stderr
    assert "reused" in second.stderr
    keys = [run.stdout.strip().splitlines()[-1] for run in (first, second)]
    assert keys[0] != keys[1]
    upgrade(db_url)  # already current: proves the command left a migrated schema behind
    db = Database(db_url)
    try:
        auth = KeyAuthenticator("demo-test-secret", cache_seconds=0)
        for key in keys:
            assert auth.authenticate(db.read, key).role is Role.ADMIN
    finally:
        db.dispose()


def test_demo_command_moves_the_orders_of_profiles_it_merges(tmp_path: Path) -> None:
    """`omnihub demo` never builds the web app: the rooms are wired by `bootstrap()` all the same, so when the
    demo recognises a till customer and an online one as one person, their orders and carts follow the merge
    (they used to stay on the profile merged away, and `GET /customers/{id}/orders` lost them)."""
    db_url = f"sqlite:///{tmp_path / 'x.db'}"

    run = _run_demo(db_url)

    assert run.returncode == 0, run.stderr
    db = Database(db_url)
    try:
        with db.read() as conn:
            merged_away = sa.select(customers.c.id).where(customers.c.status == "merged")
            merged = conn.execute(sa.select(sa.func.count()).select_from(merged_away.subquery())).scalar()
            stranded_orders = conn.execute(sa.select(sa.func.count()).select_from(orders)
                                           .where(orders.c.customer_id.in_(merged_away))).scalar()
            stranded_carts = conn.execute(sa.select(sa.func.count()).select_from(carts)
                                          .where(carts.c.customer_id.in_(merged_away))).scalar()
            moved = conn.execute(sa.select(sa.func.count()).select_from(orders).where(
                orders.c.origin_customer_id.in_(merged_away))).scalar()
    finally:
        db.dispose()
    assert merged >= 3
    assert moved >= 1  # the merged-away profiles did have orders
    assert (stranded_orders, stranded_carts) == (0, 0)
