"""`Idempotency-Key` on every POST: a retried request gets the first response, never a second effect."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from omnihub.core.clock import Clock, as_utc
from omnihub.core.db import Database, RetryTransaction, Timestamp, conflict_insert, metadata

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


_ANSWER_COLUMNS = ["scope", "key", "request_hash", "status_code", "content_type", "body", "created_at"]
_STATE_KEY = "omnihub_keyed_request"


def _problem(status: int, code: str, detail: str) -> tuple[int, bytes]:
    body = {"type": f"https://omnihub.dev/problems/{code}", "title": detail, "status": status,
            "code": code, "detail": detail, "field": "Idempotency-Key"}
    return status, json.dumps(body).encode()


@dataclass
class KeyedRequest:
    """A keyed POST whose route keeps the answer in its own transaction (see `earlier_answer`/`keep_answer`)
    instead of the middleware's claim before and settlement after: one insert that commits with the effect,
    not two statements and two commits of their own around it. `answered` once the route has kept or replayed
    an answer; otherwise the middleware keeps whatever the route answered (an error, say)."""

    scope: str
    key: str
    request_hash: str
    answered: bool = False


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: str = "application/json"
    replayed: bool = False

    @property
    def headers(self) -> dict[str, str]:
        return {"idempotent-replayed": "true"} if self.replayed else {}


def keyed_request(state: Any) -> KeyedRequest | None:
    """The request's key, when the middleware left the answer to the route (`request.state`)."""
    return getattr(state, _STATE_KEY, None)


def earlier_answer(conn: Connection, request: KeyedRequest, now: datetime) -> Answer | None:
    """The answer this key already has (a retry), or the problem that stops it; None: go ahead. Read inside
    the route's transaction, so a key taken since is caught by `keep_answer`'s insert."""
    row = conn.execute(_CLAIMED, {"b_scope": request.scope, "b_key": request.key}).first()
    if row is None:
        return None
    answer = _answer_from(row, request.request_hash)
    if answer is None and now - as_utc(row.created_at) > ABANDONED_AFTER:
        conn.execute(_FORGET, {"b_scope": request.scope, "b_key": request.key})  # its process died: take over
        return None
    return answer or _in_progress()


def keep_answer(conn: Connection, request: KeyedRequest, now: datetime, status: int, body: bytes,
                content_type: str = "application/json") -> Answer:
    """Keep the answer with the transaction that produced it. A concurrent request with the same key that
    committed first makes the insert find its row (PostgreSQL waits for that commit): the transaction reruns
    and `earlier_answer` replays that request's answer."""
    inserted = conn.execute(conflict_insert(idempotency_keys, _ANSWER_COLUMNS, conflict="DO NOTHING",
                                            returning="key"),
                            {"scope": request.scope, "key": request.key, "request_hash": request.request_hash,
                             "status_code": status, "content_type": content_type, "body": body,
                             "created_at": now}).first()
    if inserted is None:
        raise RetryTransaction("the Idempotency-Key was taken by a concurrent request")
    return Answer(status, body, content_type)


def _in_progress() -> Answer:
    return Answer(*_problem(409, "idempotency_request_in_progress",
                            "A request with this Idempotency-Key is in progress."),
                  content_type="application/problem+json")


def _answer_from(row: Any, request_hash: str) -> Answer | None:
    """A kept row as the answer to a request with `request_hash`; None while it is still in flight."""
    if row.request_hash != request_hash:
        return Answer(*_problem(422, "idempotency_key_reused",
                                "This Idempotency-Key was used with a different request."),
                      content_type="application/problem+json")
    if row.status_code is None:
        return None
    return Answer(row.status_code, row.body or b"", row.content_type or "application/json", replayed=True)


def _replaying(body: bytes) -> Receive:
    """The request body, read once by the middleware, handed to the app."""
    pending = [body]

    async def receive() -> Message:
        return {"type": "http.request", "body": pending.pop() if pending else b"", "more_body": False}

    return receive


