"""The columnar import path (PostgreSQL, DuckDB staging) against the row path on the same file: same report (counts,
created, rejected rows with their lines and reasons, dirty findings), same orders, lines, customers' stats and
interests; each path's re-run of the other's import is all unchanged; and everything it does not cover (SQLite,
dry runs, latin-1, line breaks inside values) goes down the row path."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.conftest import _truncate_all

from omnihub.catalog import service as catalog
from omnihub.connectors.imports.rules import compile_mapping
from omnihub.connectors.imports.service import Importer
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database

ROOT = Path(__file__).resolve().parents[4]
MAPPING = compile_mapping((ROOT / "examples" / "mappings" / "superstore.yaml").read_text(encoding="utf-8"))
EXPORT = Path("/work/shared/datasets/superstore/superstore_orders.csv")
HEADER = ("Row ID,Order ID,Order Date,Ship Date,Ship Mode,Customer ID,Customer Name,Segment,Country/Region,City,"
          "State/Province,Postal Code,Region,Product ID,Category,Sub-Category,Product Name,Sales,Quantity,Discount,"
          "Profit")
# Rows of every kind the importer judges: lines of one order spread over the file, an order id with two
# customers, a product id with two names, values to trim, amounts with many places, and rejected rows (a bad
# date, a zero quantity, a quantity that is no number, an empty customer name is fine, an empty product id is not).
ROWS = [
    '1,A-1,03/01/19,,,C-1,Ann Lee,,,,,,,P-1,Office Supplies,Paper,"Paper, A4",16.448,2,0,0',
    '2,A-2,04/01/19,,,C-2, Bob Ray ,,,,,,,P-2,Furniture,Chairs,Chair,100.10,1,0,0',
    '3,A-1,03/01/19,,,C-1,Ann Lee,,,,,,,P-3,Technology,Phones,Phone,3.5,3,0,0',
    '4,A-3,32/01/19,,,C-3,Cy,,,,,,,P-1,Office Supplies,Paper,"Paper, A4",1.00,1,0,0',
    '5,A-4,05/01/19,,,C-3,Cy,,,,,,,P-1,Office Supplies,Paper,"Paper, A4 (500)",2.25,1,0,0',
    '6,A-5,05/01/19,,,C-4,,,,,,,,P-2,Furniture,Chairs,Chair,7.1234,0,0,0',
    '7,A-5,05/01/19,,,C-4,,,,,,,,P-2,Furniture,Chairs,Chair,7.1234,x,0,0',
    '8,A-6,06/01/19,,,C-4,,,,,,,,,Furniture,Chairs,Chair,1,1,0,0',
    '9,A-2,04/01/19,,,C-5,Dee,,,,,,,P-4,Furniture,Tables,Table,250.5,1,0,0',
    '10,A-7,07/01/20,,,C-5,Dee,,,,,,,P-4,Furniture,Tables,Table,abc,1,0,0',
    '11,A-8,08/01/20,,,C-1,Ann Lee,,,,,,,P-3,Technology,Phones,Phone,3.5,1,0,0',
    '12,A-1,03/01/19,,,C-1,Ann Lee,,,,,,,P-1,Office Supplies,Paper,"Paper, A4",0.001,1,0,0',
    '13,A-8,08/01/20,,,C-2, Bob Ray ,,,,,,,P-3,Technology,Phones,Phone X,1.5,1,0,0',
]


def write_file(folder: Path, rows: list[str], *, encoding: str = "utf-8-sig", name: str = "export.csv") -> Path:
    path = folder / name
    body = [HEADER, *rows]
    if EXPORT.exists():  # and a slice of the real export behind the hand-made rows
        body += [r for r in EXPORT.read_text(encoding="utf-8-sig").splitlines()[1:400] if r]
    path.write_bytes(("\r\n".join(body) + "\r\n").encode(encoding, errors="replace"))
    return path


@pytest.fixture
def pg(db: Database) -> Database:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the columnar path is PostgreSQL's")
    return db


def with_channel(db: Database, clock: ManualClock) -> None:
    with db.transaction() as conn:
        catalog.create_channel(conn, clock, {"code": "superstore", "name": "Superstore", "kind": "web",
                                             "currency": "USD"})


def report_of(importer: Importer) -> dict[str, Any]:
    out = importer.run().as_dict()
    out.pop("files")
    return out


def snapshot(db: Database) -> dict[str, Any]:
    """What an import leaves, without the ids each run draws afresh."""
    with db.read() as conn:
        rows = lambda sql: sorted(tuple(r) for r in conn.execute(sa.text(sql)).all())  # noqa: E731
        return {
            "orders": rows("SELECT o.number, o.created_at, o.status, o.currency, o.subtotal, o.discount, o.total, "
                           "o.payment_status, c.name, o.sourcing::text FROM orders o "
                           "LEFT JOIN customers c ON c.id = o.customer_id"),
            "lines": rows("SELECT o.number, l.line_no, l.sku, l.name, l.category, l.quantity, l.unit_price, "
                          "l.total, l.fulfilled FROM order_lines l JOIN orders o ON o.id = l.order_id"),
            "customers": rows("SELECT c.name, i.value FROM customers c JOIN customer_identities i "
                              "ON i.customer_id = c.id"),
            "products": rows("SELECT sku, name, category FROM products"),
            "stats": rows("SELECT i.value, s.channel, s.orders_count, s.revenue, s.first_order_at, s.last_order_at "
                          "FROM customer_stats s JOIN customer_identities i ON i.customer_id = s.customer_id"),
            "tags": rows("SELECT i.value, t.tag, round(t.score::numeric, 6) FROM customer_tags t "
                         "JOIN customer_identities i ON i.customer_id = t.customer_id"),
            "timeline": rows("SELECT i.value, e.type, e.occurred_at, e.properties->>'amount' FROM customer_events e "
                             "JOIN customer_identities i ON i.customer_id = e.customer_id"),
            "events": rows("SELECT type, data->>'number', data->>'total', data->>'placed_at' FROM outbox "
                           "WHERE type LIKE 'order.%'"),
            "keys": rows("SELECT system, entity, external_key, fingerprint FROM import_keys "
                         "WHERE entity <> 'customer'"),
        }


def row_path_then_empty(db: Database, clock: ManualClock, path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The row path's report and what it leaves for `path`; then an empty database with the channel again."""
    with_channel(db, clock)
    report = report_of(Importer(db, clock, MAPPING, [path], columnar=False))
    left = snapshot(db)
    _truncate_all(db.engine.url.render_as_string(hide_password=False))
    with_channel(db, clock)
    return report, left


