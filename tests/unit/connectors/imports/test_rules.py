"""The mapping format: validation names the YAML line before any row is read; transforms read rows as declared."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from omnihub.connectors.imports.rules import Conflicts, MappingError, RowError, compile_mapping, missing_columns

BASE = """\
version: 1
channel: web
system: erp
currency: eur
code_tables:
  articles: {"1001": SKU-A, "1002": SKU-B}
entities:
  product:
    fields:
      sku: {column: Code, transforms: [trim, {code_table: articles}]}
      name: {column: Name, transforms: [trim, title]}
      category: {columns: [Family, Sub], separator: " / ", default: misc}
  customer:
    fields:
      customer_id: {column: Customer, transforms: [upper]}
      name: {column: Full, transforms: [{split: {separator: ",", index: 1}}]}
      email: {column: Mail, transforms: [lower, {default: none@shop.test}]}
  order:
    group_by: number
    fields:
      number: {column: Order}
      placed_at: {column: Date, transforms: [{date: "%d/%m/%y"}]}
      status: {column: State, transforms: [{map: {S: shipped, D: delivered}}]}
  order_line:
    fields:
      sku: {column: Code, transforms: [trim, {code_table: articles}]}
      quantity: {column: Qty, transforms: [integer]}
      total: {column: Amount, transforms: [{decimal: ","}]}
"""

ROW = {"Code": " 1001 ", "Name": " blue mug ", "Family": "Home", "Sub": "", "Customer": "c-7",
       "Full": "Doe, Jane", "Mail": "", "Order": "A-1", "Date": "03/01/19", "State": "S", "Qty": "2",
       "Amount": "1.234,50"}


def test_a_valid_mapping_reads_a_row_through_every_transform() -> None:
    mapping = compile_mapping(BASE)
    assert mapping.currency == "EUR" and mapping.system == "erp"
    product = mapping.entities["product"].read(ROW)
    assert product == {"sku": "SKU-A", "name": "Blue Mug", "category": "Home", "barcode": None} or \
        product == {"sku": "SKU-A", "name": "Blue Mug", "category": "Home"}
    customer = mapping.entities["customer"].read(ROW)
    assert customer == {"customer_id": "C-7", "name": "Jane", "email": "none@shop.test"}
    order = mapping.entities["order"].read(ROW)
    assert order["placed_at"] == datetime(2019, 1, 3, tzinfo=UTC) and order["status"] == "shipped"
    line = mapping.entities["order_line"].read(ROW)
    assert line == {"sku": "SKU-A", "quantity": 2, "total": Decimal("1234.50")}
    assert missing_columns(mapping, ["Code", "Name"])[:2] == ["Amount", "Customer"]


@pytest.mark.parametrize(("change", "line", "words"), [
    (("      name: {column: Name, transforms: [trim, title]}", "      nmae: {column: Name}"), 11,
     "unknown field 'nmae'"),
    (("[trim, title]", "[trim, titel]"), 11, "unknown transform 'titel'"),
    (('{date: "%d/%m/%y"}', '{date: "dd/mm/yy"}'), 22, "has no day, month or year"),
    (('{decimal: ","}', '{decimal: ";"}'), 28, "decimal separator"),
    (("{code_table: articles}]}\n      name", "{code_table: artikel}]}\n      name"), 10, "no code table 'artikel'"),
    (("  order_line:", "  order_lines:"), 24, "unknown entity 'order_lines'"),
    (("currency: eur", "currency: euro"), 4, "3-letter"),
    (("group_by: number", "group_by: reference"), 19, "group_by 'reference' is not a field"),
    (("      quantity: {column: Qty, transforms: [integer]}\n", ""), 25, "field 'quantity' is required"),
    (("system: erp", "sistem: erp"), 3, "unknown key 'sistem'"),
    (("[{split: {separator: \",\", index: 1}}]", "[{split: {separator: \",\", index: one}}]"), 16, "split index"),
    (("entities:", "entities: [\n"), 10, "not valid YAML"),
])
def test_a_bad_mapping_is_refused_naming_its_line(change: tuple[str, str], line: int, words: str) -> None:
    text = BASE.replace(*change)
    assert text != BASE
    with pytest.raises(MappingError) as caught:
        compile_mapping(text)
    assert caught.value.line == line, str(caught.value)
    assert words in caught.value.message
    assert str(caught.value).startswith(f"line {line}: ")


@pytest.mark.parametrize(("row", "reason"), [
    ({**ROW, "Code": "9999"}, "'9999' is not in code table 'articles'"),
    ({**ROW, "Date": "2019-01-03"}, "does not match the date format"),
    ({**ROW, "Qty": "2.5"}, "is not a whole number"),
    ({**ROW, "Amount": "12,3x"}, "is not a number"),
    ({**ROW, "Order": "  "}, "order.number is empty"),
])
def test_a_bad_value_rejects_the_row_with_its_reason(row: dict[str, str], reason: str) -> None:
    mapping = compile_mapping(BASE)
    with pytest.raises(RowError) as caught:
        for entity in mapping.entities.values():
            entity.read(row)
    assert reason in str(caught.value)


def test_conflicts_keep_the_first_value_and_name_the_other_rows() -> None:
    seen = Conflicts("one product, several names")
    assert seen.see("P1", "Mug", 2) and seen.see("P1", "Mug", 5)
    assert not seen.see("P1", "Cup", 9)
    assert seen.found == [{"what": "one product, several names", "key": "P1", "kept": "Mug", "kept_from_line": 2,
                           "other": "Cup", "line": 9}]
