"""Declarative mapping imports, the pure part: a YAML mapping validated before a row is read (an error names the
line of YAML), the transforms it declares, and the plan of a file — every row accounted for (taken, duplicate or
rejected with its line and reason) and dirty data reported (one order id with two customers, one product id with
two names: which rows, and what was kept). No database: writing the plan is the importer's job.

A mapping:

    entities:
      customer: {key: id, fields: {id: {column: Customer ID}, name: {column: Customer Name, transforms: [trim]}}}
      product:  {key: sku, fields: {sku: {column: Product ID}, name: {column: Product Name}}}
      order:    {key: number, fields: {number: {column: Order ID},
                                       date: {column: Order Date, transforms: [{date: "%d/%m/%y"}]},
                                       customer: {column: Customer ID}}}
      order_line: {fields: {sku: {column: Product ID}, quantity: {column: Quantity, transforms: [int]},
                            amount: {column: Sales, transforms: [{decimal: "."}]}}}

Transforms, applied in order: `trim`, `upper`, `lower`, `title`, `int`, `{decimal: "," | "."}`,
`{date: "<strptime format>"}`, `{map: {from: to}}` (a value map or code table; an unknown value is rejected
unless `default` follows), `{default: value}` (for an empty value), `{concat: [columns], sep: " "}` (instead of
`column`), `{split: "<separator>", index: n}`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import yaml

ENTITY_FIELDS: dict[str, frozenset[str]] = {
    "customer": frozenset({"id", "name", "email", "phone", "segment", "city", "region", "country", "postal_code"}),
    "product": frozenset({"sku", "name", "category", "subcategory"}),
    "order": frozenset({"number", "date", "customer", "channel", "location", "ship_date", "ship_mode"}),
    "order_line": frozenset({"id", "sku", "quantity", "amount", "unit_price", "discount", "profit"}),
    "price": frozenset({"sku", "channel", "amount"}),
    "stock": frozenset({"sku", "location", "on_hand"}),
    "location": frozenset({"code", "name", "kind"}),
}
SIMPLE_TRANSFORMS = frozenset({"trim", "upper", "lower", "title", "int"})
KEYED_TRANSFORMS = frozenset({"decimal", "date", "map", "default", "split"})


class MappingError(ValueError):
    """A mapping that cannot be used; `line` is the line of YAML (1-based) it is about."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.message = message
        self.line = line


class RowRejected(ValueError):
    """One row that cannot be taken, and why."""


@dataclass(frozen=True)
class FieldSpec:
    name: str
    columns: tuple[str, ...]
    separator: str
    transforms: tuple[Any, ...]
    line: int


@dataclass(frozen=True)
class EntitySpec:
    name: str
    key: str | None
    fields: tuple[FieldSpec, ...]


@dataclass(frozen=True)
class Mapping:
    entities: dict[str, EntitySpec]

    def columns(self) -> set[str]:
        return {c for e in self.entities.values() for f in e.fields for c in f.columns}


def _line(node: yaml.Node | None) -> int | None:
    return node.start_mark.line + 1 if node is not None else None


def _pairs(node: yaml.Node, what: str) -> Iterator[tuple[str, yaml.Node, yaml.Node]]:
    if not isinstance(node, yaml.MappingNode):
        raise MappingError(f"{what} must be a mapping", _line(node))
    for key, value in node.value:
        yield str(key.value), key, value


