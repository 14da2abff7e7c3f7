"""Declarative import mappings: the YAML format, its validation (before a row is read) and the per-row transforms.

Pure logic: no I/O besides parsing the YAML text it is given. A mapping declares, per entity, which column feeds
which field and through which transforms; `compile_mapping` checks every name against what the importer knows and
answers a `MappingError` naming the YAML line, so a typo never surfaces as a half-done import.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

# The fields the importer can write, per entity (the first is the entity's natural key).
ENTITIES: dict[str, tuple[str, ...]] = {
    "customer": ("customer_id", "name", "email", "phone"),
    "product": ("sku", "name", "category", "barcode"),
    "price": ("sku", "price"),
    "stock": ("sku", "location", "quantity"),
    "order": ("number", "placed_at", "customer", "status", "shipping", "currency"),
    "order_line": ("sku", "quantity", "total", "unit_price", "discount", "name", "category"),
    "location": ("code", "name", "kind"),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "customer": ("customer_id",),
    "product": ("sku", "name"),
    "price": ("sku", "price"),
    "stock": ("sku", "location", "quantity"),
    "order": ("number", "placed_at"),
    "order_line": ("sku", "quantity", "total"),
    "location": ("code", "name"),
}
TOP_LEVEL = ("version", "name", "channel", "currency", "system", "code_tables", "entities")
FIELD_KEYS = ("column", "columns", "separator", "value", "default", "transforms")
SIMPLE_TRANSFORMS = ("trim", "upper", "lower", "title", "integer", "blank_is_none")
ARG_TRANSFORMS = ("date", "datetime", "decimal", "map", "code_table", "split", "default", "replace")


class MappingError(ValueError):
    """A mapping that cannot be used, with the YAML line (1-based) it is about."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


class RowError(ValueError):
    """A value in one row that the mapping cannot read (the row is rejected with this reason)."""


Transform = Callable[[Any], Any]


@dataclass(frozen=True)
class FieldRule:
    """How one field gets its value from a row: columns (joined when several), a constant, then transforms."""

    name: str
    columns: tuple[str, ...] = ()
    separator: str = " "
    value: Any = None
    default: Any = None
    transforms: tuple[Transform, ...] = ()

    def read(self, row: Mapping[str, Any]) -> Any:
        if self.columns:
            parts = [row.get(column) for column in self.columns]
            if len(parts) == 1:
                value: Any = parts[0]
            else:
                value = self.separator.join(str(p).strip() for p in parts if p not in (None, ""))
        else:
            value = self.value
        for transform in self.transforms:
            value = transform(value)
        if value is None or value == "":
            return self.default
        return value


