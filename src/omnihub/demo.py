"""A realistic demo business (a Spanish fashion-and-lifestyle retailer), loaded through the room services.

Why through the services and not fixtures or raw SQL: the demo then has a ledger that balances, events
in the outbox and every invariant the real API would enforce, so what a newcomer sees is what production
would hold. Everything is generated from a seeded random generator, so two fresh installs show the same
shop, and it is loaded in one transaction: either the whole business is there or none of it is, which
makes "is the demo already loaded?" a single question (does the central warehouse exist?).

On top of the shop, a second transaction loads the people and their history: ~50 customers with identities,
browsing events, a few open carts, ~150 past orders over four months across web, app, stores and marketplace
(ship, pickup, counter sales, paid by card, Bizum, PayPal or cash), shipments, collected pickups, a few pickups
ready and waiting at the counter, and a couple of returns. Its own question is "does the first demo customer
exist?", so a database holding an older demo (shop only) gains the customers on the next run.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.engine import Connection

from omnihub.bootstrap import bootstrap
from omnihub.catalog import queries as catalog_queries
from omnihub.catalog import service as catalog
from omnihub.commerce import queries as commerce_queries
from omnihub.commerce.carts import create_cart, set_cart_lines
from omnihub.commerce.fulfilment import collect, mark_delivered, mark_ready, ship
from omnihub.commerce.orders import place_order
from omnihub.commerce.returns import create_return
from omnihub.core.clock import Clock
from omnihub.core.db import Database
from omnihub.core.errors import DomainError, NotFound
from omnihub.customers import activity as customer_activity
from omnihub.customers import queries as customers_queries
from omnihub.customers import resolution as customer_resolution
from omnihub.inventory import queries as inventory_queries
from omnihub.inventory import stock as inventory_stock

SEED = 20260105
CURRENCY = "EUR"
COUNTRY = "ES"
WAREHOUSE = "wh-getafe"

# (code, name, kind, lat, lon, pickup). Real addresses' coordinates; the warehouse is the Getafe logistics park.
LOCATIONS: list[tuple[str, str, str, float, float, bool]] = [
    (WAREHOUSE, "Central warehouse Getafe", "warehouse", 40.3057, -3.7329, False),
    ("store-madrid", "Madrid Gran Vía", "store", 40.4203, -3.7058, True),
    ("store-barcelona", "Barcelona Passeig de Gràcia", "store", 41.3917, 2.1649, True),
    ("store-valencia", "Valencia Carrer de Colón", "store", 39.4697, -0.3705, True),
    ("store-sevilla", "Sevilla Calle Sierpes", "store", 37.3925, -5.9950, True),
    ("store-bilbao", "Bilbao Gran Vía", "store", 43.2630, -2.9350, True),
]
STORES = [code for code, _, kind, *_ in LOCATIONS if kind == "store"]

MARKETPLACE_BUFFER = 2
# What each channel adds to the base (web) price: the app matches the web, stores match the web,
# the marketplace passes on part of its commission.
PRICE_FACTOR = {"web": Decimal("1"), "app": Decimal("1"), "store": Decimal("1"), "marketplace": Decimal("1.08")}


@dataclass(frozen=True)
class ChannelSpec:
    code: str
    name: str
    kind: str
    locations: list[str]
    stock_buffer: int = 0


def _channel_specs() -> list[ChannelSpec]:
    everywhere = [WAREHOUSE, *STORES]
    specs = [
        ChannelSpec("web", "Web shop", "web", everywhere),
        ChannelSpec("app", "Mobile app", "app", everywhere),
    ]
    for store in STORES:  # one POS channel per store: a till sells what is on its own shelves
        city = store.removeprefix("store-")
        specs.append(ChannelSpec(f"pos-{city}", f"POS {city.title()}", "store", [store]))
    specs.append(ChannelSpec("marketplace", "Marketplace (Amazon ES)", "marketplace", [WAREHOUSE],
                             stock_buffer=MARKETPLACE_BUFFER))
    return specs


# --- products ------------------------------------------------------------------------------------------

COLOURS = ["black", "white", "navy", "olive", "sand", "burgundy", "grey", "sky blue", "terracotta"]
APPAREL_TYPES = [("TSH", "T-shirt", 12.95), ("SHR", "Shirt", 29.95), ("JNS", "Jeans", 39.95),
                 ("JKT", "Jacket", 79.95), ("DRS", "Dress", 45.95), ("SWT", "Sweater", 35.95),
                 ("CHN", "Chinos", 34.95), ("HOD", "Hoodie", 32.95)]
APPAREL_STYLES = ["Linen", "Organic Cotton", "Relaxed", "Slim Fit", "Oversized", "Merino", "Recycled",
                  "Essential", "Heritage", "Coastal"]
SIZES = ["XS", "S", "M", "L", "XL"]
FOOTWEAR_TYPES = [("SNK", "Sneakers", 59.95), ("ESP", "Espadrilles", 24.95), ("BOT", "Ankle Boots", 89.95),
                  ("SND", "Sandals", 34.95), ("LOF", "Loafers", 69.95)]
FOOTWEAR_STYLES = ["Canvas", "Leather", "Suede", "Trail", "Classic", "Minimal"]
SHOE_SIZES = ["38", "39", "40", "41", "42", "43"]
HOME = {"nouns": [("Cushion Cover", 14.95), ("Throw Blanket", 39.95), ("Ceramic Vase", 22.95),
                  ("Scented Candle", 12.95), ("Bath Towel", 16.95), ("Table Lamp", 49.95),
                  ("Serving Bowl", 18.95), ("Duvet Cover", 54.95), ("Storage Basket", 19.95)],
        "words": ["Mediterranean", "Terracotta", "Jute", "Stoneware", "Washed Linen", "Rattan",
                  "Olive Wood", "Boucle"]}
ELECTRONICS = {"nouns": [("Wireless Earbuds", 49.95), ("Bluetooth Speaker", 39.95), ("Power Bank", 24.95),
                         ("Smartwatch", 129.00), ("USB-C Charger", 19.95), ("Phone Case", 14.95),
                         ("Over-Ear Headphones", 89.00), ("Fitness Band", 34.95)],
               "words": ["Pro", "Lite", "Max", "Go", "Air", "Sport", "Mini"]}
BEAUTY = {"nouns": [("Eau de Toilette 100 ml", 34.95), ("Face Serum 30 ml", 21.95),
                    ("Hand Cream 75 ml", 7.95), ("Body Lotion 250 ml", 11.95), ("Lip Balm", 4.95),
                    ("Shampoo 300 ml", 8.95), ("Sunscreen SPF50 200 ml", 16.95)],
          "words": ["Orange Blossom", "Rosemary", "Sea Salt", "Fig", "Aloe", "Neroli", "Lavender"]}


def channel_price(base: Decimal, kind: str) -> Decimal:
    """The base (web) price adjusted for the channel; a marked-up price is rounded up to end in .99."""
    factor = PRICE_FACTOR[kind]
    if factor == 1:
        return base
    return Decimal(int(base * factor)) + Decimal("0.99")


def ean13(first12: str) -> str:
    """A valid EAN-13: the 12 given digits plus the GS1 check digit (weights 1,3,1,3... from the left)."""
    if len(first12) != 12 or not first12.isdigit():
        raise ValueError(f"EAN-13 needs 12 digits before the check digit, got {first12!r}")
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(first12))
    return first12 + str((10 - total % 10) % 10)


def _price(rng: random.Random, base: float) -> Decimal:
    """Retail-looking prices: the list price nudged a little, always ending in .95 / .99 / .00."""
    value = base * rng.uniform(0.85, 1.25)
    euros = int(value)
    cents = rng.choice([".95", ".99", ".00"]) if base >= 100 else rng.choice([".95", ".99"])
    return Decimal(f"{max(euros, 1)}{cents}")


@dataclass
class DemoProduct:
    sku: str
    name: str
    category: str
    price: Decimal
    group: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    barcode: str = ""


def generate_products(seed: int = SEED) -> list[DemoProduct]:
    """The catalogue: apparel and footwear with size/colour variants sharing a group, plus home, electronics
    and beauty singles. Deterministic for a given seed."""
    rng = random.Random(seed)
    items: list[DemoProduct] = []
    style_no = 0
    for code, noun, base in APPAREL_TYPES:
        for style in rng.sample(APPAREL_STYLES, 2):
            style_no += 1
            group = f"AP-{code}-{style_no:03d}"
            price = _price(rng, base)
            for colour in rng.sample(COLOURS, 2):
                sizes = SIZES if noun != "Dress" else SIZES[:4]
                for size in sizes:
                    items.append(DemoProduct(
                        sku=f"{group}-{colour.replace(' ', '')[:3].upper()}-{size}",
                        name=f"{style} {noun}, {colour}, {size}", category="apparel", price=price, group=group,
                        attributes={"size": size, "colour": colour, "style": style.lower()}))
    for code, noun, base in FOOTWEAR_TYPES:
        for style in rng.sample(FOOTWEAR_STYLES, 2):
            style_no += 1
            group = f"FW-{code}-{style_no:03d}"
            price = _price(rng, base)
            colour = rng.choice(COLOURS[:6])
            for size in SHOE_SIZES:
                items.append(DemoProduct(
                    sku=f"{group}-{colour.replace(' ', '')[:3].upper()}-{size}",
                    name=f"{style} {noun}, {colour}, EU {size}", category="footwear", price=price, group=group,
                    attributes={"size": size, "colour": colour, "style": style.lower()}))
    for category, prefix, words in (("home", "HM", HOME), ("electronics", "EL", ELECTRONICS),
                                    ("beauty", "BT", BEAUTY)):
        seen: set[str] = set()
        while len(seen) < 40:
            noun, base = rng.choice(words["nouns"])
            word = rng.choice(words["words"])
            name = f"{word} {noun}" if category != "electronics" else f"{noun} {word}"
            if name in seen:
                continue
            seen.add(name)
            items.append(DemoProduct(sku=f"{prefix}-{len(seen):04d}", name=name, category=category,
                                     price=_price(rng, base), attributes={"line": word.lower()}))
    for number, item in enumerate(items, start=1):
        # 84 = GS1 Spain; 5 digits stand for the (fictional) company, 5 for the item.
        item.barcode = ean13(f"84{31415:05d}{number:05d}")
    return items


# --- stock ---------------------------------------------------------------------------------------------


@dataclass
class StockPlan:
    receipts: list[dict[str, Any]]
    counts: list[tuple[str, str, int, int]]  # (location, sku, on_hand, safety_stock) via a stock count
    quotas: list[tuple[str, str, str, int]]  # (location, sku, channel, units)


def plan_stock(products: list[DemoProduct], seed: int = SEED) -> StockPlan:
    """Warehouse deep, stores shallow; some SKUs are out of stock in a store, a few carry safety stock,
    and two kinds of ring-fence: a store keeps 2 for walk-ins, the warehouse holds 10 for the marketplace."""
    rng = random.Random(seed + 1)
    receipts: list[dict[str, Any]] = []
    counts: list[tuple[str, str, int, int]] = []
    quotas: list[tuple[str, str, str, int]] = []
    for index, product in enumerate(products):
        deep = rng.randint(40, 400) if product.category != "electronics" else rng.randint(20, 150)
        if index % 10 == 3:  # recounted with safety stock (damaged-goods margin, display units...)
            counts.append((WAREHOUSE, product.sku, deep, rng.randint(2, 8)))
        else:
            receipts.append({"kind": "receipt", "location": WAREHOUSE, "sku": product.sku, "quantity": deep,
                             "reference": "demo-po-0001", "reason": "opening stock"})
        for store in STORES:
            roll = rng.random()
            if roll < 0.12:
                counts.append((store, product.sku, 0, 0))  # counted, none on the shelf
            elif roll < 0.25:
                continue  # never stocked at this store
            else:
                receipts.append({"kind": "receipt", "location": store, "sku": product.sku,
                                 "quantity": rng.randint(1, 12), "reference": "demo-po-0001",
                                 "reason": "opening stock"})
    stocked = {(r["location"], r["sku"]): r["quantity"] for r in receipts}
    # The first few SKUs are the "bestsellers": stocked everywhere, with ring-fences on them.
    for product in products[:5]:
        for store in STORES:
            if (store, product.sku) not in stocked:
                receipts.append({"kind": "receipt", "location": store, "sku": product.sku, "quantity": 6,
                                 "reference": "demo-po-0001", "reason": "opening stock"})
                stocked[(store, product.sku)] = 6
        counts[:] = [c for c in counts if not (c[1] == product.sku and c[2] == 0)]
        quotas.append(("store-madrid", product.sku, "pos-madrid", 2))
        quotas.append(("store-barcelona", product.sku, "pos-barcelona", 2))
        if (WAREHOUSE, product.sku) in stocked:
            quotas.append((WAREHOUSE, product.sku, "marketplace", 10))
    return StockPlan(receipts, counts, quotas)


def _batches(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


# --- people and their history ---------------------------------------------------------------------------

FIRST_NAMES = ["Lucía", "Hugo", "Martina", "Mateo", "Sofía", "Leo", "Julia", "Daniel", "Paula", "Álvaro", "Carmen",
               "Pablo", "Elena", "Manuel", "Valeria", "Javier", "Irene", "Adrián", "Claudia", "Sergio", "Nerea",
               "Diego", "Alba", "Marcos", "Noelia", "Raúl", "Ainhoa", "Iker", "Rocío", "Jorge"]
SURNAMES = ["García", "Martínez", "López", "Sánchez", "Pérez", "Gómez", "Fernández", "Ruiz", "Díaz", "Moreno",
            "Romero", "Navarro", "Torres", "Domínguez", "Vázquez", "Ramos", "Gil", "Serrano", "Molina", "Ortega",
            "Castro", "Rubio", "Iglesias", "Medina", "Garrido", "Etxeberria", "Puig", "Ferrer"]
MAIL_DOMAINS = ["correo.es", "gmail.com", "hotmail.es", "yahoo.es", "telefonica.net", "outlook.es"]
CUSTOMER_COUNT = 50
ORDER_COUNT = 150
HISTORY_DAYS = 120
# city of each store: (store, city, postal code, lat, lon) — home addresses are scattered around these.
CITIES = [("store-madrid", "Madrid", "28013", 40.4203, -3.7058),
          ("store-barcelona", "Barcelona", "08008", 41.3917, 2.1649),
          ("store-valencia", "Valencia", "46004", 39.4697, -0.3705),
          ("store-sevilla", "Sevilla", "41004", 37.3925, -5.9950),
          ("store-bilbao", "Bilbao", "48001", 43.2630, -2.9350)]
STREETS = ["Calle Mayor", "Calle de Alcalá", "Avenida de la Constitución", "Calle Real", "Calle del Carmen",
           "Paseo de la Castellana", "Carrer de Mallorca", "Calle San Vicente", "Calle Larios", "Gran Vía"]


def _ascii(text: str) -> str:
    return text.translate(str.maketrans("áéíóúÁÉÍÓÚñÑü", "aeiouAEIOUnNu")).lower()


@dataclass(frozen=True)
class DemoCustomer:
    name: str
    email: str
    phone: str | None
    loyalty: str | None
    city: int  # index into CITIES: where they live and shop

    @property
    def identities(self) -> dict[str, str]:
        found = {"email": self.email}
        if self.phone:
            found["phone"] = self.phone
        if self.loyalty:
            found["loyalty"] = self.loyalty
        return found


def generate_customers(seed: int = SEED) -> list[DemoCustomer]:
    """~50 people with Spanish names; every one has an e-mail, most a mobile, some a loyalty card."""
    rng = random.Random(seed + 2)
    people: list[DemoCustomer] = []
    taken: set[str] = set()
    while len(people) < CUSTOMER_COUNT:
        first, last, second = rng.choice(FIRST_NAMES), rng.choice(SURNAMES), rng.choice(SURNAMES)
        local = f"{_ascii(first)}.{_ascii(last)}"
        if local in taken:
            local = f"{local}{rng.randint(2, 99)}"
        if local in taken:
            continue
        taken.add(local)
        number = len(people) + 1
        phone = f"+34 6{rng.randint(10, 99)} {rng.randint(100, 999)} {number:03d}" if rng.random() < 0.75 else None
        loyalty = f"LY{number:06d}" if rng.random() < 0.4 else None
        people.append(DemoCustomer(f"{first} {last} {second}", f"{local}@{rng.choice(MAIL_DOMAINS)}", phone,
                                   loyalty, rng.randrange(len(CITIES))))
    return people


class _At:
    """A clock stopped at one moment: the demo's history happens in the past."""

    def __init__(self, when: datetime) -> None:
        self._when = when

    def now(self) -> datetime:
        return self._when


