"""Files as people send them: a semicolon CSV in latin-1 with decimal commas and bad rows (each rejected with its
line and reason), a dry run that writes nothing, an Excel sheet of locations, products, prices and stock, and a
mapping that names a column the file lacks (refused before any row is written)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from openpyxl import Workbook
from typer.testing import CliRunner

from omnihub.bootstrap import bootstrap
from omnihub.catalog import queries as catalog_queries
from omnihub.catalog import service as catalog
from omnihub.commerce.models import order_lines, orders
from omnihub.connectors.imports.rules import MappingError, compile_mapping
from omnihub.connectors.imports.service import Importer
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.inventory import queries as inventory_queries

ORDERS_MAPPING = """\
version: 1
channel: shop
system: erp
currency: EUR
code_tables:
  articles: {"1001": MUG-BLUE, "1002": PLATE}
entities:
  customer:
    fields:
      customer_id: Cliente
      name: {column: Nombre, transforms: [trim]}
  product:
    fields:
      sku: {column: Artículo, transforms: [{code_table: articles}]}
      name: Descripción
  order:
    group_by: number
    fields:
      number: Pedido
      placed_at: {column: Fecha, transforms: [{date: "%d/%m/%y"}]}
      customer: Cliente
  order_line:
    fields:
      sku: {column: Artículo, transforms: [{code_table: articles}]}
      quantity: {column: Cant, transforms: [integer]}
      total: {column: Importe, transforms: [{decimal: ","}]}
"""

CSV = """Pedido;Fecha;Cliente;Nombre;Artículo;Descripción;Cant;Importe
P-1;03/01/19;C1;José Núñez;1001;Taza azul;2;12,50
P-2;32/01/19;C2;Ana;1001;Taza azul;1;6,25
P-3;04/01/19;C2;Ana;9999;Otra;1;1,00
P-1;03/01/19;C1;José Núñez;1002;Plato;1;1.234,00
P-4;05/01/19;C3;Luis;1001;Taza azul;0;0,00
"""


@pytest.fixture
def shop(db: Database, clock: ManualClock) -> None:
    bootstrap()
    with db.transaction() as conn:
        catalog.create_channel(conn, clock, {"code": "shop", "name": "Shop", "kind": "web", "currency": "EUR"})


def test_a_latin1_semicolon_csv_imports_its_good_rows_and_rejects_the_others_by_line(
        db: Database, clock: ManualClock, shop: None, tmp_path: Path) -> None:
    path = tmp_path / "pedidos.csv"
    path.write_bytes(CSV.encode("latin-1"))
    mapping = compile_mapping(ORDERS_MAPPING)

    dry = Importer(db, clock, mapping, [path], dry_run=True).run()
    assert (dry.rows, dry.imported, dry.rejected) == (5, 2, 3)
    with db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(orders)).scalar() == 0
        assert catalog_queries.existing_skus(conn, ["MUG-BLUE"]) == set()

    report = Importer(db, clock, mapping, [path]).run()
    assert (report.rows, report.imported, report.unchanged, report.rejected) == (5, 2, 0, 3)
    assert [(r["line"], r["reason"]) for r in report.rejected_rows()] == [
        (3, "order.placed_at: '32/01/19' does not match the date format '%d/%m/%y'"),
        (4, "product.sku: '9999' is not in code table 'articles'"),
        (6, "order_line.quantity must be a whole number above 0"),
    ]
    with db.read() as conn:
        order = conn.execute(sa.select(orders).where(orders.c.number == "P-1")).one()
        assert Decimal(order.total) == Decimal("1246.50") and order.status == "delivered"
        lines = conn.execute(sa.select(order_lines.c.sku, order_lines.c.quantity, order_lines.c.total)
                             .where(order_lines.c.order_id == order.id).order_by(order_lines.c.line_no)).all()
        assert [(s, q, Decimal(t)) for s, q, t in lines] == [("MUG-BLUE", 2, Decimal("12.50")),
                                                             ("PLATE", 1, Decimal("1234.00"))]
        names = conn.execute(sa.text("SELECT name FROM customers ORDER BY name")).scalars().all()
        assert "José Núñez" in names

    again = Importer(db, clock, mapping, [path]).run()
    assert (again.imported, again.unchanged, again.rejected) == (0, 2, 3)


def test_an_excel_sheet_of_locations_products_prices_and_stock(db: Database, clock: ManualClock, shop: None,
                                                               tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    sheet.append(["Store", "Store name", "Ref", "Article", "PVP", "Units"])
    sheet.append(["MAD", "Madrid", 4001, "Lamp", 19.9, 7])
    sheet.append(["MAD", "Madrid", 4002, "Shade", "5,50", 3])
    sheet.append(["BCN", "Barcelona", 4001, "Lamp", 19.9, -1])
    path = tmp_path / "stock.xlsx"
    book.save(path)
    mapping = compile_mapping("""\
