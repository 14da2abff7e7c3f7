"""Conversations the hub opens itself (an automation rule asks an agent to reach a customer): the customer's live
conversation gets an internal note; without one, a new open conversation is started with that note. Nothing is
sent to the customer: a note is for agents only."""

from __future__ import annotations

import secrets
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.core.clock import Clock
from omnihub.core.db import new_id
from omnihub.core.errors import NotFound
from omnihub.core.events import emit
from omnihub.customers import queries as customers_queries
from omnihub.service import sla
from omnihub.service.models import conversations
from omnihub.service.service import add_note

C = conversations.c


def open_with_note(conn: Connection, clock: Clock, customer_id: str, note: str, *, actor: str) -> dict[str, Any]:
    """`{conversation_id, opened, note_id}`: the live conversation of the person (opened when there is none)
    with `note` added for the agents."""
    cid = customers_queries.resolve_id(conn, customer_id)
    if cid is None:
        raise NotFound("customer_not_found", f"No customer '{customer_id}'.", id=customer_id)
    live = conn.execute(sa.select(C.id).where(C.active_for == cid)).scalar()
    opened = live is None
    if live is None:
        now = clock.now()
        live = new_id("cnv")
        conn.execute(conversations.insert(), dict(
            id=live, customer_id=cid, owner_id=cid, active_for=cid, status="open", priority="normal",
            priority_reasons=[], reply_token=secrets.token_hex(8), last_channel=None, last_message_at=now,
            created_at=now, updated_at=now))
        sla.refresh(conn, live, now)
        emit(conn, clock, "conversation.opened", {"conversation_id": live, "customer_id": cid, "channel": "internal",
                                                  "by": actor})
    note_id = add_note(conn, clock, live, note, actor=actor)["id"]
    return {"conversation_id": live, "opened": opened, "note_id": note_id}
