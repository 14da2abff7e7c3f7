"""`Idempotency-Key` on every POST: a retried request gets the first response, never a second effect."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from omnihub.core.clock import Clock, as_utc
from omnihub.core.db import Database, Timestamp, conflict_insert, metadata

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("scope", sa.String(64), primary_key=True),  # hash of the caller's credentials
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("status_code", sa.Integer, nullable=True),  # NULL while the first request is in flight
    sa.Column("content_type", sa.String(100), nullable=True),
    sa.Column("body", sa.LargeBinary, nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
)

_CLAIMED = sa.select(idempotency_keys).where(
    idempotency_keys.c.scope == sa.bindparam("b_scope"), idempotency_keys.c.key == sa.bindparam("b_key"))

_KEY = (idempotency_keys.c.scope == sa.bindparam("b_scope"), idempotency_keys.c.key == sa.bindparam("b_key"))
_SETTLE = idempotency_keys.update().where(*_KEY).values(
    status_code=sa.bindparam("b_status"), body=sa.bindparam("b_body"), content_type=sa.bindparam("b_type"))
_FORGET = idempotency_keys.delete().where(*_KEY)

# A request still "in flight" after this long died with its process; a retry may take over.
ABANDONED_AFTER = timedelta(seconds=60)


def _problem(status: int, code: str, detail: str) -> tuple[int, bytes]:
    body = {"type": f"https://omnihub.dev/problems/{code}", "title": detail, "status": status,
            "code": code, "detail": detail, "field": "Idempotency-Key"}
    return status, json.dumps(body).encode()


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, *, db: Database, clock: Clock) -> None:
        self.app = app
        self.db = db
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        key = headers.get("idempotency-key")
        if not key:
            await self.app(scope, receive, send)
            return

        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        credential_scope = hashlib.sha256(headers.get("authorization", "").encode()).hexdigest()
        request_hash = hashlib.sha256(scope["path"].encode() + b"\n" + body).hexdigest()

        from starlette.concurrency import run_in_threadpool

        claim = await run_in_threadpool(self._claim, credential_scope, key[:200], request_hash)
        if claim is not None:
            await self._send(send, *claim)
            return

        captured: dict[str, Any] = {"status": 500, "headers": [], "body": b""}

        async def replay_receive() -> Message:
            nonlocal body
            chunk, body = body, b""
            return {"type": "http.request", "body": chunk, "more_body": False}

        async def capture_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["headers"] = message.get("headers", [])
            elif message["type"] == "http.response.body":
                captured["body"] += message.get("body", b"")
            await send(message)

        try:
            await self.app(scope, replay_receive, capture_send)
        finally:
            await run_in_threadpool(self._finish, credential_scope, key[:200], captured)

    def _claim(self, scope_hash: str, key: str, request_hash: str) -> tuple[int, bytes, str, bool] | None:
        """None: this request goes ahead. Otherwise the response to send instead.

        The usual case (a key never seen) is one statement that commits by itself."""
        now = self.clock.now()
        with self.db.single_statement() as conn:
            if self._insert_claim(conn, scope_hash, key, request_hash, now):
                return None
        with self.db.transaction() as conn:
            row = conn.execute(_CLAIMED, {"b_scope": scope_hash, "b_key": key}).first()
            if row is None:  # finished with a server error and was cleared: go ahead
                if self._insert_claim(conn, scope_hash, key, request_hash, now):
                    return None
                status, payload = _problem(
                    409, "idempotency_request_in_progress", "A request with this Idempotency-Key is in progress."
                )
                return status, payload, "application/problem+json", False
            if row.request_hash != request_hash:
                status, payload = _problem(
                    422, "idempotency_key_reused", "This Idempotency-Key was used with a different request."
                )
                return status, payload, "application/problem+json", False
            if row.status_code is None:
                if now - as_utc(row.created_at) > ABANDONED_AFTER:
                    conn.execute(
                        idempotency_keys.update()
                        .where(idempotency_keys.c.scope == scope_hash, idempotency_keys.c.key == key)
                        .values(created_at=now)
                    )
                    return None
                status, payload = _problem(
                    409, "idempotency_request_in_progress", "A request with this Idempotency-Key is in progress."
                )
                return status, payload, "application/problem+json", False
            return row.status_code, row.body or b"", row.content_type or "application/json", True

    @staticmethod
    def _insert_claim(conn: Connection, scope_hash: str, key: str, request_hash: str, now: datetime) -> bool:
        """True when this call took the key (INSERT … ON CONFLICT DO NOTHING: a taken key is no error)."""
        statement = conflict_insert(idempotency_keys, ["scope", "key", "request_hash", "created_at"],
                                    conflict="DO NOTHING", returning="key")
        taken = conn.execute(statement, dict(scope=scope_hash, key=key, request_hash=request_hash, created_at=now))
        return taken.first() is not None

    def _finish(self, scope_hash: str, key: str, captured: dict[str, Any]) -> None:
        where = {"b_scope": scope_hash, "b_key": key}
        with self.db.single_statement() as conn:
            if captured["status"] >= 500:
                conn.execute(_FORGET, where)  # let a retry try again
                return
            content_type = next(
                (v.decode() for k, v in captured["headers"] if k.decode().lower() == "content-type"),
                "application/json",
            )
            conn.execute(_SETTLE, {**where, "b_status": captured["status"], "b_body": captured["body"],
                                   "b_type": content_type})

    @staticmethod
    async def _send(send: Send, status: int, body: bytes, content_type: str, replayed: bool) -> None:
        headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
        if replayed:
            headers.append((b"idempotent-replayed", b"true"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