def test_both_paths_import_the_same_file_alike(pg: Database, clock: ManualClock, tmp_path: Path) -> None:
    with_channel(pg, clock)
    path = write_file(tmp_path, ROWS)
    by_rows = Importer(pg, clock, MAPPING, [path], columnar=False)
    rows_report = report_of(by_rows)
    assert by_rows.path == "rows"
    rows_left = snapshot(pg)
    assert rows_report["rows"]["rejected"] == 5 and rows_report["dirty"]

    # the columnar path re-running the row path's import: every row as before (imported rows unchanged)
    again = Importer(pg, clock, MAPPING, [path])
    again_report = report_of(again)
    assert again.path == "columnar"
    assert again_report["rows"] == {**rows_report["rows"], "imported": 0,
                                    "unchanged": rows_report["rows"]["imported"]}
    assert again_report["rejected"] == rows_report["rejected"] and again_report["dirty"] == rows_report["dirty"]
    assert snapshot(pg) == rows_left

    _truncate_all(pg.engine.url.render_as_string(hide_password=False))
    with_channel(pg, clock)
    columnar = Importer(pg, clock, MAPPING, [path])
    columnar_report = report_of(columnar)
    assert columnar.path == "columnar"
    assert columnar_report == rows_report  # counts, created, rejections (line and reason), dirty findings
    left = snapshot(pg)
    assert left == rows_left  # orders, lines to the cent, customers, stats, interests, timeline, events, keys
    lines = {(n, no): total for n, no, _, _, _, _, _, total, _ in left["lines"]}
    assert Decimal(lines[("A-1", 3)]) == Decimal("0.001") and ("A-5", 1) not in lines

    # the row path re-running the columnar import: all unchanged too
    back = report_of(Importer(pg, clock, MAPPING, [path], columnar=False))
    assert back["rows"]["imported"] == 0 and back["rows"]["unchanged"] == rows_report["rows"]["imported"]
    assert snapshot(pg) == left