@dataclass(frozen=True)
class PlannedOrder:
    at: datetime
    channel: str
    kind: str  # ship | pickup | in_store
    customer: int | None
    lines: list[tuple[str, int]]
    fulfilment: dict[str, Any]
    method: str


def plan_orders(products: list[DemoProduct], plan: StockPlan, people: list[DemoCustomer], now: datetime,
                seed: int = SEED) -> list[PlannedOrder]:
    """~150 orders over the last four months, oldest first; counter sales only sell what the store had."""
    rng = random.Random(seed + 3)
    shelves: dict[str, list[str]] = {}
    for receipt in plan.receipts:
        if receipt["location"] != WAREHOUSE and receipt["quantity"] >= 4:
            shelves.setdefault(receipt["location"], []).append(receipt["sku"])
    # The bestsellers carry ring-fences; leave them to the shoppers of the UI.
    online = [p.sku for p in products[5:] if p.category != "electronics" or rng.random() < 0.5]
    mix = [("web-ship", 34), ("web-pickup", 12), ("app-ship", 14), ("app-pickup", 8), ("pos", 22),
           ("marketplace", 10)]
    moments = sorted(now - timedelta(minutes=rng.randint(60, HISTORY_DAYS * 24 * 60)) for _ in range(ORDER_COUNT))
    planned = []
    for at in moments:
        what = rng.choices([m for m, _ in mix], weights=[w for _, w in mix])[0]
        who = rng.randrange(len(people)) if rng.random() < 0.85 else None
        city = CITIES[people[who].city] if who is not None else rng.choice(CITIES)
        store, town, postal, lat, lon = city
        if what == "pos":
            channel, kind = f"pos-{store.removeprefix('store-')}", "in_store"
            skus = rng.sample(shelves[store], rng.randint(1, 3))
            fulfilment: dict[str, Any] = {"type": "in_store", "location": store}
            method = rng.choices(["card", "cash", "bizum"], weights=[6, 3, 1])[0]
        else:
            channel = what.split("-")[0]
            kind = "pickup" if what.endswith("pickup") else "ship"
            skus = rng.sample(online, rng.randint(1, 3))
            if kind == "pickup":
                fulfilment = {"type": "pickup", "location": store}
            else:
                fulfilment = {"type": "ship", "address": {
                    "line1": f"{rng.choice(STREETS)} {rng.randint(1, 150)}, {rng.randint(1, 8)}º",
                    "city": town, "postal_code": postal, "country": COUNTRY,
                    "lat": round(lat + rng.uniform(-0.05, 0.05), 5), "lon": round(lon + rng.uniform(-0.05, 0.05), 5)}}
            method = ("card" if channel == "marketplace"
                      else rng.choices(["card", "bizum", "paypal"], weights=[6, 3, 2])[0])
        lines = [(sku, rng.choices([1, 2, 3], weights=[8, 3, 1])[0]) for sku in skus]
        planned.append(PlannedOrder(at, channel, kind, who, lines, fulfilment, method))
    return planned


