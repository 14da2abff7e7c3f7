"""Order fingerprints of the columnar import path: the text `service._order_shape` gives each order (the `repr`
of a fixed tuple), spelt in DuckDB SQL over the stage's tables, and hashed in Python as `_order_fingerprint` hashes
it. So either path recognises the other's imports as unchanged."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from duckdb import sqltypes

from omnihub.connectors.imports.service import shape_fingerprint

FETCH = 8192  # shapes taken from DuckDB at a time


def text_sql(c: str) -> str:
    """SQL: Python's `repr` of text column `c` (None for NULL): quoted in SQL when plain printable ASCII without a
    quote or backslash, else by `_repr` (Python's own)."""
    return (f"CASE WHEN {c} IS NULL THEN 'None' WHEN regexp_full_match({c}, '[ -&(-\\[\\]-~]*') "
            f"THEN '''' || {c} || '''' ELSE _repr({c}) END")


def build_parts(db: Any) -> None:
    """The parts of fingerprints that repeat, spelt once for the whole file (from tables `ords` and `lns`): Python's
    `repr` for texts that are not plain printable ASCII and for each distinct order date (table `dts`), each
    distinct (SKU, name, category) of a line (table `fpl`), each distinct (customer, currency, status) of an order
    (table `fpo`)."""
    db.create_function("_repr", repr, [sqltypes.VARCHAR], sqltypes.VARCHAR, side_effects=False)
    dates = [p for (p,) in db.execute("SELECT DISTINCT placed FROM ords WHERE placed IS NOT NULL").fetchall()]
    db.execute("CREATE TABLE dts AS SELECT unnest(?::VARCHAR[]) AS placed, unnest(?::VARCHAR[]) AS r",
               [dates, [repr(datetime.fromisoformat(p)) for p in dates]])
    db.execute(
        f"CREATE TABLE fpl AS SELECT sku, name, category, '(' || {text_sql('sku')} || ', ' || {text_sql('name')} "
        f"|| ', ' || {text_sql('category')} || ', ' AS head FROM (SELECT DISTINCT sku, name, category FROM lns)")
    db.execute(
        f"CREATE TABLE fpo AS SELECT customer, currency, status, {text_sql('customer')} || ', ' || "
        f"{text_sql('currency')} || ', ' || {text_sql('status')} AS mid FROM (SELECT DISTINCT customer, currency, "
        "status FROM ords)")


def of_orders(db: Any, orders: str, lines: str) -> Iterator[tuple[int, str]]:
    """(rank, fingerprint) of each order of table `orders` (lines in `lines`), shaped as `_oin` and `_lin`."""
    cursor = db.execute(f"SELECT rank, shape FROM ({shapes_sql(orders, lines)})")
    while chunk := cursor.fetchmany(FETCH):
        for rank, shape in chunk:
            yield rank, shape_fingerprint(shape.encode())


def write_keys(db: Any, path: Path, system: str, job: str | None, now: str) -> None:
    """The import keys of the orders of table `_oin` (lines in `_lin`) as a CSV file for `copy_csv_file`, each with
    the fingerprint `service._order_fingerprint` gives it: the shape spelt by DuckDB, hashed here (hashlib's sha256
    is ~10x DuckDB's)."""
    # in no particular order: the keys' index is on the external key, and sorting the shapes by rank cost almost as
    # much as building them
    cursor = db.execute(f"SELECT o.k, o.id, f.shape FROM _oin o JOIN ({shapes_sql()}) f USING (rank)")
    with path.open("w", newline="", encoding="utf-8") as out:
        write = csv.writer(out, lineterminator="\n").writerow
        while chunk := cursor.fetchmany(FETCH):
            for key, order_id, shape in chunk:
                write((system, "order", key, order_id, shape_fingerprint(shape.encode()), job, now))


def shapes_sql(orders: str = "_oin", lines: str = "_lin") -> str:
    """SQL: each order of table `orders` (lines in `lines`) with the text `service._order_shape` gives it: the same
    `repr` of the same tuple, spelt in SQL (texts through Python's `repr` unless plain; repeated parts from
    `build_parts`)."""
    def decimal(c: str) -> str:
        return f"CASE WHEN {c} IS NULL THEN 'None' ELSE 'Decimal(''' || {c} || ''')' END"

    line = (f"h.head || CAST(l.quantity AS VARCHAR) || ', ' || {decimal('l.total')} || ', ' || "
            f"{decimal('l.unit_price')} || ', ' || {decimal('l.discount')} || ')'")
    shape = f"'(' || {text_sql('o.number')} || ', ' || d.r || ', ' || m.mid || ', None, [' || ls.lines || '])'"
    return (f"SELECT o.rank, {shape} AS shape FROM {orders} o "
            "JOIN dts d ON d.placed = o.placed "
            "JOIN fpo m ON m.customer IS NOT DISTINCT FROM o.customer AND m.currency IS NOT DISTINCT FROM "
            "o.currency AND m.status IS NOT DISTINCT FROM o.status "
            # lines in order by sorting each order's short list, not by an ordered aggregate (~6x dearer)
            "JOIN (SELECT l.rank, array_to_string(list_transform(list_sort(list("
            f"{{'n': l.line_no, 's': {line}}})), x -> x.s), ', ') AS lines FROM {lines} l "
            "JOIN fpl h ON h.sku IS NOT DISTINCT FROM l.sku AND h.name IS NOT DISTINCT FROM l.name "
            "AND h.category IS NOT DISTINCT FROM l.category GROUP BY l.rank) ls USING (rank)")
