"""A realistic demo business (a Spanish fashion-and-lifestyle retailer), loaded through the room services.

Why through the services and not fixtures or raw SQL: the demo then has a ledger that balances, events
in the outbox and every invariant the real API would enforce, so what a newcomer sees is what production
would hold. Everything is generated from a seeded random generator, so two fresh installs show the same
shop, and it is loaded in one transaction: either the whole business is there or none of it is, which
makes "is the demo already loaded?" a single question (does the central warehouse exist?).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.engine import Connection

from omnihub.catalog import queries as catalog_queries
from omnihub.catalog import service as catalog
from omnihub.core.clock import Clock
from omnihub.core.db import Database
from omnihub.core.errors import NotFound
from omnihub.inventory import queries as inventory_queries
from omnihub.inventory import service as inventory

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


def _summary(conn: Connection, *, reused: bool) -> str:
    products, categories = _count_products(conn)
    locs = inventory_queries.list_locations(conn, limit=500, cursor=None)["items"]
    chans = catalog_queries.list_channels(conn, limit=500, cursor=None)["items"]
    stores = [loc for loc in locs if loc["kind"] == "store"]
    head = ("Demo data already present: reused it (nothing changed)." if reused
            else "Demo data loaded.")
    return "\n".join([
        head,
        f"  locations: {len(locs)} ({len(locs) - len(stores)} warehouse, {len(stores)} stores: "
        + ", ".join(s["name"] for s in stores) + ")",
        f"  channels:  {len(chans)} (" + ", ".join(c["code"] for c in chans) + f"), all {CURRENCY}",
        f"  products:  {products} in {len(categories)} categories ({', '.join(sorted(categories))})",
    ])


def _already_loaded(conn: Connection) -> bool:
    try:
        inventory_queries.get_location(conn, WAREHOUSE)
    except NotFound:
        return False
    return True


def load_demo(db: Database, clock: Clock, console: Console | None = None) -> str:
    """Load the demo business once; on later runs detect it and reuse it. Returns a short summary."""
    with db.read() as conn:
        if _already_loaded(conn):
            return _summary(conn, reused=True)
    products = generate_products()
    plan = plan_stock(products)
    specs = _channel_specs()
    receipt_batches = list(_batches(plan.receipts, 500))
    progress = Progress(TextColumn("{task.description:<22}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=console, disable=console is None, transient=True)
    with progress, db.transaction() as conn:
        if _already_loaded(conn):  # another process loaded it while we were preparing
            return _summary(conn, reused=True)
        task = progress.add_task("locations", total=len(LOCATIONS))
        for code, name, kind, lat, lon, pickup in LOCATIONS:
            inventory.create_location(conn, clock, {"code": code, "name": name, "kind": kind, "lat": lat,
                                                    "lon": lon, "pickup": pickup})
            progress.advance(task)
        task = progress.add_task("channels", total=len(specs))
        for spec in specs:
            catalog.create_channel(conn, clock, {"code": spec.code, "name": spec.name, "kind": spec.kind,
                                                 "currency": CURRENCY, "country": COUNTRY,
                                                 "locations": spec.locations, "stock_buffer": spec.stock_buffer})
            progress.advance(task)
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
            inventory.record_movements(conn, clock, batch, actor="demo")
            progress.advance(task, len(batch))
        for location, sku, on_hand, safety in plan.counts:
            inventory.set_stock(conn, clock, location=location, sku=sku, on_hand=on_hand, safety_stock=safety,
                                reason="opening count", actor="demo")
            progress.advance(task)
        for location, sku, channel, units in plan.quotas:
            inventory.set_quota(conn, clock, location=location, sku=sku, channel=channel, units=units,
                                actor="demo")
            progress.advance(task)
        return _summary(conn, reused=False)
