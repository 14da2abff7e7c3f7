"""Find a customer from whatever an associate or agent types: a customer id, an e-mail, a phone number as
typed, a @handle or a loyalty code."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.engine import Connection

from omnihub.catalog import queries as catalog
from omnihub.core.errors import DomainError
from omnihub.customers import queries as customers

_PHONE = re.compile(r"^\+?[\d\s().-]{6,20}$")


def _try(conn: Connection, raw: dict[str, Any], channel: str | None = None) -> str | None:
    try:
        return customers.lookup(conn, raw, channel=channel)
    except DomainError:
        return None


def find_customer(conn: Connection, clock: Any, text: str) -> str | None:
    """The id of the (surviving) profile the text identifies, or None."""
    text = text.strip()[:200]
    if not text:
        return None
    if text.startswith("cus_"):
        return customers.resolve_id(conn, text)
    if "@" in text and not text.startswith("@"):
        return _try(conn, {"kind": "email", "value": text})
    if text.startswith("@"):
        for network in ("instagram", "facebook", "tiktok", "x", "telegram"):
            if (found := _try(conn, {"kind": "handle", "value": text, "network": network})) is not None:
                return found
        return None
    if _PHONE.match(text):
        if text.startswith("+") and (found := _try(conn, {"kind": "phone", "value": text})) is not None:
            return found
        # A number as typed at a counter has no country code: read it as each channel's country would.
        seen: set[str] = set()
        for channel in catalog.list_channels(conn, limit=500, cursor=None)["items"]:
            if channel.get("country") and channel["country"] not in seen:
                seen.add(channel["country"])
                if (found := _try(conn, {"kind": "phone", "value": text}, channel["code"])) is not None:
                    return found
        return None
    return _try(conn, {"kind": "loyalty", "value": text})
