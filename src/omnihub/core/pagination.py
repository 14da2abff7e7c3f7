"""Cursor pagination: `limit` + opaque `cursor` (the last sort key seen)."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from omnihub.core.clock import as_utc
from omnihub.core.errors import ValidationFailed

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def encode_cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value, separators=(",", ":")).encode()).decode().rstrip("=")


def invalid_cursor() -> ValidationFailed:
    """The one answer to a cursor this API did not issue (rooms that read a cursor's parts raise it too)."""
    return ValidationFailed("invalid_cursor", "The cursor is not one this API issued.", field="cursor")


def decode_cursor(cursor: str | None) -> Any:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError):
        raise invalid_cursor() from None


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed("invalid_limit", f"limit must be between 1 and {MAX_LIMIT}.", field="limit")
    return limit


def page(items: list[Any], limit: int, key: Any) -> dict[str, Any]:
    """Items were fetched with limit + 1: the extra one only tells whether another page exists."""
    more = len(items) > limit
    items = items[:limit]
    return {"items": items, "next_cursor": encode_cursor(key(items[-1])) if more and items else None}


def newest_first(query: sa.Select, id_column: sa.ColumnElement[Any], *, limit: int, cursor: str | None
                 ) -> sa.Select:
    """A list newest first, keyed by a time-ordered id (`new_id`): `limit + 1` rows after the cursor's id."""
    query = query.order_by(id_column.desc()).limit(check_limit(limit) + 1)
    before = decode_cursor(cursor)
    if before is not None:
        query = query.where(id_column < str(before))
    return query


def within(column: sa.ColumnElement[Any], since: datetime | None, until: datetime | None
           ) -> list[sa.ColumnElement[bool]]:
    """A list's `?from=&to=`: `since <= column < until` (either end open); naive times are read as UTC."""
    since, until = (None if t is None else as_utc(t) for t in (since, until))
    if since is not None and until is not None and since > until:
        raise ValidationFailed("invalid_range", "`from` must not be after `to`.", field="from")
    conditions = []
    if since is not None:
        conditions.append(column >= since)
    if until is not None:
        conditions.append(column < until)
    return conditions
