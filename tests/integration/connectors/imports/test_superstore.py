"""Importing the superstore export (a slice of it, with its dirty rows) reproduces the export's own totals —
computed here straight from the CSV, without the importer — and a second run changes nothing."""

from __future__ import annotations

import csv
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from omnihub.bootstrap import bootstrap
from omnihub.catalog import service as catalog
from omnihub.commerce.models import orders
from omnihub.connectors.imports.rules import compile_mapping
from omnihub.connectors.imports.service import Importer
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.customers.models import customer_stats

ROOT = Path(__file__).resolve().parents[4]
EXPORT = Path("/work/shared/datasets/superstore/superstore_orders.csv")
MAPPING = ROOT / "examples" / "mappings" / "superstore.yaml"
FIRST_ROWS = 600
DIRTY_ORDERS = {"CA-2021-121465", "CA-2022-130494"}  # SOURCES.md: order ids shared by several customers
RENAMED = {"OFF-PA-10000659"}  # SOURCES.md: product ids carrying two names

pytestmark = pytest.mark.skipif(not EXPORT.exists(), reason="the superstore dataset is not on this machine")


@pytest.fixture(scope="module")
def export_slice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The export's first rows plus every row of the orders with several customers and of a product with two
    names, bytes as they are (BOM, CRLF, quoted names)."""
    raw = EXPORT.read_bytes().split(b"\r\n")
    header, rows = raw[0], [r for r in raw[1:] if r]
    keep = [r for i, r in enumerate(rows) if i < FIRST_ROWS or any(k.encode() in r for k in DIRTY_ORDERS | RENAMED)]
    path = tmp_path_factory.mktemp("superstore") / "superstore_slice.csv"
    path.write_bytes(b"\r\n".join([header, *keep]) + b"\r\n")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    return path


def expected_totals(path: Path) -> dict[str, object]:
    """The export's own figures, with the csv module and Decimal only."""
    orders, customers, products, names = set(), set(), set(), defaultdict(set)
    units, revenue, rows_read = 0, defaultdict(Decimal), 0
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for row in csv.DictReader(handle):
            rows_read += 1
            orders.add(row["Order ID"])
            customers.add(row["Customer ID"])
            products.add(row["Product ID"])
            names[row["Product ID"]].add(row["Product Name"])
            units += int(row["Quantity"])
            revenue[2000 + int(row["Order Date"][-2:])] += Decimal(row["Sales"])
    return {"rows": rows_read, "orders": len(orders), "customers": len(customers), "products": len(products),
            "units": units,
            "revenue": dict(revenue), "renamed": sum(len(v) > 1 for v in names.values())}


def hub_totals(db: Database) -> dict[str, object]:
    with db.read() as conn:
        one = lambda sql: conn.execute(sa.text(sql)).scalar()  # noqa: E731
        revenue = defaultdict(Decimal)
        for placed, total in conn.execute(sa.select(orders.c.created_at, orders.c.total)
                                          .where(orders.c.channel_code == "superstore")):
            revenue[placed.year] += Decimal(total)
        return {"orders": one("SELECT count(*) FROM orders WHERE channel_code = 'superstore'"),
                "customers": one("SELECT count(*) FROM customers"),
                "products": one("SELECT count(*) FROM products"),
                "units": one("SELECT sum(quantity) FROM order_lines"),
                "revenue": {year: amount.normalize() for year, amount in revenue.items()}}


def test_the_superstore_slice_reproduces_the_exports_totals(db: Database, clock: ManualClock,
                                                            export_slice: Path) -> None:
    bootstrap()
    with db.transaction() as conn:
        catalog.create_channel(conn, clock, {"code": "superstore", "name": "Superstore", "kind": "web",
                                             "currency": "USD"})
    mapping = compile_mapping(MAPPING.read_text(encoding="utf-8"))
    expected = expected_totals(export_slice)
    seen: list[tuple[int, int | None]] = []
    importer = Importer(db, clock, mapping, [export_slice], progress=lambda d, t: seen.append((d, t)))
    report = importer.run()
    assert importer.path == ("columnar" if db.engine.dialect.name == "postgresql" else "rows")

    rows = expected["rows"]
    assert isinstance(rows, int) and rows > FIRST_ROWS + 8
    assert (report.rows, report.imported, report.unchanged, report.rejected) == (rows, rows, 0, 0)
    assert seen[-1] == (rows, rows)
    got = hub_totals(db)
    assert got == {"orders": expected["orders"], "customers": expected["customers"],
                   "products": expected["products"], "units": expected["units"],
                   "revenue": {y: v.normalize() for y, v in expected["revenue"].items()}}
    assert report.created == {"customers": expected["customers"], "products": expected["products"],
                              "orders": expected["orders"]}

    # dirty data is reported with its rows and what was kept, never guessed silently
    several = [d for d in report.dirty if d["what"] == "one order, several customers"]
    assert {d["key"] for d in several} == DIRTY_ORDERS and len(several) == 6
    first = next(d for d in several if d["key"] == "CA-2021-121465")
    assert first["kept"] == "HO-15234" and first["line"] > first["kept_from_line"]
    renamed = {d["key"] for d in report.dirty if d["what"] == "one product, several names"}
    assert len(renamed) == expected["renamed"] > 0

    with db.read() as conn:
        events = dict(conn.execute(sa.text("SELECT type, count(*) FROM outbox GROUP BY type")).all())
        assert events.get("order.imported") == expected["orders"]
        assert "order.created" not in events and "stock.changed" not in events
        assert conn.execute(sa.text("SELECT count(*) FROM stock_ledger")).scalar() == 0
        assert conn.execute(sa.text("SELECT count(*) FROM outbound_messages")).scalar() == 0
        # history at its own date, in the customer's stats
        stats = conn.execute(sa.select(customer_stats.c.orders_count, customer_stats.c.revenue)).all()
        assert sum(count for count, _ in stats) == expected["orders"]
        assert sum(Decimal(revenue) for _, revenue in stats) == sum(expected["revenue"].values())
        first_order = conn.execute(sa.select(orders.c.created_at, orders.c.total)
                                   .where(orders.c.number == "US-2019-103800")).one()
        assert (first_order.created_at.date().isoformat(), Decimal(first_order.total)) == ("2019-01-03",
                                                                                          Decimal("16.448"))

    again = Importer(db, clock, mapping, [export_slice]).run()
    assert (again.rows, again.imported, again.unchanged, again.rejected) == (rows, 0, rows, 0)
    assert again.created == {} or all(v == 0 for v in again.created.values())
    assert hub_totals(db) == got