def test_rejections_and_dirty_data_are_the_row_paths(pg: Database, clock: ManualClock, tmp_path: Path) -> None:
    with_channel(pg, clock)
    importer = Importer(pg, clock, MAPPING, [write_file(tmp_path, ROWS)])
    report = importer.run().as_dict()
    assert importer.path == "columnar"
    reasons = {r["line"]: r["reason"] for r in report["rejected"]}
    assert reasons[5] == "order.placed_at: '32/01/19' does not match the date format '%d/%m/%y'"
    assert reasons[7] == "order_line.quantity must be a whole number above 0"
    assert reasons[8] == "order_line.quantity: 'x' is not a whole number"
    assert reasons[9] == "product.sku is empty"
    assert reasons[11] == "order_line.total: 'abc' is not a number"
    dirty = [(d["what"], d["key"], d["kept"], d["other"], d["line"]) for d in report["dirty"]]
    assert ("one order, several customers", "A-2", "C-2", "C-5", 10) in dirty
    assert ("one product, several names", "P-1", "Paper, A4", "Paper, A4 (500)", 6) in dirty
    assert [d[1] for d in dirty if d[0] == "one order, several customers"][:2] == ["A-2", "A-8"]  # file order
    assert [d[1] for d in dirty if d[0] == "one product, several names"][:2] == ["P-1", "P-3"]
    with pg.read() as conn:  # Bob's name trimmed; the first product name kept
        assert conn.execute(sa.text("SELECT name FROM customers WHERE name LIKE '%Bob%'")).scalar() == "Bob Ray"
        assert conn.execute(sa.text("SELECT name FROM products WHERE sku = 'P-1'")).scalar() == "Paper, A4"


def test_what_the_columnar_path_does_not_cover_goes_down_the_row_path(db: Database, clock: ManualClock,
                                                                        tmp_path: Path) -> None:
    with_channel(db, clock)
    postgres = db.engine.dialect.name == "postgresql"
    plain = write_file(tmp_path, ROWS)
    dry = Importer(db, clock, MAPPING, [plain], dry_run=True)
    assert dry.run().rows > 0 and dry.path == "rows"
    if not postgres:  # SQLite
        sqlite = Importer(db, clock, MAPPING, [plain])
        assert sqlite.run().imported > 0 and sqlite.path == "rows"
        return
    latin = write_file(tmp_path, [*ROWS, '13,A-9,09/01/20,,,C-9,Zoë Núñez,,,,,,,P-9,Furniture,Chairs,Sillón,5,1,0,0'],
                       encoding="latin-1", name="latin.csv")
    broken = write_file(tmp_path, [*ROWS, '13,A-9,09/01/20,,,C-9,Zed,,,,,,,P-9,Furniture,Chairs,"Two\nlines",5,1,0,0'],
                        name="newline.csv")
    blank = write_file(tmp_path, [ROWS[0], "", *ROWS[1:]], name="blank.csv")
    for path in (latin, broken, blank):
        importer = Importer(db, clock, MAPPING, [path])
        report = importer.run()
        assert importer.path == "rows", path.name
        assert report.rows > 0 and report.imported + report.unchanged + report.rejected == report.rows
    with db.read() as conn:
        assert conn.execute(sa.text("SELECT name FROM customers WHERE name LIKE 'Zo%'")).scalar() == "Zoë Núñez"
        assert conn.execute(sa.text("SELECT name FROM products WHERE sku = 'P-9'")).scalar() == "Sillón"
    # the environment can force the row path (to compare, or to step around the columnar one)
    import os

    os.environ["OMNIHUB_IMPORT_ROW_PATH"] = "1"
    try:
        forced = Importer(db, clock, MAPPING, [plain])
        assert forced.run().rows > 0 and forced.path == "rows"
    finally:
        del os.environ["OMNIHUB_IMPORT_ROW_PATH"]


