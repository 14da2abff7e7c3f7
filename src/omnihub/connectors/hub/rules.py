"""Pure rules of the connector hub: what makes a payload unmappable, push retry timing, a connection's health."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

PUSH_MAX_ATTEMPTS = 8
PUSH_BASE_DELAY = 30  # seconds: 30 s, 1 min, 2 min… capped at an hour
PUSH_MAX_DELAY = 3600
KINDS = ("shopify", "woocommerce")


class Unmappable(Exception):
    """A payload the hub cannot translate (unknown SKU, unmapped location, a shape it does not know): it becomes
    a dead letter with this reason, never a 500. Fix the mapping, then replay it."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def push_delay(attempts: int) -> timedelta:
    """Wait before the next try after `attempts` failed ones: exponential, capped."""
    return timedelta(seconds=min(PUSH_BASE_DELAY * 2 ** max(attempts - 1, 0), PUSH_MAX_DELAY))


def base64_hmac_sha256(secret: str, body: bytes) -> str:
    """Shopify's and WooCommerce's webhook signature: base64 of HMAC-SHA256 of the raw body."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def signature_matches(secret: str, body: bytes, header: str | None) -> bool:
    if not header or not secret:
        return False
    return hmac.compare_digest(base64_hmac_sha256(secret, body).encode(), header.strip().encode())


def health(row: dict[str, Any], oldest_pending: datetime | None, failed: int, open_dead_letters: int,
           now: datetime) -> dict[str, Any]:
    """How a connection is doing: when it last worked and last failed, how far its stock pushes lag behind the
    oldest unpushed change, what is stuck. `ok` unless the last error is newer than the last success or
    something is failed or dead-lettered."""
    lag = max(0.0, (now - oldest_pending).total_seconds()) if oldest_pending else 0.0
    erring = bool(row.get("last_error_at") and (not row.get("last_success_at")
                                                or row["last_error_at"] > row["last_success_at"]))
    status = "error" if erring or failed else ("attention" if open_dead_letters else "ok")
    return {"status": status, "last_success_at": row.get("last_success_at"), "last_error_at": row.get("last_error_at"),
            "last_error": row.get("last_error"), "lag_seconds": round(lag, 1), "failed_pushes": failed,
            "open_dead_letters": open_dead_letters, "received": row.get("received", 0),
            "pushed": row.get("pushed", 0)}


def money(value: Any, field: str) -> Decimal:
    """Shopify sends amounts as decimal strings ("199.00")."""
    if value is None or value == "":
        return Decimal(0)
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise Unmappable("bad_shape", f"{field} is not an amount: {str(value)[:40]!r}") from None
    if not amount.is_finite():
        raise Unmappable("bad_shape", f"{field} is not an amount: {str(value)[:40]!r}")
    return amount


def sold_at(value: Any, field: str, *, naive_is_utc: bool) -> datetime | None:
    """When the shop sold it, from an ISO 8601 text: Shopify's `created_at` carries its offset
    ("2024-01-15T10:30:00-05:00"), WooCommerce's `date_created_gmt` none (it is UTC). Without an offset and not
    known to be UTC (WooCommerce's site-local `date_created`), or empty: None — the hub's receipt time is used."""
    if value is None or value == "":
        return None
    try:
        when = datetime.fromisoformat(str(value)[:40])
    except ValueError:
        raise Unmappable("bad_shape", f"{field} is not a date and time: {str(value)[:40]!r}") from None
    if when.tzinfo is None:
        if not naive_is_utc:
            return None
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def _cents(amount: Decimal) -> Decimal:
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)


def split(amount: Decimal, weights: Sequence[Decimal]) -> list[Decimal]:
    """Share an amount by weights to the cent; the parts add up exactly (the rest goes to the largest)."""
    total = sum(weights, Decimal(0))
    if not weights:
        return []
    if total == 0:
        parts = [Decimal(0)] * len(weights)
        parts[0] = amount
        return parts
    parts = [_cents(amount * w / total) for w in weights]
    parts[max(range(len(weights)), key=lambda i: weights[i])] += amount - sum(parts, Decimal(0))
    return parts
