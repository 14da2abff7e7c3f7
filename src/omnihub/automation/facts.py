"""The facts a rule's conditions read about one person, cart and event, gathered through the other rooms' queries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import phonenumbers
import phonenumbers.timezone
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.automation.models import automation_abandoned
from omnihub.core.clock import Clock, as_utc
from omnihub.customers import queries as customers_queries


def _days(now: datetime, then: Any) -> float | None:
    return round((now - as_utc(then)).total_seconds() / 86400, 3) if then else None


def phone_facts(phone: str | None) -> tuple[str | None, list[str]]:
    """Country and time zones of an E.164 number (None, [] when there is none)."""
    if not phone:
        return None, []
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return None, []
    return phonenumbers.region_code_for_number(number), list(phonenumbers.timezone.time_zones_for_number(number))


def customer_facts(conn: Connection, clock: Clock, customer_id: str | None) -> dict[str, Any]:
    """The 360 view's figures a rule may test: stats, tags, consents, country, support hold, last abandonment."""
    if not customer_id or customers_queries.resolve_id(conn, customer_id) is None:
        return {}
    view = customers_queries.customer_view(conn, clock, customer_id)
    now = clock.now()
    stats = view.get("stats") or {}
    contacts = customers_queries.contacts(conn, view["id"])
    country, zones = phone_facts(contacts.get("sms"))
    abandoned = conn.execute(sa.select(automation_abandoned.c.at, automation_abandoned.c.cart_id)
                             .where(automation_abandoned.c.customer_id == view["id"])).first()
    return {
        "id": view["id"],
        "status": view["status"],
        "orders_count": stats.get("orders_count", 0),
        "lifetime_value": str(stats.get("lifetime_value") or "0"),
        "channels": stats.get("channels", []),
        "channels_count": len(stats.get("channels", [])),
        "days_since_last_order": _days(now, stats.get("last_order_at")),
        "last_order_at": as_utc(stats["last_order_at"]).isoformat() if stats.get("last_order_at") else None,
        "days_since_cart_abandoned": _days(now, abandoned.at) if abandoned else None,
        "abandoned_cart_id": abandoned.cart_id if abandoned else None,
        "tags": sorted(t["tag"] for t in view.get("tags", [])),
        "consents": sorted(p for p, c in (view.get("consents") or {}).items() if c.get("granted")),
        "country": country,
        "time_zones": zones,
        "has_email": "email" in contacts,
        "has_phone": "sms" in contacts,
        "support_hold": bool(view.get("support_hold")),
        "name": view.get("name"),
    }


def facts(conn: Connection, clock: Clock, customer_id: str | None, event: dict[str, Any],
          cart: dict[str, Any] | None = None) -> dict[str, Any]:
    found = {"event": event, "customer": customer_facts(conn, clock, customer_id), "cart": cart or {}}
    found["orders"] = {"count": found["customer"].get("orders_count", 0)}
    return found
