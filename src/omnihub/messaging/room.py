"""Messaging as a room of the house: its router, its part in erasure (an erased customer's messages lose their
addresses and text) and its job (queued e-mail goes out by SMTP when OMNIHUB_SMTP_URL is set)."""

from __future__ import annotations

from sqlalchemy.engine import Connection

from omnihub.config import Settings
from omnihub.core.clock import Clock
from omnihub.core.rooms import Job, Room


def _wire() -> None:
    from omnihub.customers.participants import register_erasure_participant
    from omnihub.messaging.service import message_erasure_participant

    register_erasure_participant("messaging", message_erasure_participant())


def _send_email(conn: Connection, clock: Clock, settings: Settings) -> int:
    from omnihub.messaging.service import send_queued_email

    return send_queued_email(conn, clock, settings.smtp_url or "")


ROOM = Room(
    name="messaging",
    router="omnihub.messaging.api:router",
    wire=_wire,
    jobs=[Job("messaging.send_email", _send_email, enabled=lambda settings: bool(settings.smtp_url))],
)
