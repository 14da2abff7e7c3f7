"""The console as a room of the house: its job (forgetting ended sessions and failed logins that no longer count).
Its pages are not an API router: `omnihub.console.routes.install` mounts them at `/` (app.py), outside /api/v1."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import Connection

from omnihub.config import Settings
from omnihub.core.clock import Clock
from omnihub.core.rooms import Job, Room


def _purge(conn: Connection, clock: Clock, settings: Settings) -> int:
    from omnihub.console import rules, service

    policy = rules.SessionPolicy(lifetime=timedelta(hours=settings.console_session_hours),
                                 idle=timedelta(minutes=settings.console_idle_minutes))
    return service.purge(conn, clock, policy, timedelta(minutes=settings.console_login_window_minutes))


ROOM = Room(name="console", jobs=[Job("console.purge_sessions", _purge, every=lambda _settings: 3600.0,
                                      counts_as_work=False)])