def parse_mapping(text: str) -> Mapping:
    """The mapping, validated: unknown entities, fields or transforms, and malformed ones, are refused here with
    the line of YAML they are on — before any data is read."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise MappingError(f"not valid YAML: {getattr(exc, 'problem', exc)}", mark.line + 1 if mark else None
                           ) from None
    if root is None:
        raise MappingError("the mapping is empty", None)
    entities_node = None
    for name, key, value in _pairs(root, "the mapping"):
        if name == "entities":
            entities_node = value
        elif name != "source":
            raise MappingError(f"unknown section {name!r} (expected entities, source)", _line(key))
    if entities_node is None:
        raise MappingError("the mapping has no `entities`", _line(root))
    entities = {}
    for entity, key, value in _pairs(entities_node, "entities"):
        if entity not in ENTITY_FIELDS:
            raise MappingError(f"unknown entity {entity!r} (one of {', '.join(sorted(ENTITY_FIELDS))})", _line(key))
        entities[entity] = _entity(entity, value)
    return Mapping(entities)


def _entity(entity: str, node: yaml.Node) -> EntitySpec:
    key_field, fields = None, []
    fields_node = None
    for name, key, value in _pairs(node, entity):
        if name == "key":
            key_field = str(value.value)
            key_line = _line(value)
        elif name == "fields":
            fields_node = value
        else:
            raise MappingError(f"unknown setting {name!r} of {entity} (expected key, fields)", _line(key))
    if fields_node is None:
        raise MappingError(f"{entity} has no fields", _line(node))
    for name, key, value in _pairs(fields_node, f"{entity}.fields"):
        if name not in ENTITY_FIELDS[entity]:
            raise MappingError(f"unknown field {name!r} of {entity} (one of "
                               f"{', '.join(sorted(ENTITY_FIELDS[entity]))})", _line(key))
        fields.append(_field(entity, name, value))
    if key_field is not None and key_field not in {f.name for f in fields}:
        raise MappingError(f"the key {key_field!r} of {entity} is not one of its fields", key_line)
    return EntitySpec(entity, key_field, tuple(fields))


def _field(entity: str, name: str, node: yaml.Node) -> FieldSpec:
    if isinstance(node, yaml.ScalarNode):
        return FieldSpec(name, (str(node.value),), "", (), _line(node) or 0)
    columns: tuple[str, ...] = ()
    separator = " "
    transforms: list[Any] = []
    for setting, key, value in _pairs(node, f"{entity}.{name}"):
        if setting == "column":
            columns = (str(value.value),)
        elif setting == "concat":
            if not isinstance(value, yaml.SequenceNode) or not value.value:
                raise MappingError("concat takes a list of columns", _line(value))
            columns = tuple(str(v.value) for v in value.value)
        elif setting == "sep":
            separator = str(value.value)
        elif setting == "transforms":
            if not isinstance(value, yaml.SequenceNode):
                raise MappingError("transforms is a list", _line(value))
            transforms.extend(_transform(item) for item in value.value)
        else:
            raise MappingError(f"unknown setting {setting!r} of {entity}.{name} (expected column, concat, sep, "
                               "transforms)", _line(key))
    if not columns:
        raise MappingError(f"{entity}.{name} names no column (column or concat)", _line(node))
    return FieldSpec(name, columns, separator, tuple(transforms), _line(node) or 0)


def _transform(node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        if node.value not in SIMPLE_TRANSFORMS:
            raise MappingError(f"unknown transform {node.value!r} (one of "
                               f"{', '.join(sorted(SIMPLE_TRANSFORMS | KEYED_TRANSFORMS))})", _line(node))
        return node.value
    items = dict((k, v) for k, _, v in _pairs(node, "a transform"))
    kind = next((k for k in items if k in KEYED_TRANSFORMS), None)
    if kind is None:
        raise MappingError(f"unknown transform {sorted(items)} (one of {', '.join(sorted(KEYED_TRANSFORMS))})",
                           _line(node))
    value = items[kind]
    if kind == "date":
        try:
            datetime(2020, 1, 2, 3, 4, 5).strftime(str(value.value))
        except (ValueError, TypeError):
            raise MappingError(f"bad date format {value.value!r}", _line(value)) from None
        return ("date", str(value.value))
    if kind == "decimal":
        if value.value not in (",", "."):
            raise MappingError("decimal takes the decimal separator: \",\" or \".\"", _line(value))
        return ("decimal", value.value)
    if kind == "map":
        if not isinstance(value, yaml.MappingNode):
            raise MappingError("map takes {from: to} pairs", _line(value))
        return ("map", {str(k.value): str(v.value) for k, v in value.value})
    if kind == "split":
        index = items.get("index")
        return ("split", str(value.value), int(index.value) if index is not None else 0)
    return ("default", str(value.value))


def apply_field(spec: FieldSpec, row: dict[str, str]) -> Any:
    """One field's value from a row, through its transforms; RowRejected with the reason when it cannot be."""
    missing = [c for c in spec.columns if c not in row]
    if missing:
        raise RowRejected(f"no column {missing[0]!r}")
    value: Any = spec.separator.join(row[c] for c in spec.columns) if len(spec.columns) > 1 else row[spec.columns[0]]
    for step in spec.transforms:
        value = _step(step, value, spec.name)
    return value


