"""What the links in a message do: one-click unsubscribe (RFC 8058: a POST withdraws the consent the message
needed), the open pixel and tracked links. The token in the link is the only key: it names one message."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.automation import errors, queries
from omnihub.automation.models import automation_messages
from omnihub.core.clock import Clock
from omnihub.customers import queries as customers_queries
from omnihub.customers.privacy import record_consent

MSG = automation_messages.c


def unsubscribe(conn: Connection, clock: Clock, token: str) -> dict[str, Any]:
    """Withdraw the consent the message was sent under; once is enough (a second click changes nothing)."""
    row = queries.message_by_token(conn, token)
    purpose = row.purpose if row.purpose != "transactional" else "email_marketing"
    if row.unsubscribed_at is None and row.customer_id and customers_queries.resolve_id(conn, row.customer_id):
        record_consent(conn, clock, row.customer_id, purpose, granted=False,
                       proof={"source": "unsubscribe", "message_id": row.id, "rule_id": row.rule_id})
        conn.execute(automation_messages.update().where(MSG.id == row.id).values(unsubscribed_at=clock.now()))
    return {"purpose": purpose, "unsubscribed": True}


def opened(conn: Connection, clock: Clock, token: str) -> None:
    conn.execute(automation_messages.update().where(MSG.token == token, MSG.opened_at.is_(None))
                 .values(opened_at=clock.now()))


def clicked(conn: Connection, clock: Clock, token: str, index: int) -> str:
    """The link's real address (only the ones the message was sent with: no open redirect)."""
    row = queries.message_by_token(conn, token)
    links = row.links or []
    if not 0 <= index < len(links):
        raise errors.token_not_found()
    values: dict[str, Any] = {"clicked_at": clock.now()} if row.clicked_at is None else {}
    if row.opened_at is None:
        values["opened_at"] = clock.now()  # a click proves the open the pixel may have missed
    if values:
        conn.execute(automation_messages.update().where(MSG.id == row.id).values(**values))
    return str(links[index])


def exists(conn: Connection, token: str) -> bool:
    return conn.execute(sa.select(MSG.id).where(MSG.token == token)).first() is not None


def answer_nps(conn: Connection, clock: Clock, token: str, score: int) -> dict[str, Any]:
    """The survey's answer, once: `nps_answered` on the customer's timeline with the channel and store of the
    order it asked about (what analytics' NPS per channel and store reads)."""
    from omnihub.automation.models import automation_runs
    from omnihub.commerce import queries as commerce_queries
    from omnihub.core.errors import Conflict, DomainError, ValidationFailed
    from omnihub.customers.activity import add_timeline_entries

    if not 0 <= score <= 10:
        raise ValidationFailed("invalid_score", "The score is a whole number from 0 to 10.", field="score")
    row = queries.message_by_token(conn, token)
    if row.template != "nps_survey":
        raise errors.token_not_found()
    if row.nps_score is not None:
        raise Conflict("already_answered", "This survey was answered already.", score=row.nps_score)
    context = conn.execute(sa.select(automation_runs.c.context).where(automation_runs.c.id == row.run_id)).scalar()
    order_id = ((context or {}).get("data") or {}).get("id")
    channel, location = None, None
    if order_id:
        try:
            order = commerce_queries.get_order(conn, order_id, show_pickup_code=False)
            channel = order["channel"]
            location = (order.get("pickup") or {}).get("location") or (order.get("fulfilment") or {}).get("location")
        except DomainError:
            pass
    if row.customer_id and customers_queries.resolve_id(conn, row.customer_id):
        # source "events": the answer is the customer's own act, like the events channels send (analytics reads it)
        add_timeline_entries(conn, clock, row.customer_id, [{
            "type": "nps_answered", "channel": channel, "at": clock.now(),
            "properties": {"score": score, "location": location, "order_id": order_id, "message_id": row.id}}],
            source="events")
    conn.execute(automation_messages.update().where(MSG.id == row.id).values(nps_score=score))
    return {"score": score, "order_id": order_id, "channel": channel, "location": location}