channel: shop
system: pos
entities:
  location:
    fields: {code: Store, name: Store name, kind: {value: store}}
  product:
    fields: {sku: Ref, name: Article, category: {value: lighting}}
  price:
    fields: {sku: Ref, price: {column: PVP, transforms: [{decimal: ","}]}}
  stock:
    fields: {sku: Ref, location: Store, quantity: {column: Units, transforms: [integer]}}
""")
    report = Importer(db, clock, mapping, [path]).run()
    assert (report.rows, report.imported, report.rejected) == (3, 2, 1)
    assert report.rejected_rows()[0]["line"] == 4
    with db.read() as conn:
        assert inventory_queries.level(conn, "MAD", "4001")["on_hand"] == 7
        assert inventory_queries.level(conn, "MAD", "4002")["on_hand"] == 3
        prices = conn.execute(sa.text("SELECT sku, amount FROM channel_prices ORDER BY sku")).all()
        assert [(s, Decimal(str(a))) for s, a in prices] == [("4001", Decimal("19.9")), ("4002", Decimal("5.5"))]
    again = Importer(db, clock, mapping, [path]).run()
    assert (again.imported, again.unchanged, again.rejected) == (0, 2, 1)


def test_a_column_the_file_lacks_is_refused_before_any_row(db: Database, clock: ManualClock, shop: None,
                                                           tmp_path: Path) -> None:
    path = tmp_path / "pedidos.csv"
    path.write_text(CSV.replace("Importe", "Total"), encoding="utf-8")
    with pytest.raises(MappingError, match="columns not in the file: Importe"):
        Importer(db, clock, compile_mapping(ORDERS_MAPPING), [path]).run()
    with db.read() as conn:
        assert catalog_queries.existing_skus(conn, ["MUG-BLUE"]) == set()


def test_the_cli_names_the_mapping_line_of_a_typo(tmp_path: Path) -> None:
    from omnihub.cli import app

    mapping = tmp_path / "m.yaml"
    mapping.write_text(ORDERS_MAPPING.replace("      name: Descripción", "      nmae: Descripción"))
    data = tmp_path / "d.csv"
    data.write_text(CSV)
    # A wide terminal: Rich would otherwise wrap the message (it names the temporary path) at 80 columns.
    result = CliRunner().invoke(app, ["import", "--mapping", str(mapping), str(data)], env={"COLUMNS": "1000"})
    assert result.exit_code == 2
    assert "line 15: product: unknown field 'nmae'" in " ".join(result.output.split())


MANY = "Pedido;Fecha;Cliente;Nombre;Artículo;Descripción;Cant;Importe\n" + "".join(
    f"P-{n};03/01/19;C{n % 4};Cliente {n % 4};1001;Taza azul;{1 + n % 3};{n},50\n" for n in range(1, 41))


def test_batches_written_beside_the_reading_land_in_order_and_a_failed_write_stops_the_import(
        db: Database, clock: ManualClock, shop: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reading thread hands batches to a writing thread: with batches of 3 orders, 40 orders make 14 writes.
    Every order lands once, the progress only grows and ends at the row count; when a write fails the error
    comes out of `run()` and no later batch is written."""
    from omnihub.commerce import imported
    from omnihub.connectors.imports import service

    path = tmp_path / "many.csv"
    path.write_bytes(MANY.encode("latin-1"))
    mapping = compile_mapping(ORDERS_MAPPING)
    monkeypatch.setattr(service, "BATCH_ORDERS", 3)
    write = imported.write_imported_orders
    calls: list[int] = []

    def failing_fifth(conn, clock_, prepared, customer_of):  # type: ignore[no-untyped-def]
        calls.append(len(prepared))
        if len(calls) == 5:
            raise RuntimeError("the database went away")
        return write(conn, clock_, prepared, customer_of)

    monkeypatch.setattr(imported, "write_imported_orders", failing_fifth)
    with pytest.raises(RuntimeError, match="went away"):
        Importer(db, clock, mapping, [path]).run()
    with db.read() as conn:
        numbers = conn.execute(sa.select(orders.c.number)).scalars().all()
    assert sorted(numbers, key=lambda n: int(n[2:])) == [f"P-{n}" for n in range(1, 13)]  # four batches of 3
    assert len(calls) == 5

    monkeypatch.setattr(imported, "write_imported_orders", write)
    seen: list[tuple[int, int | None]] = []
    report = Importer(db, clock, mapping, [path], progress=lambda d, t: seen.append((d, t))).run()
    assert (report.rows, report.imported, report.unchanged, report.rejected) == (40, 28, 12, 0)
    assert seen[-1] == (40, 40) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    with db.read() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(orders)).scalar()
        total = conn.execute(sa.select(sa.func.sum(orders.c.total)).where(orders.c.number == "P-40")).scalar()
    assert count == 40 and Decimal(total) == Decimal("40.50")