def _step(step: Any, value: Any, name: str) -> Any:
    text = "" if value is None else str(value)
    if step == "trim":
        return text.strip()
    if step in ("upper", "lower", "title"):
        return getattr(text, step)()
    if step == "int":
        try:
            return int(text.strip())
        except ValueError:
            raise RowRejected(f"{name}: {text!r} is not a whole number") from None
    kind = step[0]
    if kind == "decimal":
        cleaned = text.strip().replace(".", "").replace(",", ".") if step[1] == "," else text.strip().replace(",", "")
        try:
            return Decimal(cleaned)
        except InvalidOperation:
            raise RowRejected(f"{name}: {text!r} is not a number") from None
    if kind == "date":
        try:
            return datetime.strptime(text.strip(), step[1]).date()
        except ValueError:
            raise RowRejected(f"{name}: {text!r} is not a date as {step[1]}") from None
    if kind == "map":
        if text in step[1]:
            return step[1][text]
        raise RowRejected(f"{name}: {text!r} is not in its value map")
    if kind == "split":
        parts = text.split(step[1])
        return parts[step[2]] if -len(parts) <= step[2] < len(parts) else ""
    return value if text.strip() else step[1]  # default


@dataclass
class Plan:
    """What a file would import: entities by external key, and every row's fate."""

    rows: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    products: dict[str, dict[str, Any]] = field(default_factory=dict)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    duplicates: int = 0
    dirty: list[dict[str, Any]] = field(default_factory=list)


def plan(mapping: Mapping, rows: Iterable[tuple[int, dict[str, str]]]) -> Plan:
    """Every row accounted for: taken (its order line joins its order, grouped by the order's key), a duplicate
    (the same line again), or rejected with its line and reason. The first value of a customer's or product's
    field is kept; a later different one is reported as dirty data, with the rows involved."""
    result = Plan()
    seen_lines: dict[tuple[Any, ...], int] = {}
    first_row: dict[tuple[str, str], int] = {}
    for line_no, row in rows:
        result.rows += 1
        try:
            values = {name: {f.name: apply_field(f, row) for f in spec.fields}
                      for name, spec in mapping.entities.items()}
        except RowRejected as exc:
            result.rejected.append((line_no, str(exc)))
            continue
        for entity, target in (("customer", result.customers), ("product", result.products)):
            spec = mapping.entities.get(entity)
            if spec is None or spec.key is None:
                continue
            key = str(values[entity][spec.key])
            if not key:
                continue
            known = target.setdefault(key, values[entity])
            first_row.setdefault((entity, key), line_no)
            for name, value in values[entity].items():
                if known.get(name) != value:
                    result.dirty.append({"entity": entity, "key": key, "field": name, "kept": known.get(name),
                                         "kept_from_line": first_row[(entity, key)], "other": value,
                                         "line": line_no})
        order_spec = mapping.entities.get("order")
        if order_spec is None or order_spec.key is None:
            continue
        order_values = values["order"]
        key = str(order_values[order_spec.key])
        order = result.orders.get(key)
        if order is None:
            order = result.orders[key] = {**order_values, "lines": [], "first_line": line_no}
        elif order.get("customer") != order_values.get("customer"):
            result.dirty.append({"entity": "order", "key": key, "field": "customer", "kept": order.get("customer"),
                                 "kept_from_line": order["first_line"], "other": order_values.get("customer"),
                                 "line": line_no})
        line = values.get("order_line") or {}
        line_spec = mapping.entities.get("order_line")
        line_key = line_spec.key if line_spec is not None else None
        fingerprint = ((key, str(line[line_key])) if line_key else (key, *sorted((k, str(v)) for k, v in line.items())))
        if fingerprint in seen_lines:
            result.duplicates += 1
            continue
        seen_lines[fingerprint] = line_no
        order["lines"].append({**line, "row": line_no})
    return result


def yearly_totals(result: Plan) -> dict[int, dict[str, Any]]:
    """Orders, units and revenue per year of the order date (for comparing an import with its source)."""
    totals: dict[int, dict[str, Any]] = {}
    for order in result.orders.values():
        when = order.get("date")
        year = when.year if isinstance(when, date) else 0
        bucket = totals.setdefault(year, {"orders": 0, "units": 0, "revenue": Decimal(0)})
        bucket["orders"] += 1
        for line in order["lines"]:
            bucket["units"] += int(line.get("quantity") or 0)
            bucket["revenue"] += Decimal(line.get("amount") or 0)
    return totals
