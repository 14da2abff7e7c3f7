"""Cursor pagination: `limit` + opaque `cursor` (the last sort key seen)."""

from __future__ import annotations

import base64
import json
from typing import Any

from omnihub.core.errors import ValidationFailed

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def encode_cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> Any:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed("invalid_cursor", "The cursor is not one this API issued.", field="cursor") from None


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed("invalid_limit", f"limit must be between 1 and {MAX_LIMIT}.", field="limit")
    return limit


def page(items: list[Any], limit: int, key: Any) -> dict[str, Any]:
    """Items were fetched with limit + 1: the extra one only tells whether another page exists."""
    more = len(items) > limit
    items = items[:limit]
    return {"items": items, "next_cursor": encode_cursor(key(items[-1])) if more and items else None}
