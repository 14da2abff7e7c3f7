"""Declarative mapping imports, the pure part: a mapping validated before any row is read (errors name the YAML
line), the transforms, and the superstore export planned with every row accounted for and its own totals
reproduced — checked against a computation over the CSV that does not use the importer."""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from omnihub.connectors.imports.reader import csv_rows
from omnihub.connectors.imports.rules import (
    FieldSpec,
    MappingError,
    RowRejected,
    apply_field,
    parse_mapping,
    plan,
    yearly_totals,
)

ROOT = Path(__file__).resolve().parents[3]
SUPERSTORE = Path("/work/shared/datasets/superstore/superstore_orders.csv")
if not SUPERSTORE.exists():
    SUPERSTORE = ROOT.parent / "shared" / "datasets" / "superstore" / "superstore_orders.csv"


@pytest.mark.parametrize(("text", "line", "words"), [
    ("entities:\n  customer:\n    fields:\n      nmae: {column: A}\n", 4, "unknown field 'nmae'"),
    ("entities:\n  invoice:\n    fields: {}\n", 2, "unknown entity 'invoice'"),
    ("entities:\n  order:\n    key: number\n    fields:\n      date: {column: D, transforms: [{date: 3}]}\n"
     "      number: {column: N, transforms: [shout]}\n", 6, "unknown transform 'shout'"),
    ("entities:\n  order:\n    key: id\n    fields:\n      number: {column: N}\n", 3, "the key 'id'"),
    ("entities:\n  order:\n    fields:\n      number: {column: N, transforms: [{decimal: x}]}\n", 4, "decimal"),
    ("entities: [\n", 2, "not valid YAML"),
])
def test_a_bad_mapping_is_refused_naming_its_line(text: str, line: int, words: str) -> None:
    with pytest.raises(MappingError) as caught:
        parse_mapping(text)
    assert caught.value.line == line and words in caught.value.message


def test_transforms() -> None:
    def spec(*transforms: object, columns: tuple[str, ...] = ("a",), sep: str = " ") -> FieldSpec:
        return FieldSpec("f", columns, sep, transforms, 1)

    assert apply_field(spec(("date", "%d/%m/%y")), {"a": "03/01/19"}) == date(2019, 1, 3)
    assert apply_field(spec(("decimal", ",")), {"a": "1.234,50"}) == Decimal("1234.50")
    assert apply_field(spec("trim", "upper"), {"a": "  ab "}) == "AB"
    assert apply_field(spec(("map", {"1": "TEE"})), {"a": "1"}) == "TEE"
    assert apply_field(spec(("default", "web")), {"a": " "}) == "web"
    assert apply_field(spec(columns=("a", "b")), {"a": "Ana", "b": "Gil"}) == "Ana Gil"
    assert apply_field(spec(("split", "-", 1)), {"a": "US-2019-1"}) == "2019"
    with pytest.raises(RowRejected, match="not a date"):
        apply_field(spec(("date", "%d/%m/%y")), {"a": "2019-01-03"})
    with pytest.raises(RowRejected, match="value map"):
        apply_field(spec(("map", {"1": "TEE"})), {"a": "2"})


def test_the_superstore_export_is_planned_whole_and_reproduces_its_own_totals() -> None:
    mapping = parse_mapping((ROOT / "examples" / "mappings" / "superstore.yaml").read_text())
    result = plan(mapping, csv_rows(SUPERSTORE))

    # The same figures straight from the CSV, without the importer.
    with SUPERSTORE.open(encoding="utf-8-sig", newline="") as handle:
        raw = list(csv.DictReader(handle))
    by_year: dict[int, dict[str, object]] = defaultdict(lambda: {"orders": set(), "units": 0,
                                                                  "revenue": Decimal(0)})
    names: dict[str, set[str]] = defaultdict(set)
    customers_of: dict[str, set[str]] = defaultdict(set)
    for row in raw:
        year = 2000 + int(row["Order Date"][-2:])
        by_year[year]["orders"].add(row["Order ID"])  # type: ignore[union-attr]
        by_year[year]["units"] += int(row["Quantity"])  # type: ignore[operator]
        by_year[year]["revenue"] += Decimal(row["Sales"])  # type: ignore[operator]
        names[row["Product ID"]].add(row["Product Name"].strip())
        customers_of[row["Order ID"]].add(row["Customer ID"])

    assert result.rows == len(raw) and not result.rejected and result.duplicates == 0
    assert sum(len(o["lines"]) for o in result.orders.values()) == len(raw)  # every row accounted for
    assert len(result.orders) == len({r["Order ID"] for r in raw})
    assert len(result.customers) == len({r["Customer ID"] for r in raw})
    assert len(result.products) == len({r["Product ID"] for r in raw})
    totals = yearly_totals(result)
    for year, expected in by_year.items():
        assert totals[year]["orders"] == len(expected["orders"])  # type: ignore[arg-type]
        assert totals[year]["units"] == expected["units"]
        assert totals[year]["revenue"] == expected["revenue"]
    # Dirty data is reported, not guessed: each product id with two names, each order id with two customers.
    two_names = {sku for sku, seen in names.items() if len(seen) > 1}
    two_customers = {order for order, seen in customers_of.items() if len(seen) > 1}
    assert two_names and two_customers  # the export is dirty, as its SOURCES.md says
    assert {d["key"] for d in result.dirty if d["entity"] == "product" and d["field"] == "name"} == two_names
    assert {d["key"] for d in result.dirty if d["entity"] == "order"} == two_customers
    report = next(d for d in result.dirty if d["entity"] == "product")
    assert report["kept_from_line"] < report["line"] and report["kept"] != report["other"]
