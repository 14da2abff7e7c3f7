"""Builders for service-desk test data, through the public API."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from tests.builders import ok

from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.core.events import recent_events


def message(api: TestClient, channel: str, identity: Any, text: str, *, status: int = 201,
            **extra: Any) -> dict[str, Any]:
    return ok(api.post("/api/v1/messages", json={"channel": channel, "identity": identity, "text": text, **extra}),
              status)


def conversation(api: TestClient, conversation_id: str) -> dict[str, Any]:
    return ok(api.get(f"/api/v1/conversations/{conversation_id}"))


def conversations(api: TestClient, **query: Any) -> list[dict[str, Any]]:
    return ok(api.get("/api/v1/conversations", params=query))["items"]


def thread(api: TestClient, conversation_id: str) -> list[tuple[str, str, str]]:
    """(channel, direction, text) of every message, oldest first."""
    return [(m["channel"], m["direction"], m["text"]) for m in conversation(api, conversation_id)["messages"]]


def events_of(db: Database, type_: str) -> list[dict[str, Any]]:
    with db.read() as conn:
        return [e.data for e in recent_events(conn, type_=type_, limit=100)]


def later(clock: ManualClock, **delta: float) -> None:
    clock.advance(**delta)