def _browsing(products: list[DemoProduct], people: list[DemoCustomer], now: datetime,
              seed: int = SEED) -> list[dict[str, Any]]:
    rng = random.Random(seed + 4)
    events: list[dict[str, Any]] = []
    for person in people:
        for _ in range(rng.randint(2, 7)):
            product = rng.choice(products)
            kind = rng.choices(["product_viewed", "searched", "page_viewed", "store_visit"], weights=[6, 2, 2, 1])[0]
            channel = rng.choice(["web", "app"])
            properties: dict[str, Any] = {"sku": product.sku, "category": product.category}
            if kind == "searched":
                properties = {"query": product.name.split(",")[0].lower(), "category": product.category}
            elif kind == "page_viewed":
                properties = {"path": f"/c/{product.category}"}
            elif kind == "store_visit":
                channel = f"pos-{CITIES[person.city][0].removeprefix('store-')}"
                properties = {"store": CITIES[person.city][0]}
            at = now - timedelta(minutes=rng.randint(10, 30 * 24 * 60))
            events.append({"type": kind, "channel": channel, "at": at, "identity": {"email": person.email},
                           "properties": properties})
    return sorted(events, key=lambda e: e["at"])


def _people_loaded(conn: Connection) -> bool:
    try:
        customers_queries.lookup(conn, {"kind": "email", "value": generate_customers()[0].email}, channel=None)
    except NotFound:
        return False
    return True


