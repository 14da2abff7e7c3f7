"""Brute force against API keys: unknown keys are counted per client address, and an address that sent too
many in a window is refused (`429 too_many_auth_failures` with Retry-After) for a while.

Only *unknown keys* count: a request with a good key costs nothing here whatever it is answered (a sell-out
rush of `409 insufficient_stock` is never throttled), and a request without any key is a plain 401 (it
guesses nothing). The count lives in the database (`auth_failures`, one row per address), so every server
process shares it: ten processes behind a balancer allow the same number of guesses as one. Each process
also remembers the addresses it saw blocked, so a flood from a blocked address costs no query at all; a key
this process trusts from memory (`KeyAuthenticator`, a few seconds) is let through, as it guesses nothing.
"""

from __future__ import annotations

import math
import random
import threading
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.core.clock import Clock, as_utc
from omnihub.core.db import Database, Timestamp, dialect_insert, metadata
from omnihub.core.errors import TooManyRequests

auth_failures = sa.Table(
    "auth_failures",
    metadata,
    sa.Column("client", sa.String(64), primary_key=True),
    sa.Column("window_started_at", Timestamp, nullable=False),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("blocked_until", Timestamp, nullable=True),
)
AF = auth_failures.c
_FORGET_AFTER = timedelta(days=1)


def too_many(client: str, until: datetime, now: datetime) -> TooManyRequests:
    wait = max(1, math.ceil((until - now).total_seconds()))
    return TooManyRequests("too_many_auth_failures",
                           f"Too many requests with an unknown API key from this address; try again in {wait} s.",
                           field="Authorization", retry_after=wait, blocked_until=until.isoformat())


class AuthThrottle:
    """Counts unknown keys per client address in the database; refuses blocked addresses."""

    def __init__(self, db: Database, clock: Clock, *, limit: int, window_seconds: float, block_seconds: float
                 ) -> None:
        self._db = db
        self._clock = clock
        self.limit = limit
        self._window = timedelta(seconds=window_seconds)
        self._block = timedelta(seconds=block_seconds)
        self._blocked: dict[str, datetime] = {}  # this process's memory of blocked addresses
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.limit > 0

    def check(self, conn: Connection, client: str | None) -> None:
        """Refuse a blocked address: from memory, else from its row (read on the key lookup's connection)."""
        if not self.enabled or not client:
            return
        client = client[:64]
        now = self._clock.now()
        with self._lock:
            until = self._blocked.get(client)
        if until is None:
            found = conn.execute(sa.select(AF.blocked_until).where(AF.client == client)).scalar()
            until = as_utc(found) if found is not None else None
        if until is not None and until > now:
            with self._lock:
                self._blocked[client] = until
            raise too_many(client, until, now)
        if until is not None:
            with self._lock:
                self._blocked.pop(client, None)

    def failed(self, client: str | None) -> None:
        """Count one unknown key from this address (its own small transaction, whatever the request's fate)."""
        if not self.enabled or not client:
            return
        client = client[:64]
        now = self._clock.now()
        with self._db.transaction(effect=False) as conn:  # not the request's effect (no key goes with it)
            until = self._count(conn, client, now)
            if random.random() < 0.01:  # now and then, forget addresses long quiet
                conn.execute(auth_failures.delete().where(
                    AF.window_started_at < now - _FORGET_AFTER,
                    sa.or_(AF.blocked_until.is_(None), AF.blocked_until < now)))
        if until is not None:
            with self._lock:
                self._blocked[client] = until

    def _count(self, conn: Connection, client: str, now: datetime) -> datetime | None:
        insert = dialect_insert(conn)(auth_failures).values(client=client, window_started_at=now, failures=0)
        conn.execute(insert.on_conflict_do_nothing(index_elements=["client"]))
        query = sa.select(AF.window_started_at, AF.failures).where(AF.client == client)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = conn.execute(query).one()
        started, failures = as_utc(row.window_started_at), row.failures
        if now - started >= self._window:  # a new window
            started, failures = now, 0
        failures += 1
        until = now + self._block if failures >= self.limit else None
        values = {"window_started_at": started, "failures": 0 if until else failures}
        if until is not None:  # never clear a block another process just set
            values["blocked_until"] = until
        conn.execute(auth_failures.update().where(AF.client == client).values(**values))
        return until
