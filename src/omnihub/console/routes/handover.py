"""Handing a pickup over against its code, from the counter or the order page: the same guard as the API
(commerce.pickup_guard) — each try is counted first, in its own transaction, and too many wrong codes lock the
order's collection — so the console is no way around the limit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Connection

from omnihub.commerce import fulfilment, pickup_guard
from omnihub.commerce import queries as commerce
from omnihub.commerce.pickup_guard import PickupPolicy
from omnihub.commerce.schemas import CollectIn
from omnihub.core.errors import DomainError


def hand_over(state: Any, actor: str, ref: str, code: str,
              check: Callable[[Connection, dict[str, Any]], None]) -> dict[str, Any]:
    """`check(conn, order)` refuses an order out of the viewer's scope before any try is counted."""
    body = CollectIn.model_validate({"code": code.strip()})
    policy = PickupPolicy(state.settings.pickup_max_wrong_codes, state.settings.pickup_lock_seconds)

    def claim(conn: Connection) -> tuple[str, pickup_guard.Attempt]:
        order = commerce.get_order(conn, commerce.order_row(conn, ref)["id"])
        check(conn, order)
        return order["id"], pickup_guard.claim_attempt(conn, state.clock, order["id"], policy)

    found, attempt = state.db.run(claim)

    def collect(conn: Connection) -> dict[str, Any]:
        try:
            done = fulfilment.collect(conn, state.clock, found, body.code, actor=actor)
        except DomainError as exc:
            if exc.code == "wrong_pickup_code":
                raise pickup_guard.wrong_code(found, attempt, policy) from None
            raise
        pickup_guard.reset(conn, found)
        return done

    return state.db.run(collect)  # type: ignore[no-any-return]