class IdempotencyMiddleware:
    """`answered_by_route`: patterns of the POST paths (whole-path regular expressions) whose routes keep their
    answers themselves (`KeyedRequest`)."""

    def __init__(self, app: ASGIApp, *, db: Database, clock: Clock, answered_by_route: Collection[str] = ()
                 ) -> None:
        self.app = app
        self.db = db
        self.clock = clock
        self.answered_by_route = re.compile("|".join(f"(?:{p})" for p in answered_by_route) or r"(?!)")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        key = headers.get("idempotency-key")
        if not key:
            await self.app(scope, receive, send)
            return

        chunks = []  # joined once: `body += chunk` copies everything read so far on every chunk
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        credential_scope = hashlib.sha256(headers.get("authorization", "").encode()).hexdigest()
        request_hash = hashlib.sha256(scope["path"].encode() + b"\n" + body).hexdigest()

        from starlette.concurrency import run_in_threadpool

        if self.answered_by_route.fullmatch(scope["path"]):
            keyed = KeyedRequest(credential_scope, key[:200], request_hash)
            await self._answer_in_route(scope, body, send, keyed)
            return

        claim = await run_in_threadpool(self._claim, credential_scope, key[:200], request_hash)
        if claim is not None:
            await self._send(send, claim)
            return

        captured: dict[str, Any] = {"status": 500, "headers": [], "body": []}

        async def capture_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["headers"] = message.get("headers", [])
            elif message["type"] == "http.response.body":
                captured["body"].append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, _replaying(body), capture_send)
        finally:
            captured["body"] = b"".join(captured["body"])
            await run_in_threadpool(self._finish, credential_scope, key[:200], captured)

    async def _answer_in_route(self, scope: Scope, body: bytes, send: Send, keyed: KeyedRequest) -> None:
        """Let the route keep its answer in its transaction; keep what it did not (a refusal before it, a
        validation error) here, after the fact — or send the answer a concurrent request kept first."""
        from starlette.concurrency import run_in_threadpool

        scope.setdefault("state", {})[_STATE_KEY] = keyed
        messages: list[Message] = []

        async def keep(message: Message) -> None:
            messages.append(message)

        await self.app(scope, _replaying(body), keep)
        start = next((m for m in messages if m["type"] == "http.response.start"), None)
        if start is not None and not keyed.answered and start["status"] < 500:
            content_type = next((v.decode() for k, v in start.get("headers", [])
                                 if k.decode().lower() == "content-type"), "application/json")
            answer = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
            earlier = await run_in_threadpool(self._keep_after, keyed, start["status"], answer, content_type)
            if earlier is not None:
                await self._send(send, earlier)
                return
        for message in messages:
            await send(message)

    def _keep_after(self, keyed: KeyedRequest, status: int, body: bytes, content_type: str) -> Answer | None:
        """Keep an answer the route did not keep; if the key was taken meanwhile, that request's answer."""
        now = self.clock.now()
        with self.db.single_statement() as conn:
            try:
                keep_answer(conn, keyed, now, status, body, content_type)
                return None
            except RetryTransaction:
                row = conn.execute(_CLAIMED, {"b_scope": keyed.scope, "b_key": keyed.key}).first()
        if row is None:
            return None
        return _answer_from(row, keyed.request_hash) or _in_progress()

    def _claim(self, scope_hash: str, key: str, request_hash: str) -> Answer | None:
        """None: this request goes ahead. Otherwise the answer to send instead.

        The usual case (a key never seen) is one statement that commits by itself."""
        now = self.clock.now()
        with self.db.single_statement() as conn:
            if self._insert_claim(conn, scope_hash, key, request_hash, now):
                return None
        with self.db.transaction() as conn:
            row = conn.execute(_CLAIMED, {"b_scope": scope_hash, "b_key": key}).first()
            if row is None:  # finished with a server error and was cleared: go ahead
                return None if self._insert_claim(conn, scope_hash, key, request_hash, now) else _in_progress()
            answer = _answer_from(row, request_hash)
            if answer is not None:
                return answer
            if now - as_utc(row.created_at) > ABANDONED_AFTER:
                conn.execute(idempotency_keys.update().where(*_KEY).values(created_at=now),
                             {"b_scope": scope_hash, "b_key": key})
                return None
            return _in_progress()

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
    async def _send(send: Send, answer: Answer) -> None:
        headers = [(b"content-type", answer.content_type.encode()),
                   (b"content-length", str(len(answer.body)).encode()),
                   *((k.encode(), v.encode()) for k, v in answer.headers.items())]
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})