def _total(prices: dict[tuple[str, str], Decimal], order: PlannedOrder) -> Decimal:
    kind = "marketplace" if order.channel == "marketplace" else "web"
    return sum((prices[(kind, sku)] * quantity for sku, quantity in order.lines), Decimal(0))


def _load_people(db: Database, clock: Clock, progress: Progress) -> bool:
    """Customers, browsing, carts, orders, shipments, pickups and returns, in one transaction.
    False if already there."""
    with db.read() as conn:
        if _people_loaded(conn):
            return False
    now = clock.now()
    products = generate_products()
    people = generate_customers()
    planned = plan_orders(products, plan_stock(products), people, now)
    events = _browsing(products, people, now)
    prices = {(kind, p.sku): channel_price(p.price, kind) for p in products for kind in ("web", "marketplace")}
    couriers = [("correos", "PQ{:09d}ES"), ("seur", "SE{:010d}"), ("mrw", "MRW{:08d}")]
    with db.transaction() as conn:
        if _people_loaded(conn):
            return False
        task = progress.add_task("customers", total=len(people))
        ids = []
        split = []  # people who first show up twice — online by e-mail, at the till by phone — and merge later
        for index, person in enumerate(people):
            home = CITIES[person.city][0]
            identities = person.identities
            if person.phone and index % 8 == 3:
                identities = {"email": person.email}
                customer_resolution.create_customer(conn, clock, name=None, identities={"phone": person.phone},
                                                    channel=f"pos-{home[6:]}", actor="demo")
                split.append(person)
            ids.append(customer_resolution.create_customer(conn, clock, name=person.name, identities=identities,
                                                           channel="web" if person.city % 2 else f"pos-{home[6:]}",
                                                           actor="demo")[0])
            progress.advance(task)
        customer_activity.ingest_events(conn, clock, events, actor="demo")
        task = progress.add_task("orders", total=len(planned))
        placed: list[tuple[PlannedOrder, dict[str, Any]]] = []
        for number, order in enumerate(planned):
            at = _At(order.at)
            data = {"channel": order.channel, "lines": [{"sku": s, "quantity": q} for s, q in order.lines],
                    "fulfilment": order.fulfilment,
                    "payments": [{"method": order.method, "amount": _total(prices, order)}]}
            try:
                with conn.begin_nested():
                    made = place_order(conn, at, data, actor="demo",
                                       idempotency_key=f"demo-order-{number:04d}",
                                       customer_id=ids[order.customer] if order.customer is not None
                                       else None)
            except DomainError:  # e.g. a shelf emptied by an earlier demo sale: that sale simply did not happen
                progress.advance(task)
                continue
            placed.append((order, made))
            progress.advance(task)
        _fulfil_history(conn, now, placed, couriers)
        _open_carts(conn, clock, products, people)
        # At the counter they give both e-mail and phone: the two profiles become one, history and all.
        customer_activity.ingest_events(conn, clock, [
            {"type": "identified", "channel": f"pos-{CITIES[p.city][0][6:]}", "at": now,
             "identity": {"email": p.email, "phone": p.phone, "verified": True},
             "properties": {"source": "loyalty sign-up, e-mail confirmed"}}
            for p in split], actor="demo")
        return True


