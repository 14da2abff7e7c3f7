"""Customers as a room of the house: a router. Other rooms join its extension points (merge and erasure
participants, 360-view sections) from their own `room.py`; erasure also reaches the answers kept for
Idempotency-Key replays that mention the customer (core.idempotency knows no room, so the room wires it)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.engine import Connection

from omnihub.core.rooms import Room


class _AnswersAbout:
    """Erasure reaches the answers kept for Idempotency-Key replays that mention the customer."""

    def on_erase(self, conn: Connection, customer_ids: Sequence[str]) -> None:
        from omnihub.core.idempotency import forget_answers_about

        forget_answers_about(conn, customer_ids)


def _wire() -> None:
    from omnihub.customers import participants

    participants.register_erasure_participant("idempotency", _AnswersAbout())


ROOM = Room(name="customers", router="omnihub.customers.api:router", wire=_wire)
