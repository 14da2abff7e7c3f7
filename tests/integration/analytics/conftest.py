"""A shop with a few months of history, made through the public API: orders in four channels and two currencies,
discounts, shipments, pickups, counter sales, partial and full returns refunded in several ways, an unpaid and
a cancelled order, an anonymous sale, a cart started in the app and sold in the store, a merged customer,
browsing sessions and NPS answers."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.builders import channel, location, ok, product, stock
from tests.conftest import make_key

from omnihub.core.clock import ManualClock
from omnihub.core.db import Database

START = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
PRICES = {"EUR": {"TEE": Decimal("20.00"), "MUG": Decimal("11.50"), "CAP": Decimal("15.00")},
          "GBP": {"TEE": Decimal("18.00"), "MUG": Decimal("10.00"), "CAP": Decimal("13.00")}}
ADDRESS = {"line1": "Calle Mayor 1", "city": "Madrid", "postal_code": "28013", "country": "ES",
           "lat": 40.4155, "lon": -3.7074}
UK_ADDRESS = {"line1": "1 High St", "city": "London", "postal_code": "N1 9GU", "country": "GB"}


def _set_up(api: TestClient) -> None:
    location(api, "wh", kind="warehouse", lat=40.3456, lon=-3.6985, pickup=False)
    location(api, "mad", lat=40.4168, lon=-3.7038)
    location(api, "bcn", lat=41.3874, lon=2.1686)
    for sku in PRICES["EUR"]:
        product(api, sku, category="apparel" if sku != "MUG" else "home")
    channel(api, "web", kind="web", locations=["wh", "mad", "bcn"])
    channel(api, "app", kind="app", locations=["wh", "mad", "bcn"])
    channel(api, "store", kind="store", locations=["mad", "bcn"])
    channel(api, "uk", kind="web", locations=["wh"], currency="GBP", country="GB")
    for tax_class, rate in (("standard", "20"), ("reduced", "5")):
        ok(api.put(f"/api/v1/tax-rates/{tax_class}/GB", json={"rate": rate}))
    for code, currency in (("web", "EUR"), ("app", "EUR"), ("store", "EUR"), ("uk", "GBP")):
        ok(api.put(f"/api/v1/channels/{code}/prices",
                   json=[{"sku": s, "amount": str(a)} for s, a in PRICES[currency].items()]))
    for loc, units in (("wh", 400), ("mad", 150), ("bcn", 150)):
        for sku in PRICES["EUR"]:
            stock(api, loc, sku, units)
    ok(api.post("/api/v1/promotions", json={"code": "SAVE5", "kind": "fixed", "value": "5.00",
                                            "currency": "EUR"}), 201)


class Shop:
    """Drives the API and remembers what it made."""

    def __init__(self, api: TestClient, clock: ManualClock, db: Database) -> None:
        self.api, self.clock, self.db = api, clock, db
        self.orders: list[dict[str, Any]] = []
        self.associates: dict[str, dict[str, str]] = {}

    def associate(self, store: str) -> dict[str, str]:
        if store not in self.associates:
            key = make_key(self.db, self.clock, "associate", location=store)
            self.associates[store] = {"Authorization": f"Bearer {key}"}
        return self.associates[store]

    def order(self, chan: str, email: str | None, lines: list[tuple[str, int]], *, how: str = "ship",
              store: str = "mad", code: str | None = None, pay: bool = True) -> dict[str, Any]:
        currency = "GBP" if chan == "uk" else "EUR"
        total = sum(PRICES[currency][s] * q for s, q in lines) - (Decimal(5) if code else 0)
        fulfilment: dict[str, Any] = {"type": how}
        if how == "ship":
            fulfilment["address"] = UK_ADDRESS if chan == "uk" else ADDRESS
        else:
            fulfilment["location"] = store
        body: dict[str, Any] = {"channel": chan, "lines": [{"sku": s, "quantity": q} for s, q in lines],
                                "fulfilment": fulfilment, "promotion_codes": [code] if code else []}
        if email:
            body["customer"] = {"email": email}
        if pay:
            body["payments"] = [{"method": "card", "amount": str(total)}]
        made = ok(self.api.post("/api/v1/orders", json=body), 201)
        assert made["totals"]["total"] == str(total), made["totals"]
        self.orders.append(made)
        return made

    def ship(self, order: dict[str, Any]) -> None:
        for loc in sorted({line["location"] for line in order["lines"]}):
            headers = self.associate(loc) if loc != "wh" else {}
            ok(self.api.post(f"/api/v1/orders/{order['id']}/shipments", headers=headers,
                             json={"carrier": "correos", "tracking_number": "PQ1", "location": loc}), 201)

    def collect(self, order: dict[str, Any]) -> None:
        store = order["pickup"]["location"]
        ready = ok(self.api.post(f"/api/v1/orders/{order['id']}/ready", headers=self.associate(store)))
        ok(self.api.post(f"/api/v1/orders/{order['id']}/collect", headers=self.associate(store),
                         json={"code": ready["pickup"]["code"]}))

    def give_back(self, order: dict[str, Any], lines: list[tuple[str, int]], *, method: str = "original",
                  store: str = "bcn", condition: str = "resellable") -> None:
        ok(self.api.post("/api/v1/returns", headers=self.associate(store), json={
            "order": order["id"], "lines": [{"sku": s, "quantity": q} for s, q in lines], "location": store,
            "condition": condition, "refund_method": method}), 201)

    def events(self, events: list[dict[str, Any]]) -> None:
        ok(self.api.post("/api/v1/events", json=events))

    def later(self, **delta: float) -> None:
        self.clock.advance(**delta)


def build_history(api: TestClient, clock: ManualClock, db: Database, seed: int = 7) -> Shop:
    """About fifty orders over four months. Deterministic for a seed."""
    clock.set(START)
    _set_up(api)
    shop = Shop(api, clock, db)
    rnd = random.Random(seed)
    people = [f"cliente{i}@correo.es" for i in range(24)]
    skus = list(PRICES["EUR"])
    for i in range(56):
        shop.later(hours=rnd.randint(20, 60))
        chan = rnd.choice(["web", "web", "app", "store", "uk"])
        # A core of regulars and a tail of one-off buyers; the UK shop has mostly its own customers.
        if chan == "uk":
            email = rnd.choice(people[4:] if i % 3 else people[18:])
        else:
            email = rnd.choice(people[:6] if i % 2 else people[:18])
        lines = [(s, rnd.randint(1, 3)) for s in rnd.sample(skus, rnd.randint(1, 2))]
        code = "SAVE5" if chan != "uk" and i % 5 == 0 else None
        if chan == "store":
            order = shop.order(chan, email if i % 7 else None, lines, how="in_store",
                               store=rnd.choice(["mad", "bcn"]), code=code)
        elif chan in ("web", "app") and i % 3 == 0:
            order = shop.order(chan, email, lines, how="pickup", store=rnd.choice(["mad", "bcn"]), code=code)
            shop.collect(order)
        else:
            order = shop.order(chan, email, lines, code=code)
            shop.ship(order)
        if i % 6 == 1:  # a partial return, refunded to the card or as store credit
            sku = lines[0][0]
            shop.later(hours=20)
            shop.give_back(order, [(sku, 1)], method="store_credit" if i % 12 == 1 else "original")
        elif i % 11 == 4:  # everything comes back
            shop.later(hours=20)
            shop.give_back(order, lines, condition="damaged")
        if i % 4 == 0:  # browsing: several sessions in one channel or another
            when = clock.now()
            shop.events([
                {"type": "page_viewed", "channel": ("web", "app", "store")[(i // 4) % 3],
                 "at": (when - timedelta(minutes=m)).isoformat(), "identity": {"email": email},
                 "properties": {"path": "/"}} for m in (5, 20, 200, 215, 3000)])
        if i % 5 == 2:
            store = rnd.choice(["mad", "bcn"])
            shop.events([{"type": "nps_answered", "channel": "store" if i % 2 else "web", "at": clock.now().isoformat(),
                          "identity": {"email": email}, "properties": {"score": rnd.randint(0, 10),
                                                                       "location": store}}])
    # A stock-out: the Madrid store's tees are counted at zero for a day and a half, then refilled.
    stock(api, "mad", "TEE", 0)
    shop.later(hours=36)
    stock(api, "mad", "TEE", 40)
    # Not sales: an order still waiting for its money, and a cancelled one.
    shop.later(hours=30)
    shop.order("web", people[0], [("TEE", 1)], pay=False)
    cancelled = shop.order("app", people[1], [("MUG", 2)])
    ok(api.post(f"/api/v1/orders/{cancelled['id']}/cancel"))
    # A cart started in the app, sold at the store counter.
    cart = ok(api.post("/api/v1/carts", json={"channel": "app", "identity": {"email": people[2]}}), 201)
    ok(api.put(f"/api/v1/carts/{cart['id']}/lines", json=[{"sku": "CAP", "quantity": 2}]))
    sold = ok(api.post(f"/api/v1/carts/{cart['id']}/checkout", json={
        "channel": "store", "fulfilment": {"type": "in_store", "location": "bcn"},
        "payments": [{"method": "card", "amount": "30.00"}]}), 201)
    shop.orders.append(sold)
    # Two profiles turn out to be one person: a UK buyer's profile is merged into a Spanish regular's.
    survivor = next(o["customer_id"] for o in shop.orders if o["customer_id"] and o["channel"] == "web")
    absorbed = next(o["customer_id"] for o in shop.orders if o["customer_id"] not in (None, survivor)
                    and o["channel"] == "uk")
    ok(api.post(f"/api/v1/customers/{survivor}/merge", json={"other": absorbed}), 201)
    shop.later(hours=5)
    return shop


@pytest.fixture
def history(admin: TestClient, clock: ManualClock, db: Database) -> Shop:
    return build_history(admin, clock, db)
