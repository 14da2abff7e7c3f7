"""Pure logic of the ERP connector: validating a mapping, and turning the hub's billing documents into the ERP's
documents in the ERP's own codes. No I/O, no session: unit-tested without a database."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import yaml

# The keys a mapping may have: {key: (required, kind)}.
_KEYS: dict[str, tuple[bool, type]] = {
    "customer_prefix": (True, str),
    "customer_digits": (False, int),
    "guest_customer": (True, str),
    "articles": (True, dict),
    "shipping_article": (False, str),
    "adjustment_article": (False, str),
    "tax_codes": (True, dict),
    "payment_methods": (True, dict),
    "date_format": (True, str),
    "series": (True, dict),
    "warehouses": (False, dict),
    "price_lists": (False, dict),
    "inbound": (False, dict),
}
_SERIES_KINDS = ("invoice", "credit_note")
MAX_YAML = 1_000_000


class MappingError(ValueError):
    """A mapping that cannot be used; `key` names the offending key (dotted)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


class Held(Exception):
    """A document the mapping cannot express yet (an unmapped SKU, tax rate or payment method)."""


def rate_key(rate: Any) -> str:
    """A tax rate as a percentage without trailing zeros: 21, 21.0000 and "21.00" are all "21"."""
    try:
        value = Decimal(str(rate))
    except InvalidOperation:
        raise ValueError(f"not a tax rate: {rate!r}") from None
    text = format(value.normalize(), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def parse_mapping(text: str) -> dict[str, Any]:
    """Read and validate a YAML mapping before anything uses it. Raises MappingError naming the bad key."""
    if len(text) > MAX_YAML:
        raise MappingError("mapping", "longer than 1 MB")
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise MappingError("mapping", f"not valid YAML{where}") from None
    if not isinstance(raw, dict):
        raise MappingError("mapping", "must be a YAML mapping of keys")
    for key in raw:
        if key not in _KEYS:
            raise MappingError(str(key), f"unknown key (known: {', '.join(sorted(_KEYS))})")
    for key, (required, kind) in _KEYS.items():
        if key not in raw:
            if required:
                raise MappingError(key, "is required")
            continue
        if not isinstance(raw[key], kind) or (kind is int and isinstance(raw[key], bool)):
            raise MappingError(key, f"must be a {kind.__name__}")
    out: dict[str, Any] = {
        "customer_prefix": raw["customer_prefix"], "customer_digits": raw.get("customer_digits", 6),
        "guest_customer": raw["guest_customer"], "shipping_article": raw.get("shipping_article"),
        "adjustment_article": raw.get("adjustment_article"),
        "date_format": raw["date_format"],
    }
    if not 1 <= out["customer_digits"] <= 18:
        raise MappingError("customer_digits", "must be between 1 and 18")
    try:
        sample = date(2026, 12, 31).strftime(out["date_format"])
    except ValueError:
        raise MappingError("date_format", "not a strftime format") from None
    if "%" not in out["date_format"] or sample == out["date_format"]:
        raise MappingError("date_format", "must contain a date directive such as %d/%m/%Y")
    out["articles"] = _codes(raw["articles"], "articles")
    out["payment_methods"] = _codes(raw["payment_methods"], "payment_methods")
    taxes = _codes(raw["tax_codes"], "tax_codes")
    try:
        out["tax_codes"] = {rate_key(rate): code for rate, code in taxes.items()}
    except ValueError as exc:
        raise MappingError("tax_codes", str(exc)) from None
    series = _codes(raw["series"], "series")
    for kind in series:
        if kind not in _SERIES_KINDS:
            raise MappingError(f"series.{kind}", "unknown document kind (invoice, credit_note)")
    for kind in _SERIES_KINDS:
        if kind not in series:
            raise MappingError(f"series.{kind}", "is required")
    out["series"] = series
    out["warehouses"] = _codes(raw.get("warehouses") or {}, "warehouses")
    out["price_lists"] = _codes(raw.get("price_lists") or {}, "price_lists")
    out["inbound"] = _inbound(raw.get("inbound") or {})
    if "price_list" in out["inbound"].get("prices", {}) and not out["price_lists"]:
        raise MappingError("price_lists", "is required when inbound.prices names a price_list field: the ERP's "
                                          "price list code → hub channel")
    return out


# What the ERP sends in: {kind: {hub field: (required, ERP field name or option)}}. A stock line carries either
# an absolute count (`on_hand`) or a movement (`delta`), named by the mapping.
_INBOUND_FIELDS: dict[str, tuple[str, ...]] = {
    "stock": ("article", "warehouse", "on_hand", "delta", "reference"),
    "prices": ("article", "price", "reference", "channel", "price_list", "decimal"),
}
MAX_REFERENCE = 60


def _inbound(raw: Mapping[Any, Any]) -> dict[str, dict[str, str]]:
    """`inbound: {stock: {article: CODART, warehouse: CODALM, on_hand: EXIST, reference: DOC}, prices: {article:
    CODART, price: PVP, reference: DOC, channel: web, decimal: ","}}` — the ERP's own field names per hub field.
    Prices name either `channel` (every price is that channel's) or `price_list` (the ERP's field whose code
    `price_lists` turns into the channel, line by line)."""
    out: dict[str, dict[str, str]] = {}
    for kind, fields in raw.items():
        if kind not in _INBOUND_FIELDS:
            raise MappingError(f"inbound.{kind}", "unknown kind (stock, prices)")
        if not isinstance(fields, dict):
            raise MappingError(f"inbound.{kind}", "must be a mapping of hub field → ERP field name")
        names = _codes(fields, f"inbound.{kind}")
        for name in names:
            if name not in _INBOUND_FIELDS[kind]:
                raise MappingError(f"inbound.{kind}.{name}",
                                   f"unknown field (known: {', '.join(_INBOUND_FIELDS[kind])})")
        required = ("article", "warehouse", "reference") if kind == "stock" else ("article", "price", "reference")
        for name in required:
            if name not in names:
                raise MappingError(f"inbound.{kind}.{name}", "is required")
        if kind == "prices" and ("channel" in names) == ("price_list" in names):
            raise MappingError("inbound.prices.channel", "give exactly one of channel (every price for that channel) "
                                                         "or price_list (the ERP's field naming each line's list)")
        if kind == "stock" and ("on_hand" in names) == ("delta" in names):
            raise MappingError("inbound.stock.on_hand", "give exactly one of on_hand (a count) or delta (a movement)")
        if names.get("decimal", ".") not in (".", ","):
            raise MappingError(f"inbound.{kind}.decimal", "must be '.' or ','")
        out[str(kind)] = names
    return out


class LineRejected(ValueError):
    """One inbound line that cannot be applied, with the reason reported for its line."""


def _field(line: Mapping[str, Any], name: str, hub_field: str) -> Any:
    value = line.get(name)
    if value is None or (isinstance(value, str) and value.strip() == ""):
        raise LineRejected(f"{name} ({hub_field}) is missing")
    return value.strip() if isinstance(value, str) else value


def _sku_of(mapping: Mapping[str, Any], article: Any) -> str:
    """The SKU an ERP article code names: the `articles` table read backwards (SKU → code). A code no SKU has,
    or one that several SKUs share, cannot be applied."""
    code = str(article)
    skus = [sku for sku, known in mapping["articles"].items() if known == code]
    if not skus:
        raise LineRejected(f"unknown article code {code!r}")
    if len(skus) > 1:
        raise LineRejected(f"article code {code!r} names several SKUs ({', '.join(sorted(skus))})")
    return skus[0]


def _reference(line: Mapping[str, Any], name: str) -> str:
    reference = str(_field(line, name, "reference"))
    if len(reference) > MAX_REFERENCE:
        raise LineRejected(f"{name} (reference) is longer than {MAX_REFERENCE} characters")
    return reference


def _whole(value: Any, name: str, hub_field: str) -> int:
    if isinstance(value, bool):
        raise LineRejected(f"{name} ({hub_field}): not a whole number")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise LineRejected(f"{name} ({hub_field}): {value!r} is not a whole number") from None
    if number != number.to_integral_value() or abs(number) > 10**9:
        raise LineRejected(f"{name} ({hub_field}): {value!r} is not a whole number")
    return int(number)


def inbound_stock_line(mapping: Mapping[str, Any], line: Mapping[str, Any]) -> dict[str, Any]:
    """One ERP stock line in the hub's terms: {sku, location, reference, on_hand | delta}. Raises LineRejected."""
    fields = mapping["inbound"]["stock"]
    sku = _sku_of(mapping, _field(line, fields["article"], "article"))
    warehouse = str(_field(line, fields["warehouse"], "warehouse"))
    location = mapping["warehouses"].get(warehouse)
    if location is None:
        raise LineRejected(f"unknown warehouse code {warehouse!r}")
    out: dict[str, Any] = {"sku": sku, "location": location, "reference": _reference(line, fields["reference"])}
    if "on_hand" in fields:
        out["on_hand"] = _whole(_field(line, fields["on_hand"], "on_hand"), fields["on_hand"], "on_hand")
        if out["on_hand"] < 0:
            raise LineRejected(f"{fields['on_hand']} (on_hand) cannot be negative")
    else:
        out["delta"] = _whole(_field(line, fields["delta"], "delta"), fields["delta"], "delta")
    return out


def inbound_price_line(mapping: Mapping[str, Any], line: Mapping[str, Any]) -> dict[str, Any]:
    """One ERP price line in the hub's terms: {sku, price (Decimal), reference, channel, where (what the line is
    remembered under besides its reference and SKU: its channel when the mapping has price lists)}. Raises
    LineRejected."""
    fields = mapping["inbound"]["prices"]
    sku = _sku_of(mapping, _field(line, fields["article"], "article"))
    raw = _field(line, fields["price"], "price")
    text = str(raw)
    if fields.get("decimal") == "," and isinstance(raw, str):
        text = text.replace(".", "").replace(",", ".")
    try:
        price = Decimal(text)
    except InvalidOperation:
        raise LineRejected(f"{fields['price']} (price): {raw!r} is not an amount") from None
    if not price.is_finite() or price < 0 or price > Decimal("100000000"):
        raise LineRejected(f"{fields['price']} (price): {raw!r} is not an amount")
    out = {"sku": sku, "price": price, "reference": _reference(line, fields["reference"])}
    if "channel" in fields:
        return {**out, "channel": fields["channel"], "where": ""}  # one channel: remembered without it
    code = str(_field(line, fields["price_list"], "price_list"))
    channel = mapping["price_lists"].get(code)
    if channel is None:
        raise LineRejected(f"unknown price list code {code!r}")
    return {**out, "channel": channel, "where": channel}


def inbound_fingerprint(line: Mapping[str, Any]) -> str:
    """What a line asked for, to tell a re-sent line (unchanged) from another value under the same reference."""
    if "price" in line:
        return f"price={line['price'].normalize():f}"
    return f"on_hand={line['on_hand']}" if "on_hand" in line else f"delta={line['delta']}"


MAX_CSV = 20_000_000


def csv_lines(text: str) -> list[tuple[int, dict[str, str]]]:
    """An ERP's CSV export (its own column names; `,` `;` tab or `|`; with or without a BOM) as (the file's line
    number, line) pairs; blank lines are skipped."""
    text = text.removeprefix("\ufeff")
    if len(text) > MAX_CSV:
        raise ValueError("the file is longer than 20 MB")
    sample = text[:65536]
    try:
        dialect: Any = csv.Sniffer().sniff(sample.splitlines()[0] if sample else "", delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    out = []
    for row in reader:
        if any((v or "").strip() for v in row.values() if isinstance(v, str)):
            out.append((reader.line_num, dict(row)))
    return out


def _codes(table: Mapping[Any, Any], key: str) -> dict[str, str]:
    out = {}
    for source, code in table.items():
        if not isinstance(code, str | int) or isinstance(code, bool) or str(code).strip() == "":
            raise MappingError(f"{key}.{source}", "must be a non-empty code")
        if len(str(code)) > 64:
            raise MappingError(f"{key}.{source}", "longer than 64 characters")
        out[str(source)] = str(code)
    return out


def customer_number(mapping: Mapping[str, Any], sequence: int) -> str:
    """The ERP's customer number for the `sequence`-th customer the connector met (stable once given)."""
    return f"{mapping['customer_prefix']}{sequence:0{mapping['customer_digits']}d}"


def contact_document(number: str, customer: Mapping[str, Any]) -> dict[str, Any]:
    """The contact upsert for the ERP."""
    return {"number": number, "name": customer.get("name"), "email": customer.get("email"),
            "phone": customer.get("phone")}


def _code(table: Mapping[str, str], key: str | None, what: str) -> str:
    code = table.get(key or "")
    if code is None:
        raise Held(f"unmapped {what} {key!r}")
    return code


def erp_document(mapping: Mapping[str, Any], facts: Mapping[str, Any]) -> dict[str, Any]:
    """An invoice or credit note in the ERP's codes, from `facts`: {kind, number, issued_on (ISO date), currency,
    customer (ERP number), payment_method, invoice_number?, lines: [{sku, name, quantity, unit_price?, tax_rate,
    total}], totals}. Raises Held naming the first thing the mapping does not cover."""
    lines = []
    for line in facts["lines"]:
        if line.get("adjustment"):  # money a shop refunded with no units named
            article = mapping.get("adjustment_article")
            if not article:
                raise Held("a refund not tied to items (no adjustment_article in the mapping)")
        elif line.get("sku") is None:  # the delivery charge
            article = mapping.get("shipping_article")
            if not article:
                raise Held("unmapped shipping line (no shipping_article)")
        else:
            article = _code(mapping["articles"], line["sku"], "SKU")
        tax_code = _code(mapping["tax_codes"], rate_key(line["tax_rate"]), "tax rate")
        lines.append({"article": article, "description": line.get("name"), "quantity": line["quantity"],
                      "unit_price": line.get("unit_price"), "tax_code": tax_code, "total": line["total"]})
    issued = date.fromisoformat(facts["issued_on"])
    document = {
        "series": mapping["series"][facts["kind"]], "number": facts["number"],
        "date": issued.strftime(mapping["date_format"]), "customer": facts["customer"],
        "currency": facts["currency"],
        "payment_method": _code(mapping["payment_methods"], facts.get("payment_method"), "payment method"),
        "lines": lines, "totals": facts["totals"],
    }
    if facts["kind"] == "credit_note":
        document["corrects"] = facts.get("invoice_number")
    return document


def credit_note_lines(note_lines: Sequence[Mapping[str, Any]],
                      invoice_lines: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A return's credit note lines ({sku, quantity, amount}) with the name and tax rate of the invoice line of
    the same SKU (a credit note reverses what the invoice charged)."""
    by_sku = {line.get("sku"): line for line in invoice_lines}
    out = []
    for line in note_lines:
        invoiced = by_sku.get(line["sku"], {})
        out.append({"sku": line["sku"], "name": invoiced.get("name"), "quantity": line["quantity"],
                    "unit_price": None, "tax_rate": invoiced.get("tax_rate", "0"), "total": line["amount"]})
    return out


def shop_refund_lines(order_lines: Sequence[Mapping[str, Any]], refunded: Sequence[tuple[str, int]],
                      amount: Decimal) -> list[dict[str, Any]]:
    """A shop's refund as credit note lines. The ERP credits the money the shop gave back: the refunded units at
    what the order charged for them, scaled to add up to `amount` to the cent (largest remainder); money
    refunded with no units named is one adjustment line. `order_lines`: {sku, name, quantity, total, tax_rate}."""
    cent = Decimal("0.01")
    lines = []
    for sku, quantity in refunded:
        line = next((ln for ln in order_lines if ln["sku"] == sku), None)
        if line is None or not line["quantity"]:
            continue
        value = Decimal(str(line["total"])) * quantity / int(line["quantity"])
        lines.append({"sku": sku, "name": line.get("name"), "quantity": quantity, "unit_price": None,
                      "tax_rate": str(line.get("tax_rate", "0")), "total": value})
    charged = sum((ln["total"] for ln in lines), Decimal(0))
    if not lines or charged <= 0:
        return [{"sku": None, "adjustment": True, "name": "refund", "quantity": 1, "unit_price": None,
                 "tax_rate": "0", "total": str(amount.quantize(cent))}]
    exact = [ln["total"] * amount / charged for ln in lines]
    cents = [e.quantize(cent, rounding="ROUND_DOWN") for e in exact]
    short = int(((amount.quantize(cent) - sum(cents, Decimal(0))) / cent).to_integral_value())
    for i in sorted(range(len(lines)), key=lambda i: (cents[i] - exact[i], i))[:max(short, 0)]:
        cents[i] += cent
    return [{**ln, "total": str(c)} for ln, c in zip(lines, cents, strict=True)]


def backoff_seconds(attempts: int, base: float) -> float:
    """Exponential backoff, capped at an hour."""
    return float(min(base * (2 ** max(attempts - 1, 0)), 3600.0))


JOURNAL_COLUMNS = ("date", "kind", "series", "number", "corrects", "customer", "payment_method", "currency",
                   "article", "description", "quantity", "unit_price", "tax_code", "line_total", "status")


def journal_rows(documents: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One journal row per document line, in the ERP's codes ({kind, status, payload} per document)."""
    rows = []
    for doc in documents:
        body = doc["payload"]
        for line in body["lines"]:
            rows.append({"date": body["date"], "kind": doc["kind"], "series": body["series"],
                         "number": body["number"], "corrects": body.get("corrects") or "",
                         "customer": body["customer"], "payment_method": body["payment_method"],
                         "currency": body["currency"], "article": line["article"],
                         "description": line.get("description") or "", "quantity": line["quantity"],
                         "unit_price": line.get("unit_price") or "", "tax_code": line["tax_code"],
                         "line_total": line["total"], "status": doc["status"]})
    return rows


def journal_csv(documents: Sequence[Mapping[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=JOURNAL_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(journal_rows(documents))
    return buffer.getvalue()


def as_date(value: datetime) -> date:
    return value.date()
