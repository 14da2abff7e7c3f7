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
