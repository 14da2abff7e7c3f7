"""Exchange rates as data, for reporting in a base currency: the ECB's euro reference rates, imported from its
CSV files (the daily `eurofxref.csv` — `Date, USD, JPY, …` with dates like `03 December 2026` — and the
history `eurofxref-hist.csv` — ISO dates, `N/A` where a currency had no rate). Nothing is converted at checkout:
each channel sells in its own currency at its own prices."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.billing.models import exchange_rates
from omnihub.core.db import upsert
from omnihub.core.errors import NotFound, ValidationFailed
from omnihub.core.money import is_currency, minor_units

XR = exchange_rates.c
BASE = "EUR"  # the ECB quotes every currency against the euro


def parse_ecb_csv(text: str) -> list[dict[str, object]]:
    """[{day, currency, rate}] from an ECB reference-rate CSV; 422 `invalid_rates_file` when it is not one."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in next(reader, [])]
    if not header or header[0] != "Date":
        raise ValidationFailed("invalid_rates_file", "Not an ECB reference-rate CSV (its first column is Date).")
    rows: list[dict[str, object]] = []
    for number, record in enumerate(reader, start=2):
        if not record or not record[0].strip():
            continue
        raw_day = record[0].strip()
        try:
            day = (date.fromisoformat(raw_day) if raw_day[:4].isdigit()
                   else datetime.strptime(raw_day, "%d %B %Y").date())
        except ValueError:
            raise ValidationFailed("invalid_rates_file", f"Line {number}: '{raw_day}' is not a date.") from None
        for currency, value in zip(header[1:], record[1:], strict=False):
            currency, value = currency.strip(), value.strip()
            if not currency or not value or value == "N/A":
                continue
            try:
                rate = Decimal(value)
            except InvalidOperation:
                raise ValidationFailed("invalid_rates_file", f"Line {number}: '{value}' is not a rate.") from None
            if rate <= 0 or len(currency) != 3:
                raise ValidationFailed("invalid_rates_file", f"Line {number}: {currency} {value} is not a rate.")
            rows.append({"day": day, "currency": currency, "rate": rate, "source": "ecb"})
    return rows


def import_ecb(conn: Connection, text: str) -> int:
    """Store (or correct) every rate in the file; returns how many."""
    rows = parse_ecb_csv(text)
    if rows:
        upsert(conn, exchange_rates, rows, keys=["day", "currency"], update=["rate", "source"])
    return len(rows)


def _rate(conn: Connection, currency: str, day: date) -> Decimal:
    if currency == BASE:
        return Decimal(1)
    row = conn.execute(sa.select(XR.rate).where(XR.currency == currency, XR.day <= day)
                       .order_by(XR.day.desc()).limit(1)).first()
    if row is None:
        raise NotFound("exchange_rate_missing", f"No {currency} reference rate on or before {day}.",
                       currency=currency)
    return Decimal(row.rate)


def convert_for_report(conn: Connection, amount: Decimal, currency: str, to: str, day: date) -> Decimal:
    """`amount` in `currency` expressed in `to` at the latest reference rates on or before `day`, rounded to
    `to`'s minor units (JPY 0, KWD 3). For reports only."""
    for code in (currency, to):
        if not is_currency(code):
            raise ValidationFailed("currency_unknown", f"'{code}' is not a currency in use.", currency=code)
    value = Decimal(amount) / _rate(conn, currency, day) * _rate(conn, to, day)
    return value.quantize(Decimal(1).scaleb(-minor_units(to)))