def test_duckdb_out_of_memory_goes_down_the_row_path(pg: Database, clock: ManualClock, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from omnihub.connectors.imports import columnar

    with_channel(pg, clock)
    monkeypatch.setattr(columnar, "MEMORY_LIMIT", "1MB")  # too little to stage even this file
    importer = Importer(pg, clock, MAPPING, [write_file(tmp_path, ROWS)])
    report = importer.run()
    assert importer.path == "rows"
    assert report.rejected == 5 and report.imported + report.rejected == report.rows


ODD = [  # texts Python's repr spells otherwise (quotes, backslash, non-ASCII), discounts, one order's many lines
    "1,B-1,03/01/19,,,C-1,Zoë O'Hara,,,,,,,P-1,Office Supplies,Paper,\"Sheet 12\"\" \\\\ A4\",16.448,2,0,0",
    "2,B-1,03/01/19,,,C-1,Zoë O'Hara,,,,,,,P-2,Furniture,Chairs,Chaise 'longue',100.10,1,0,0",
    "3,B-2,04/01/19,,,C-2,Ann,,,,,,,P-3,Technology,Phones,Phone\u2009X,0.5,3,0,0",
]


@pytest.mark.parametrize("extra", [[], ["4,B-3,05/01/19,,,C-2,Ann,,,,,,,P-3,Technology,Phones,Phone,1.1234567,1,0,0"]],
                         ids=["set-wise", "seven-places"])
def test_set_wise_writes_are_the_row_paths(pg: Database, clock: ManualClock, tmp_path: Path,
                                           extra: list[str]) -> None:
    """The set-wise writer (or, with an amount of 7 places, the row path's writers) leaves what the row path leaves,
    events' whole data and import fingerprints included; ids keep their shape and order."""
    with_channel(pg, clock)
    path = write_file(tmp_path, ODD + extra)
    events = ("SELECT data - 'id' - 'customer_id', data->>'customer_id' IS NULL FROM outbox "
              "WHERE type = 'order.imported'")

    def left() -> dict[str, Any]:
        with pg.read() as conn:
            return {**snapshot(pg), "data": sorted(map(str, conn.execute(sa.text(events)).all()))}

    report_of(Importer(pg, clock, MAPPING, [path], columnar=False))
    by_rows = left()
    _truncate_all(pg.engine.url.render_as_string(hide_password=False))
    with_channel(pg, clock)
    columnar = Importer(pg, clock, MAPPING, [path])
    report_of(columnar)
    assert columnar.path == "columnar"
    assert left() == by_rows
    with pg.read() as conn:
        ids = conn.execute(sa.text("SELECT o.id, e.id FROM orders o JOIN outbox e ON e.data->>'id' = o.id "
                                   "ORDER BY e.seq")).all()
    assert all(len(o) == 30 and o.startswith("ord_") and len(e) == 30 and e.startswith("evt_") for o, e in ids)
    assert [o for o, _ in ids] == sorted(o for o, _ in ids)
    back = report_of(Importer(pg, clock, MAPPING, [path], columnar=False))
    assert back["rows"]["imported"] == 0 and back["rows"]["unchanged"] > 0


def test_chunks_loaded_two_at_a_time_leave_the_row_paths_rows(pg: Database, clock: ManualClock, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Small chunks: the file staged a few rows at a time, PostgreSQL loads two chunks at once (each in its own
    transaction), customer stats and interests are added chunk after chunk; what is left is what the row path
    leaves."""
    from omnihub.connectors.imports import columnar

    path = write_file(tmp_path, ROWS)
    by_rows, rows_left = row_path_then_empty(pg, clock, path)
    monkeypatch.setattr(columnar, "SET_WISE_ORDERS", 16)
    monkeypatch.setattr(columnar, "STAGE_ROWS", 7)
    importer = Importer(pg, clock, MAPPING, [path])
    report = report_of(importer)
    assert importer.path == "columnar" and report["created"]["orders"] > 5 * 16  # several chunks, two in flight
    assert report == by_rows
    assert snapshot(pg) == rows_left


def test_a_chunk_that_fails_stops_the_chunks_after_it(pg: Database, clock: ManualClock, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks commit in file order: when the third fails, the fourth (loading beside it) rolls back too, the
    first two stay, and a re-run imports the rest — ending where one clean run ends."""
    from omnihub.connectors.imports import columnar

    path = write_file(tmp_path, ROWS)
    by_rows, rows_left = row_path_then_empty(pg, clock, path)
    monkeypatch.setattr(columnar, "SET_WISE_ORDERS", 16)
    copy = columnar.copy_csv_file
    bounds = list(columnar.chunk_bounds(10_000, 16))
    assert bounds[:4] == [(0, 3), (3, 19), (19, 35), (35, 51)]  # a short first chunk, then 16 orders each

    def failing_third(conn: Any, table: Any, columns: Any, file: Path) -> None:
        if file.parent.name == "chunk19":
            raise RuntimeError("the database went away")
        copy(conn, table, columns, file)

    monkeypatch.setattr(columnar, "copy_csv_file", failing_third)
    with pytest.raises(RuntimeError, match="went away"):
        Importer(pg, clock, MAPPING, [path]).run()
    with pg.read() as conn:
        imported = conn.execute(sa.text("SELECT count(*) FROM import_keys WHERE entity = 'order'")).scalar_one()
        orders = conn.execute(sa.text("SELECT count(*) FROM orders")).scalar_one()
        events = conn.execute(sa.text("SELECT count(*) FROM outbox WHERE type = 'order.imported'")).scalar_one()
    assert imported == orders == events == 19  # chunks one and two, nothing of three or four

    monkeypatch.setattr(columnar, "copy_csv_file", copy)
    again = Importer(pg, clock, MAPPING, [path])
    report = report_of(again)
    assert report["rows"]["imported"] + report["rows"]["unchanged"] == by_rows["rows"]["imported"]
    assert report["created"]["orders"] == by_rows["created"]["orders"] - 19
    assert snapshot(pg) == rows_left


def test_duckdb_out_of_memory_before_writing_goes_down_the_row_path(pg: Database, clock: ManualClock, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole-file tables are built before anything is written: when they do not fit, the row path imports the
    file (nothing written twice, the same report)."""
    import duckdb

    from omnihub.connectors.imports import columnar

    path = write_file(tmp_path, ROWS)
    by_rows, rows_left = row_path_then_empty(pg, clock, path)

    def short_of_memory(self: Any) -> None:
        raise duckdb.OutOfMemoryException("Out of Memory Error: could not allocate block")

    monkeypatch.setattr(columnar._Stage, "_orders_tables", short_of_memory)
    importer = Importer(pg, clock, MAPPING, [path])
    assert report_of(importer) == by_rows and importer.path == "rows"
    assert snapshot(pg) == rows_left


def test_a_re_run_compares_orders_imported_before_set_wise(pg: Database, clock: ManualClock, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A re-run finds orders imported as they are now unchanged by comparing fingerprints beside DuckDB (not through
    the row path's writers), and one whose amounts changed is reported as the row path reports it."""
    from omnihub.connectors.imports import columnar

    first = write_file(tmp_path, ROWS, name="first.csv")
    changed_rows = [ROWS[0].replace(",16.448,", ",16.449,"), *ROWS[1:]]
    assert changed_rows != ROWS
    second = write_file(tmp_path, changed_rows, name="second.csv")
    with_channel(pg, clock)
    report_of(Importer(pg, clock, MAPPING, [first], columnar=False))
    by_rows = report_of(Importer(pg, clock, MAPPING, [second], columnar=False))
    rows_left = snapshot(pg)
    assert by_rows["rows"]["imported"] == 0 and by_rows["rows"]["unchanged"] > 0
    assert any("A-1 was imported before with other content" in r["reason"] for r in by_rows["rejected"])

    _truncate_all(pg.engine.url.render_as_string(hide_password=False))
    with_channel(pg, clock)
    report_of(Importer(pg, clock, MAPPING, [first]))
    compared: list[int] = []
    unchanged = columnar._Stage._unchanged

    def counted(self: Any, stored: dict[int, str]) -> set[int]:
        same = unchanged(self, stored)
        compared.append(len(same))
        return same

    monkeypatch.setattr(columnar._Stage, "_unchanged", counted)
    again = Importer(pg, clock, MAPPING, [second])
    assert report_of(again) == by_rows and again.path == "columnar"
    assert sum(compared) > 0  # unchanged orders counted set-wise
    assert snapshot(pg) == rows_left
