"""Languages (Babel catalogues) and locale-aware formatting of money, dates and numbers."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_date, format_datetime, get_timezone
from babel.numbers import format_currency, format_decimal, format_percent
from babel.support import Translations

from omnihub.console.rules import LOCALES, compact_duration

LOCALE_DIR = Path(__file__).parent / "locale"
DEFAULT = "en"


@cache
def translations(locale: str) -> Translations:
    """The compiled catalogue (English is the source language: its catalogue is the identity)."""
    return Translations.load(str(LOCALE_DIR), [locale], domain="messages")


def negotiate(accept_language: str | None) -> str:
    """The best of our languages for an Accept-Language header (q-values honoured), English by default."""
    wanted: list[tuple[float, str]] = []
    for part in (accept_language or "").split(",")[:20]:
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if tag:
            wanted.append((q, tag.strip().lower()))
    for _, tag in sorted(wanted, key=lambda item: -item[0]):
        base = tag.split("-")[0].split("_")[0]
        if base in LOCALES:
            return base
    return DEFAULT


class Formatter:
    """Money, numbers and dates for one locale and time zone (what the templates call)."""

    def __init__(self, locale: str, timezone: str = "UTC") -> None:
        self.locale = Locale.parse(locale)
        self.timezone = timezone
        self._tzinfo = get_timezone(timezone)  # once, not per date: a list formats one per row

    def money(self, amount: Any, currency: str | None) -> str:
        if amount is None or amount == "":
            return ""
        return format_currency(Decimal(str(amount)), currency or "EUR", locale=self.locale)

    def number(self, value: Any) -> str:
        if value is None:
            return ""
        return format_decimal(value, locale=self.locale)

    def percent(self, value: Any) -> str:
        """A share from 0 to 1 (a decimal string, as the analytics room gives it) as a percentage."""
        if value is None or value == "":
            return ""
        return format_percent(Decimal(str(value)), "#,##0.#%", locale=self.locale)

    def duration(self, seconds: Any) -> str:
        """Seconds as a compact duration ("3 h 05 min"); the units read the same in Spanish and English."""
        return compact_duration(None if seconds is None else float(seconds))

    def datetime(self, value: datetime | str | None, fmt: str = "medium") -> str:
        if value is None or value == "":
            return ""
        if isinstance(value, str):
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return format_datetime(value, fmt, tzinfo=self._tzinfo, locale=self.locale)

    def date(self, value: datetime | None, fmt: str = "medium") -> str:
        return "" if value is None else format_date(value, fmt, locale=self.locale)
