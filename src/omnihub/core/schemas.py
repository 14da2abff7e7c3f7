"""Shared I/O types: slugs, SKUs, money strings, pages, and the checks every input shape gets."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    model_validator,
)

from omnihub.core.errors import ValidationFailed
from omnihub.core.money import MAX_AMOUNT, is_currency

Code = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
"""Client-chosen slug: lower-case letters, digits, '-' and '_'."""

Sku = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]

MoneyStr = Annotated[Decimal, PlainSerializer(lambda v: format(v, "f"), return_type=str, when_used="json")]
"""Money travels as a decimal string (docs/contract.md)."""

# Free-form JSON objects (product attributes, event properties, consent proofs, identity hints) are stored as
# they come and read back by every listing: each is capped, so one write cannot make every read huge.
MAX_JSON_OBJECT_BYTES = 16 * 1024
# Instants any input may name: both engines store them, and converting one to UTC cannot overflow.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def _json_size(value: Any) -> Any:
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str).encode())
    if size > MAX_JSON_OBJECT_BYTES:
        raise ValueError(f"at most {MAX_JSON_OBJECT_BYTES} bytes as JSON (this is {size})")
    return value


def _amount(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise ValueError("must be a finite decimal amount")
    if abs(value) >= MAX_AMOUNT:
        raise ValueError(f"must be less than {MAX_AMOUNT:,} in absolute value")
    return value


def _instant(value: datetime) -> datetime:
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"must lie between {EARLIEST:%Y} and {LATEST:%Y}") from None
    if not EARLIEST <= utc < LATEST:
        raise ValueError(f"must lie between {EARLIEST:%Y} and {LATEST:%Y}")
    return value


def _currency(value: str) -> str:
    if not is_currency(value):
        raise ValueError(f"'{value}' is not a currency in use (ISO 4217)")
    return value


JsonObject = Annotated[dict[str, Any], AfterValidator(_json_size)]
"""A free-form JSON object of at most MAX_JSON_OBJECT_BYTES."""

AmountIn = Annotated[Decimal, AfterValidator(_amount)]
"""An amount sent to us: finite and below MAX_AMOUNT (what every money column holds with room for totals)."""

Instant = Annotated[datetime, AfterValidator(_instant)]
"""A point in time sent to us, between EARLIEST and LATEST; without a zone it is UTC (docs/api.md)."""

ZonedInstant = Annotated[AwareDatetime, AfterValidator(_instant)]
"""An Instant that must say its zone: a wall-clock time whose zone nobody can guess (a store's pickup slot)."""

Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$"), AfterValidator(_currency)]
"""An ISO 4217 code of a currency some country uses today (not XXX, XTS, metals or withdrawn codes)."""

T = TypeVar("T")


def refuse_nul(value: Any, path: str = "") -> None:
    """PostgreSQL cannot store NUL (U+0000) in text, and no name, attribute or identity needs one: refuse
    it anywhere in an input, keys included, naming where it was."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValidationFailed("invalid_text", f"{path or 'body'}: text may not contain NUL (U+0000).",
                                   field=path or "body")
    elif isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and "\x00" in key:
                raise ValidationFailed("invalid_text", f"{path or 'body'}: keys may not contain NUL (U+0000).",
                                       field=path or "body")
            refuse_nul(item, here)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            refuse_nul(item, f"{path}.{index}" if path else str(index))


class Checked(BaseModel):
    """Every input shape: text with NUL (U+0000) is refused before any field is read (one check for all of
    them, the free-form objects included). The outermost shape checks the whole body, so the error names
    the full path."""

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        refuse_nul(data)
        return data


class Strict(Checked):
    """Input shapes reject unknown fields: a typo is an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` for the next page.")
