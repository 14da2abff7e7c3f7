"""Read side of the console: users and live sessions."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.console import errors
from omnihub.console.models import console_sessions, console_users
from omnihub.core.clock import as_utc

U = console_users.c
S = console_sessions.c


def _user(row: Any) -> dict[str, Any]:
    return {"id": row.id, "email": row.email, "role": row.role, "location": row.location, "locale": row.locale,
            "created_at": as_utc(row.created_at), "disabled": row.disabled_at is not None}


def get_user(conn: Connection, user_id: str) -> dict[str, Any]:
    row = conn.execute(sa.select(console_users).where(U.id == user_id)).first()
    if row is None:
        raise errors.user_not_found(user_id)
    return _user(row)


def user_by_email(conn: Connection, email: str) -> Any:
    """The row with its password hash (for login only)."""
    return conn.execute(sa.select(console_users).where(U.email == email)).first()


def list_users(conn: Connection) -> list[dict[str, Any]]:
    return [_user(r) for r in conn.execute(sa.select(console_users).order_by(U.email))]


_SESSION = (sa.select(S.id, S.user_id, S.csrf_token, S.last_seen_at, S.expires_at, S.ended_at,
                      U.email, U.role, U.location, U.locale, U.disabled_at)
            .join(console_users, U.id == S.user_id)
            .where(S.token_hash == sa.bindparam("b_hash")))


def session_by_token_hash(conn: Connection, token_hash: str) -> dict[str, Any] | None:
    """The session and its user, whatever its state (the caller decides if it is alive)."""
    row = conn.execute(_SESSION, {"b_hash": token_hash}).first()
    if row is None:
        return None
    data = dict(row._mapping)
    for key in ("last_seen_at", "expires_at", "ended_at", "disabled_at"):
        if data[key] is not None:
            data[key] = as_utc(data[key])
    return data