@dataclass(frozen=True)
class EntityRule:
    name: str
    fields: dict[str, FieldRule]
    key: str
    group_by: str | None = None

    def read(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The entity's fields from one row; a missing required field is a `RowError`."""
        out = {}
        for name, rule in self.fields.items():
            try:
                out[name] = rule.read(row)
            except RowError as exc:
                raise RowError(f"{self.name}.{name}: {exc}") from None
        for name in REQUIRED[self.name]:
            value = out.get(name)
            if value is None or (isinstance(value, str) and not value.strip()):
                raise RowError(f"{self.name}.{name} is empty")
        return out


@dataclass(frozen=True)
class Mapping_:
    """A validated mapping."""

    name: str
    channel: str
    currency: str
    system: str
    entities: dict[str, EntityRule] = field(default_factory=dict)

    def columns(self) -> set[str]:
        return {c for e in self.entities.values() for f in e.fields.values() for c in f.columns}


# --- transforms -----------------------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _case(how: str) -> Transform:
    def apply(value: Any) -> Any:
        return getattr(value, how)() if isinstance(value, str) else value
    return apply


def to_integer(value: Any) -> int | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        raise RowError(f"{value!r} is not a whole number")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise RowError(f"{value!r} is not a whole number") from None
    if number != number.to_integral_value():
        raise RowError(f"{value!r} is not a whole number")
    return int(number)


def decimal_reader(separator: str) -> Transform:
    """Numbers written with `separator` as the decimal mark; the other mark (thousands) is dropped."""
    thousands = "." if separator == "," else ","

    def apply(value: Any) -> Decimal | None:
        if value in (None, ""):
            return None
        if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
            return Decimal(str(value))
        text = str(value).strip().replace(" ", "").replace(thousands, "").replace(separator, ".")
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise RowError(f"{value!r} is not a number") from None
        if not number.is_finite():
            raise RowError(f"{value!r} is not a number")
        return number
    return apply


DATE_CACHE = 4096  # distinct date texts remembered per date field (an export repeats its days; strptime is slow)


def date_reader(fmt: str) -> Transform:
    """Dates (or dates with times) in `fmt` (strptime) read as UTC datetimes; Excel gives datetimes already."""
    seen: dict[str, datetime] = {}

    def apply(value: Any) -> datetime | None:
        if value in (None, ""):
            return None
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        text = str(value).strip()
        parsed = seen.get(text)
        if parsed is not None:
            return parsed
        try:
            parsed = datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            raise RowError(f"{value!r} does not match the date format {fmt!r}") from None
        if len(seen) >= DATE_CACHE:
            seen.clear()
        seen[text] = parsed
        return parsed
    return apply


def map_reader(table: Mapping[str, Any], *, strict: bool, what: str) -> Transform:
    def apply(value: Any) -> Any:
        if value in (None, ""):
            return value
        key = str(value)
        if key in table:
            return table[key]
        if strict:
            raise RowError(f"{value!r} is not in {what}")
        return value
    return apply


def split_reader(separator: str, index: int) -> Transform:
    def apply(value: Any) -> Any:
        if value in (None, ""):
            return value
        parts = str(value).split(separator)
        return parts[index].strip() if -len(parts) <= index < len(parts) else None
    return apply


# --- validation over the YAML node tree (it keeps the line of every key) ------------------------------------------


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _plain(node: Node) -> Any:
    return yaml.safe_load(yaml.serialize(node))


def _items(node: Node, what: str) -> list[tuple[str, Node, int]]:
    if not isinstance(node, MappingNode):
        raise MappingError(_line(node), f"{what} must be a mapping")
    out = []
    seen: set[str] = set()
    for key, value in node.value:
        if not isinstance(key, ScalarNode):
            raise MappingError(_line(key), f"{what}: keys must be names")
        if key.value in seen:
            raise MappingError(_line(key), f"{what}: {key.value!r} is given twice")
        seen.add(key.value)
        out.append((key.value, value, _line(key)))
    return out


def _scalar(node: Node, what: str) -> str:
    if not isinstance(node, ScalarNode):
        raise MappingError(_line(node), f"{what} must be a single value")
    return str(node.value)


def _transform(node: Node, code_tables: dict[str, dict[str, Any]], what: str) -> Transform:
    line = _line(node)
    if isinstance(node, ScalarNode):
        name = node.value
        if name == "trim":
            return _strip
        if name in ("upper", "lower", "title"):
            return _case(name)
        if name == "integer":
            return to_integer
        if name == "blank_is_none":
            return lambda v: None if isinstance(v, str) and not v.strip() else v
        if name in ARG_TRANSFORMS:
            raise MappingError(line, f"{what}: transform {name!r} needs an argument ({name}: ...)")
        raise MappingError(line, f"{what}: unknown transform {name!r} (known: "
                                 f"{', '.join(SIMPLE_TRANSFORMS + ARG_TRANSFORMS)})")
    items = _items(node, what)
    if len(items) != 1:
        raise MappingError(line, f"{what}: a transform is one name with its argument")
    name, arg, line = items[0]
    if name in ("date", "datetime"):
        fmt = _scalar(arg, f"{what}.{name}")
        if not re.search(r"%[dmyYjb]", fmt):
            raise MappingError(line, f"{what}: date format {fmt!r} has no day, month or year (%d, %m, %y…)")
        try:
            datetime.now().strftime(fmt)
        except ValueError:
            raise MappingError(line, f"{what}: {fmt!r} is not a strftime format") from None
        return date_reader(fmt)
    if name == "decimal":
        separator = _scalar(arg, f"{what}.decimal")
        if separator not in (".", ","):
            raise MappingError(line, f"{what}: the decimal separator must be '.' or ','")
        return decimal_reader(separator)
    if name == "map":
        table = {str(k): v for k, v in (_plain(arg) or {}).items()} if isinstance(arg, MappingNode) else None
        if table is None:
            raise MappingError(line, f"{what}: map needs a table of value: replacement")
        return map_reader(table, strict=False, what="the map")
    if name == "code_table":
        table_name = _scalar(arg, f"{what}.code_table")
        if table_name not in code_tables:
            raise MappingError(line, f"{what}: no code table {table_name!r} (declare it under code_tables)")
        return map_reader(code_tables[table_name], strict=True, what=f"code table {table_name!r}")
    if name == "split":
        spec = {k: v for k, v, _ in _items(arg, f"{what}.split")}
        unknown = set(spec) - {"separator", "index"}
        if unknown or "separator" not in spec:
            raise MappingError(line, f"{what}: split takes separator and index")
        try:
            index = int(_scalar(spec["index"], "index")) if "index" in spec else 0
        except ValueError:
            raise MappingError(line, f"{what}: split index must be a whole number") from None
        return split_reader(_scalar(spec["separator"], "separator"), index)
    if name == "default":
        constant = _plain(arg)
        return lambda v: constant if v in (None, "") else v
    if name == "replace":
        spec = {k: _scalar(v, k) for k, v, _ in _items(arg, f"{what}.replace")}
        if set(spec) != {"pattern", "with"}:
            raise MappingError(line, f"{what}: replace takes pattern and with")
        try:
            pattern = re.compile(spec["pattern"])
        except re.error as exc:
            raise MappingError(line, f"{what}: bad pattern: {exc}") from None
        return lambda v: pattern.sub(spec["with"], v) if isinstance(v, str) else v
    raise MappingError(line, f"{what}: unknown transform {name!r} (known: "
                             f"{', '.join(SIMPLE_TRANSFORMS + ARG_TRANSFORMS)})")


def _field(name: str, node: Node, code_tables: dict[str, dict[str, Any]], what: str) -> FieldRule:
    if isinstance(node, ScalarNode):  # shorthand: `field: Column Name`
        return FieldRule(name=name, columns=(node.value,))
    spec = {}
    for key, value, line in _items(node, what):
        if key not in FIELD_KEYS:
            raise MappingError(line, f"{what}: unknown key {key!r} (known: {', '.join(FIELD_KEYS)})")
        spec[key] = (value, line)
    if "column" in spec and "columns" in spec:
        raise MappingError(spec["columns"][1], f"{what}: give column or columns, not both")
    columns: tuple[str, ...] = ()
    if "column" in spec:
        columns = (_scalar(spec["column"][0], f"{what}.column"),)
    elif "columns" in spec:
        node_ = spec["columns"][0]
        if not isinstance(node_, SequenceNode) or not node_.value:
            raise MappingError(spec["columns"][1], f"{what}: columns is a list of column names (concatenated)")
        columns = tuple(_scalar(n, f"{what}.columns") for n in node_.value)
    if not columns and "value" not in spec and "default" not in spec:
        raise MappingError(_line(node), f"{what}: needs a column, columns, a value or a default")
    transforms: list[Transform] = []
    if "transforms" in spec:
        node_ = spec["transforms"][0]
        if not isinstance(node_, SequenceNode):
            raise MappingError(spec["transforms"][1], f"{what}: transforms is a list")
        transforms = [_transform(t, code_tables, f"{what}.transforms") for t in node_.value]
    return FieldRule(
        name=name, columns=columns,
        separator=_scalar(spec["separator"][0], "separator") if "separator" in spec else " ",
        value=_plain(spec["value"][0]) if "value" in spec else None,
        default=_plain(spec["default"][0]) if "default" in spec else None,
        transforms=tuple(transforms))


def _entity(name: str, node: Node, line: int, code_tables: dict[str, dict[str, Any]]) -> EntityRule:
    if name not in ENTITIES:
        raise MappingError(line, f"unknown entity {name!r} (known: {', '.join(ENTITIES)})")
    parts = {k: (v, ln) for k, v, ln in _items(node, name)}
    unknown = set(parts) - {"fields", "key", "group_by"}
    if unknown:
        key = sorted(unknown)[0]
        raise MappingError(parts[key][1], f"{name}: unknown key {key!r} (known: fields, key, group_by)")
    if "fields" not in parts:
        raise MappingError(_line(node), f"{name}: needs fields")
    fields = {}
    for fname, fnode, fline in _items(parts["fields"][0], f"{name}.fields"):
        if fname not in ENTITIES[name]:
            raise MappingError(fline, f"{name}: unknown field {fname!r} (known: {', '.join(ENTITIES[name])})")
        fields[fname] = _field(fname, fnode, code_tables, f"{name}.{fname}")
    for required in REQUIRED[name]:
        if required not in fields:
            raise MappingError(parts["fields"][1], f"{name}: field {required!r} is required")
    key = _scalar(parts["key"][0], f"{name}.key") if "key" in parts else ENTITIES[name][0]
    if key not in fields:
        raise MappingError(parts["key"][1] if "key" in parts else line, f"{name}: key {key!r} is not a field")
    group_by = _scalar(parts["group_by"][0], f"{name}.group_by") if "group_by" in parts else None
    if group_by is not None and group_by not in fields:
        raise MappingError(parts["group_by"][1], f"{name}: group_by {group_by!r} is not a field")
    return EntityRule(name=name, fields=fields, key=key, group_by=group_by)


def compile_mapping(text: str) -> Mapping_:
    """Parse and validate a mapping's YAML. Raises `MappingError` with the line of the first problem."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise MappingError(mark.line + 1 if mark else 1, f"not valid YAML: {exc.problem}") from None
    if root is None:
        raise MappingError(1, "the mapping is empty")
    top = {k: (v, ln) for k, v, ln in _items(root, "the mapping")}
    for key, (_, line) in top.items():
        if key not in TOP_LEVEL:
            raise MappingError(line, f"unknown key {key!r} (known: {', '.join(TOP_LEVEL)})")
    if "version" in top and _scalar(top["version"][0], "version") != "1":
        raise MappingError(top["version"][1], "only version 1 is known")
    for required in ("channel", "system", "entities"):
        if required not in top:
            raise MappingError(_line(root), f"{required!r} is required")
    code_tables: dict[str, dict[str, Any]] = {}
    if "code_tables" in top:
        for tname, tnode, tline in _items(top["code_tables"][0], "code_tables"):
            if not isinstance(tnode, MappingNode):
                raise MappingError(tline, f"code table {tname!r} must map codes to values")
            code_tables[tname] = {str(k): v for k, v in (_plain(tnode) or {}).items()}
    entities = {n: _entity(n, v, ln, code_tables) for n, v, ln in _items(top["entities"][0], "entities")}
    if not entities:
        raise MappingError(top["entities"][1], "entities: declare at least one")
    if "order_line" in entities and "order" not in entities:
        raise MappingError(top["entities"][1], "order_line needs an order entity")
    currency = _scalar(top["currency"][0], "currency").upper() if "currency" in top else "EUR"
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise MappingError(top["currency"][1], "currency is a 3-letter ISO code")
    system = _scalar(top["system"][0], "system").strip().lower()
    if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]{0,39}", system):
        raise MappingError(top["system"][1], "system is a short name (letters, digits, - _ .)")
    return Mapping_(name=_scalar(top["name"][0], "name") if "name" in top else system,
                    channel=_scalar(top["channel"][0], "channel"), currency=currency, system=system,
                    entities=entities)


def missing_columns(mapping: Mapping_, header: Sequence[str]) -> list[str]:
    """Columns the mapping reads that the file does not have (checked before the first row)."""
    return sorted(mapping.columns() - set(header))


# --- reading a whole row ----------------------------------------------------------------------------------------

# Fields that are names or keys: Excel hands numbers for them (a postal code, a numeric SKU), they are kept as text.
TEXT_FIELDS = frozenset({"customer_id", "name", "email", "phone", "sku", "category", "barcode", "number", "customer",
                         "location", "code", "kind", "status", "currency"})


def as_text(value: Any) -> Any:
    """Excel hands numbers for text columns (a postal code, a numeric SKU): names and keys are text."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return str(value)
    return value


def field_reader(rule: FieldRule, header: Sequence[str]) -> Callable[[Sequence[Any]], Any]:
    """`rule.read` over a row given as a list in the header's order (no dict per row)."""
    read = _field_reader(rule, {name: at for at, name in enumerate(header)})
    width = len(header)
    return lambda row: read(row if len(row) >= width else [*row, *([None] * (width - len(row)))])


def _field_reader(rule: FieldRule, index: Mapping[str, int]) -> Callable[[Sequence[Any]], Any]:
    """`rule.read` over a row list at least as long as the header; the usual shapes (one column, one or two
    transforms) get a function of their own, since this runs for every field of every row."""
    transforms, default = rule.transforms, rule.default
    if len(rule.columns) == 1:
        at = index[rule.columns[0]]
        if not transforms:
            return lambda row: default if (v := row[at]) is None or v == "" else v
        if len(transforms) == 1:
            first = transforms[0]
            return lambda row: default if (v := first(row[at])) is None or v == "" else v
        if len(transforms) == 2:
            first, second = transforms
            return lambda row: default if (v := second(first(row[at]))) is None or v == "" else v

    def finish(value: Any) -> Any:
        for transform in transforms:
            value = transform(value)
        if value is None or value == "":
            return default
        return value

    if len(rule.columns) == 1:
        at = index[rule.columns[0]]
        return lambda row: finish(row[at])
    if rule.columns:
        ats, separator = [index[c] for c in rule.columns], rule.separator
        return lambda row: finish(separator.join(str(p).strip() for p in [row[at] for at in ats]
                                                 if p is not None and p != ""))
    constant = rule.value
    return lambda row: finish(constant)


_UNREAD = object()


class RowReader:
    """Every entity of a mapping out of one row (a list in the header's order), the way `EntityRule.read` does
    entity by entity, with text fields as text. A field that several entities read alike (the superstore reads
    Customer ID for the customer and for the order) is read once per row."""

    def __init__(self, mapping: Mapping_, header: Sequence[str]) -> None:
        index = {name: at for at, name in enumerate(header)}
        self.width = len(header)
        slots: dict[tuple[Any, ...], int] = {}
        self.readers: list[Callable[[Sequence[Any]], Any]] = []
        self.plan: list[tuple[str, tuple[tuple[str, int, bool], ...], tuple[str, ...]]] = []
        for entity, rule in mapping.entities.items():
            fields = []
            for name, field_rule in rule.fields.items():
                same = (field_rule.columns, field_rule.separator, repr(field_rule.value), repr(field_rule.default),
                        tuple(id(t) for t in field_rule.transforms))
                slot = slots.get(same)
                if slot is None:
                    slot = slots[same] = len(self.readers)
                    self.readers.append(_field_reader(field_rule, index))
                fields.append((name, slot, name in TEXT_FIELDS))
            self.plan.append((entity, tuple(fields), REQUIRED[entity]))

    def read(self, row: Sequence[Any]) -> dict[str, dict[str, Any]]:
        """entity → fields; a field that cannot be read or a required one left empty is a `RowError`."""
        if len(row) < self.width:  # a short CSV row: the missing cells are empty
            row = [*row, *([None] * (self.width - len(row)))]
        values: list[Any] = [_UNREAD] * len(self.readers)
        out: dict[str, dict[str, Any]] = {}
        for entity, fields, required in self.plan:
            got: dict[str, Any] = {}
            for name, slot, text in fields:
                value = values[slot]
                if value is _UNREAD:
                    try:
                        value = values[slot] = self.readers[slot](row)
                    except RowError as exc:
                        raise RowError(f"{entity}.{name}: {exc}") from None
                got[name] = as_text(value) if text and value is not None and type(value) is not str else value
            for name in required:
                value = got.get(name)
                if value is None or (type(value) is str and not value.strip()):
                    raise RowError(f"{entity}.{name} is empty")
            out[entity] = got
        return out


# --- dirty data ------------------------------------------------------------------------------------------------


@dataclass
class Conflicts:
    """First value seen per key wins; later different values are reported with the rows that carried them."""

    what: str  # "order customer", "product name"…
    kept: dict[str, tuple[Any, int]] = field(default_factory=dict)
    found: list[dict[str, Any]] = field(default_factory=list)

    def see(self, key: str, value: Any, line: int) -> bool:
        """True when `value` agrees with what was kept for `key` (or is the first)."""
        first = self.kept.get(key)
        if first is None:
            self.kept[key] = (value, line)
            return True
        if first[0] == value:
            return True
        self.found.append({"what": self.what, "key": key, "kept": first[0], "kept_from_line": first[1],
                           "other": value, "line": line})
        return False
