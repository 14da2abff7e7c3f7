"""The test room's declaration: a wiring hook and three jobs: one every step, one every hour, and one paced poller
(`backlog` says how much its next runs find, a full batch being 10)."""

from __future__ import annotations

from sqlalchemy.engine import Connection

from omnihub.config import Settings
from omnihub.core.clock import Clock
from omnihub.core.rooms import Job, Room

calls: dict[str, int] = {"wire": 0, "tidy": 0, "audit": 0, "expire": 0}
backlog: list[int] = []


def _wire() -> None:
    calls["wire"] += 1


def _tidy(conn: Connection, clock: Clock, settings: Settings) -> int:
    calls["tidy"] += 1
    return 0


def _audit(conn: Connection, clock: Clock, settings: Settings) -> int:
    calls["audit"] += 1
    return 1


def _expire(conn: Connection, clock: Clock, settings: Settings) -> int:
    calls["expire"] += 1
    return backlog.pop(0) if backlog else 0


ROOM = Room(name="sample", wire=_wire,
            jobs=[Job("sample.tidy", _tidy), Job("sample.audit", _audit, every=lambda _s: 3600, counts_as_work=False),
                  Job("sample.expire", _expire, batch=10, paced=True)])