def _fulfil_history(conn: Connection, now: datetime, placed: list[tuple[PlannedOrder, dict[str, Any]]],
                    couriers: list[tuple[str, str]]) -> None:
    """Old shipments went out and arrived; old pickups were collected; the last few wait at the counter;
    two counter sales and one delivered order came back."""
    rng = random.Random(SEED + 5)
    pickups = [(o, m) for o, m in placed if o.kind == "pickup"]
    waiting = {m["id"] for _, m in pickups[-5:]}
    for order, made in placed:
        age = now - order.at
        if order.kind == "ship" and age > timedelta(days=2):
            for location in sorted({line["location"] for line in made["lines"]}):
                carrier, pattern = rng.choice(couriers)
                shipment = ship(conn, _At(order.at + timedelta(hours=20)), made["id"], {
                    "carrier": carrier, "tracking_number": pattern.format(rng.randrange(10**8)),
                    "location": location, "lines": None}, actor="demo")
                if age > timedelta(days=6):
                    mark_delivered(conn, _At(order.at + timedelta(days=3)), made["id"], shipment["id"],
                                   actor="demo")
        elif order.kind == "pickup" and made["id"] in waiting:
            # Ready now, so they wait the full keep period at the counter (a waiting pickup is a recent one).
            mark_ready(conn, _At(now - timedelta(hours=rng.randint(1, 20))), made["id"], actor="demo")
        elif order.kind == "pickup" and age > timedelta(days=3):
            ready = mark_ready(conn, _At(order.at + timedelta(days=1)), made["id"], actor="demo")
            collect(conn, _At(order.at + timedelta(days=2)), made["id"], ready["pickup"]["code"],
                    actor="demo")
    counter = [(o, m) for o, m in placed if o.kind == "in_store" and o.customer is not None]
    delivered = [(o, m) for o, m in placed if o.kind == "ship" and now - o.at > timedelta(days=20)]
    returns = [(counter[len(counter) // 3], "resellable", "original"),
               (counter[2 * len(counter) // 3], "damaged", "store_credit"),
               (delivered[len(delivered) // 2], "resellable", "store_credit")]
    for (order, made), condition, refund in returns:
        line = made["lines"][0]
        store = order.fulfilment.get("location") or "store-madrid"
        create_return(conn, _At(order.at + timedelta(days=9)), {
            "order": made["id"], "lines": [{"sku": line["sku"], "quantity": 1}], "location": store,
            "condition": condition, "refund_method": refund}, actor="demo")


OPEN_CARTS = 6


def _open_carts(conn: Connection, clock: Clock, products: list[DemoProduct], people: list[DemoCustomer]) -> None:
    """A few shoppers left something in a cart (most in the app): the counter can find and finish them."""
    rng = random.Random(SEED + 6)
    for index in range(OPEN_CARTS):
        person = people[-1 - index * 3]
        channel = "app" if index % 3 else "web"
        cart = create_cart(conn, clock, channel=channel, identity={"email": person.email}, actor="demo")
        lines = [(p.sku, rng.randint(1, 2)) for p in rng.sample(products[5:], rng.randint(1, 3))]
        set_cart_lines(conn, clock, cart["id"], lines, actor="demo")


# --- loading -------------------------------------------------------------------------------------------


def _count_products(conn: Connection) -> tuple[int, set[str]]:
    total, categories, cursor = 0, set(), None
    while True:
        page = catalog_queries.list_products(conn, limit=500, cursor=cursor)
        total += len(page["items"])
        categories.update(p["category"] for p in page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            return total, categories


def _all(page: Any) -> list[dict[str, Any]]:
    """Every item of a cursor-paged list query: `page(cursor)` returns one page."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        found = page(cursor)
        items += found["items"]
        cursor = found["next_cursor"]
        if not cursor:
            return items


def _summary(conn: Connection, clock: Clock, *, reused: bool) -> str:
    """What the database holds now — the whole shop, not the demo's plan: orders placed and customers met since
    the demo was loaded count too."""
    products, categories = _count_products(conn)
    locs = _all(lambda cursor: inventory_queries.list_locations(conn, limit=500, cursor=cursor))
    chans = _all(lambda cursor: catalog_queries.list_channels(conn, limit=500, cursor=cursor))
    stores = [loc for loc in locs if loc["kind"] == "store"]
    head = ("Demo data already present: reused it (nothing changed)." if reused
            else "Demo data loaded.")
    people = _all(lambda cursor: customers_queries.list_customers(conn, limit=500, cursor=cursor))
    orders = _all(lambda cursor: commerce_queries.list_orders(conn, limit=500, cursor=cursor))
    carts = sum(1 for person in people if commerce_queries.open_cart_of(conn, person["id"]))
    by_channel: dict[str, int] = {}
    for order in orders:
        by_channel[order["channel"]] = by_channel.get(order["channel"], 0) + 1
    waiting = sum(1 for o in orders if o["status"] == "ready_for_pickup")
    return "\n".join([
        head,
        f"  locations: {len(locs)} ({len(locs) - len(stores)} warehouse, {len(stores)} stores: "
        + ", ".join(s["name"] for s in stores) + ")",
        f"  channels:  {len(chans)} (" + ", ".join(c["code"] for c in chans) + f"), all {CURRENCY}",
        f"  products:  {products} in {len(categories)} categories ({', '.join(sorted(categories))})",
        f"  customers: {len(people)}, {carts} with an open cart",
        f"  orders:    {len(orders)} (" + ", ".join(f"{k} {v}" for k, v in sorted(by_channel.items()))
        + f"), {waiting} pickups ready and waiting",
    ])


def _already_loaded(conn: Connection) -> bool:
    try:
        inventory_queries.get_location(conn, WAREHOUSE)
    except NotFound:
        return False
    return True


def load_demo(db: Database, clock: Clock, console: Console | None = None) -> str:
    """Load the demo business once; on later runs detect it and reuse it. Returns a short summary."""
    bootstrap()  # the demo's merges must move orders and carts, as they would through the API
    progress = Progress(TextColumn("{task.description:<22}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=console, disable=console is None, transient=True)
    with progress:
        shop_loaded = _load_shop(db, clock, progress)
        people_loaded = _load_people(db, clock, progress)
    with db.read() as conn:
        return _summary(conn, clock, reused=not (shop_loaded or people_loaded))


def _switch_on_recipes(conn: Connection, clock: Clock) -> None:
    """The built-in automation recipes come installed but off; the demo shop runs them all."""
    from omnihub.automation.recipes import RECIPES
    from omnihub.automation.rulebook import set_active

    for key in RECIPES:
        set_active(conn, clock, key, True)


def _load_shop(db: Database, clock: Clock, progress: Progress) -> bool:
    """Locations, channels, products, prices and stock, in one transaction. False if already there."""
    with db.read() as conn:
        if _already_loaded(conn):
            return False
    products = generate_products()
    plan = plan_stock(products)
    specs = _channel_specs()
    receipt_batches = list(_batches(plan.receipts, 500))
    with db.transaction() as conn:
        if _already_loaded(conn):  # another process loaded it while we were preparing
            return False
        task = progress.add_task("locations", total=len(LOCATIONS))
        for code, name, kind, lat, lon, pickup in LOCATIONS:
            inventory_stock.create_location(conn, clock, {"code": code, "name": name, "kind": kind, "lat": lat,
                                                          "lon": lon, "pickup": pickup})
            progress.advance(task)
        task = progress.add_task("channels", total=len(specs))
        for spec in specs:
            catalog.create_channel(conn, clock, {"code": spec.code, "name": spec.name, "kind": spec.kind,
                                                 "currency": CURRENCY, "country": COUNTRY,
                                                 "locations": spec.locations, "stock_buffer": spec.stock_buffer,
                                                 # online carts left 4 hours are abandoned (automation recipes)
                                                 "cart_abandoned_after": "PT4H" if spec.kind in ("web", "app")
                                                 else None})
            progress.advance(task)
        _switch_on_recipes(conn, clock)
        task = progress.add_task("products", total=len(products))
        for product in products:
            catalog.create_product(conn, clock, {"sku": product.sku, "name": product.name,
                                                 "category": product.category, "barcode": product.barcode,
                                                 "group": product.group, "attributes": product.attributes})
            progress.advance(task)
        task = progress.add_task("prices", total=len(specs))
        for spec in specs:
            catalog.set_prices(conn, clock, spec.code, [(p.sku, channel_price(p.price, spec.kind)) for p in products])
            progress.advance(task)
        task = progress.add_task("stock", total=len(plan.receipts) + len(plan.counts) + len(plan.quotas))
        for batch in receipt_batches:
            inventory_stock.record_movements(conn, clock, batch, actor="demo")
            progress.advance(task, len(batch))
        for location, sku, on_hand, safety in plan.counts:
            inventory_stock.set_stock(conn, clock, location=location, sku=sku, on_hand=on_hand, safety_stock=safety,
                                      reason="opening count", actor="demo")
            progress.advance(task)
        for location, sku, channel, units in plan.quotas:
            inventory_stock.set_quota(conn, clock, location=location, sku=sku, channel=channel, units=units,
                                      actor="demo")
            progress.advance(task)
        return True
