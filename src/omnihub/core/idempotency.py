"""`Idempotency-Key` on every write (POST, PUT, PATCH, DELETE): a retried request gets the first answer, never a
second effect.

The key is recorded **in the transaction that carries the request's effect**: the middleware makes the keyed
request the witness of every write transaction it opens (`core.db.witnessed_by`), and the first one that
changed anything inserts the key's row just before it commits. So there is never an effect without its key —
whatever is killed when. The answer is kept right after, before it is sent. A retry finds the row: it gets the
kept answer; or, when the effect committed but its answer was never kept (the process died in between), a
409 `idempotency_answer_lost` that says when it was done and names the events it recorded — never the effect
again. Two requests with one key racing: the second's insert finds the first's row (PostgreSQL waits for its
commit), its transaction rolls back and it answers with the first one's answer.

Routes on the hottest path (POST /orders, checkout) keep the answer itself in the order's transaction
(`earlier_answer`/`keep_answer`): one row, one insert, with the effect."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from omnihub.core.clock import Clock, as_utc
from omnihub.core.db import (
    Database,
    JsonDoc,
    RetryTransaction,
    Timestamp,
    changes_mark,
    conflict_insert,
    metadata,
    transaction_memo,
    witnessed_by,
    wrote_anything,
)
from omnihub.core.errors import Conflict
from omnihub.core.events import EMITTED

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("scope", sa.String(64), primary_key=True),  # hash of the caller's credentials
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    # NULL: the effect committed (with this row) and its answer is not kept yet — or never will be (a crash)
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("content_type", sa.String(100), nullable=True),
    sa.Column("body", sa.LargeBinary, nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    # What the request did (method, path, the events it recorded): said when its answer was lost.
    sa.Column("effect", JsonDoc, nullable=True),
    # Fields of the kept answer that were secrets and are not kept ("secret"), or "erased" (GDPR).
    sa.Column("redacted", sa.String(200), nullable=True),
    sa.Index("ix_idempotency_keys_created_at", "created_at"),
)

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Answers never kept (besides 5xx): no key (401) can have had an effect, and a throttled request (429) is to be
# tried again after its Retry-After, not answered 429 forever.
NOT_KEPT = frozenset({401, 429})

_KEY = (idempotency_keys.c.scope == sa.bindparam("b_scope"), idempotency_keys.c.key == sa.bindparam("b_key"))
_CLAIMED = sa.select(idempotency_keys).where(*_KEY)
_SETTLE = idempotency_keys.update().where(*_KEY).values(
    status_code=sa.bindparam("b_status"), body=sa.bindparam("b_body"), content_type=sa.bindparam("b_type"),
    redacted=sa.bindparam("b_redacted"))

# An effect whose answer is still not kept this long after it committed will not get one: its process died.
ANSWER_LOST_AFTER = timedelta(seconds=10)

# Answer fields that are secrets: never kept; a replay says which were left out (`Idempotency-Redacted`).
SECRET_FIELDS = frozenset({"secret", "previous_secret", "password", "api_key", "token", "raw_key"})
_SECRET_MARKS = tuple(f'"{name}"'.encode() for name in sorted(SECRET_FIELDS))

_ANSWER_COLUMNS = ["scope", "key", "request_hash", "status_code", "content_type", "body", "created_at"]
_RECORD_COLUMNS = ["scope", "key", "request_hash", "created_at", "effect"]
# PostgreSQL: the key's row goes in only when the transaction wrote something (it then has a transaction id).
_RECORD_IF_WROTE_PG = sa.text(
    "INSERT INTO idempotency_keys (scope, key, request_hash, created_at, effect) "
    "SELECT :scope, :key, :request_hash, :created_at, CAST(:effect AS jsonb) "
    "WHERE pg_current_xact_id_if_assigned() IS NOT NULL ON CONFLICT DO NOTHING RETURNING key",
).bindparams(sa.bindparam("created_at", type_=Timestamp))
_STATE_KEY = "omnihub_keyed_request"
_MEMO = "idempotency"


def _problem_body(status: int, code: str, detail: str, **extra: Any) -> bytes:
    body = {"type": f"https://omnihub.dev/problems/{code}", "title": detail, "status": status,
            "code": code, "detail": detail, "field": "Idempotency-Key", **extra}
    return json.dumps(body, default=str).encode()


def key_taken() -> Conflict:
    return Conflict("idempotency_request_in_progress", "A request with this Idempotency-Key is in progress.",
                    field="Idempotency-Key")


@dataclass
class KeyedRequest:
    """A keyed write request, and the witness of its write transactions (`core.db.TransactionWitness`): the
    first transaction that changes anything records the key before it commits. Routes that keep their answer
    in their own transaction (`earlier_answer`/`keep_answer`) set `answered`."""

    scope: str
    key: str
    request_hash: str
    method: str = "POST"
    path: str = ""
    clock: Clock | None = None
    answered: bool = False  # the route kept (or replayed) the answer itself
    recorded: bool = False  # a committed transaction of this request holds the key's row
    taken: bool = False  # a concurrent request with this key committed first: this one's effect rolled back

    def now(self) -> datetime:
        return self.clock.now() if self.clock is not None else datetime.now(UTC)

    # -- TransactionWitness ---------------------------------------------------------------------------------

    def began(self, conn: Connection) -> Any:
        return None if self.recorded else changes_mark(conn)

    def before_commit(self, conn: Connection, mark: Any) -> bool:
        """Record the key in this transaction if it is the request's first one that wrote; True when it did.
        A key another request recorded first rolls this transaction back (`key_taken`)."""
        if self.recorded:
            return False
        memo = transaction_memo(conn, _MEMO)
        if memo.get("kept"):  # keep_answer wrote the whole row
            return True
        emitted = transaction_memo(conn, EMITTED).get("rows") or []
        effect = {"method": self.method, "path": self.path, "events": [_named(e) for e in emitted[:20]]}
        params = {"scope": self.scope, "key": self.key, "request_hash": self.request_hash,
                  "created_at": self.now()}
        if conn.dialect.name == "postgresql":
            if conn.execute(_RECORD_IF_WROTE_PG, {**params, "effect": json.dumps(effect)}).first() is not None:
                return True
            if not wrote_anything(conn, mark):
                return False
        else:
            if not wrote_anything(conn, mark):
                return False
            statement = conflict_insert(idempotency_keys, _RECORD_COLUMNS, conflict="DO NOTHING", returning="key")
            if conn.execute(statement, {**params, "effect": effect}).first() is not None:
                return True
        self.taken = True
        raise key_taken()

    def committed(self, done: Any) -> None:
        if done:
            self.recorded = True


def _named(event: dict[str, Any]) -> dict[str, Any]:
    """An event as a lost answer names it: its type and id, and the ids in its data — no personal data."""
    data = event.get("data") or {}
    ids = {k: v for k, v in data.items()
           if isinstance(v, str) and (k == "id" or k.endswith("_id") or k in ("sku", "location", "number"))}
    return {"type": event["type"], "event_id": event["id"], **ids}


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: str = "application/json"
    replayed: bool = False
    redacted: str | None = None
    retry_after: int | None = None

    @property
    def headers(self) -> dict[str, str]:
        headers = {"idempotent-replayed": "true"} if self.replayed else {}
        if self.redacted:
            headers["idempotency-redacted"] = self.redacted
        if self.retry_after is not None:
            headers["retry-after"] = str(self.retry_after)
        return headers


def keyed_request(state: Any) -> KeyedRequest | None:
    """The request's key, when the middleware left the answer to the route (`request.state`)."""
    return getattr(state, _STATE_KEY, None)


def earlier_answer(conn: Connection, request: KeyedRequest, now: datetime) -> Answer | None:
    """The answer this key already has (a retry), or the problem that stops it; None: go ahead. Read inside
    the route's transaction, so a key taken since is caught by `keep_answer`'s insert."""
    row = conn.execute(_CLAIMED, {"b_scope": request.scope, "b_key": request.key}).first()
    return None if row is None else _answer_from(row, request.request_hash, now)


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
    transaction_memo(conn, _MEMO)["kept"] = True
    return Answer(status, body, content_type)


def _in_progress() -> Answer:
    return Answer(409, _problem_body(409, "idempotency_request_in_progress",
                                     "A request with this Idempotency-Key is in progress."),
                  content_type="application/problem+json", retry_after=1)


def _answer_lost(row: Any) -> Answer:
    effect = row.effect or {}
    at = as_utc(row.created_at).isoformat()
    detail = (f"The request with this Idempotency-Key was carried out at {at}, but its answer was not kept (the "
              "server stopped before it could). It was not carried out again; `events` names what it did.")
    body = _problem_body(409, "idempotency_answer_lost", detail, carried_out_at=at,
                         request={"method": effect.get("method"), "path": effect.get("path")},
                         events=effect.get("events", []))
    return Answer(409, body, content_type="application/problem+json")


def _answer_from(row: Any, request_hash: str, now: datetime) -> Answer:
    """A kept row as the answer to a request with `request_hash`."""
    if row.request_hash != request_hash:
        return Answer(422, _problem_body(422, "idempotency_key_reused",
                                         "This Idempotency-Key was used with a different request."),
                      content_type="application/problem+json")
    if row.status_code is None:
        return _answer_lost(row) if now - as_utc(row.created_at) > ANSWER_LOST_AFTER else _in_progress()
    return Answer(row.status_code, row.body or b"", row.content_type or "application/json", replayed=True,
                  redacted=row.redacted)


def redact_secrets(body: bytes) -> tuple[bytes, list[str]]:
    """The answer as it may be kept: secret fields (a webhook's signing secret…) set to null, and their names.
    Most answers carry none and are returned as they are without being parsed."""
    if not any(mark in body for mark in _SECRET_MARKS):
        return body, []
    try:
        document = json.loads(body)
    except ValueError:
        return body, []
    names: set[str] = set()

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            out = {}
            for k, v in value.items():
                if k in SECRET_FIELDS and v is not None:
                    names.add(k)
                    out[k] = None
                else:
                    out[k] = walk(v)
            return out
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    cleaned = walk(document)
    return (json.dumps(cleaned).encode(), sorted(names)) if names else (body, [])


# ---- erasure and retention ------------------------------------------------------------------------------------

_ERASED = _problem_body(410, "idempotent_answer_erased",
                        "The answer to this request concerned a customer whose personal data was erased, so it "
                        "is no longer kept. The request was carried out and will not be carried out again.")


def forget_answers_about(conn: Connection, customer_ids: Sequence[str]) -> int:
    """GDPR erasure: every kept answer that mentions one of these customers (by id, in the answer or in what the
    request did: its path, its events) is replaced by a 410 problem; the key itself stays, so a retry still
    cannot repeat the effect. Scans only answers within the retention period (the worker purges older ones)."""
    ids = [c for c in customer_ids if c]
    if not ids:
        return 0
    if conn.dialect.name == "postgresql":
        found = " OR ".join(f"position(CAST(:n{i} AS bytea) IN body) > 0 "
                            f"OR position(:t{i} IN CAST(effect AS text)) > 0" for i in range(len(ids)))
    else:
        found = " OR ".join(f"instr(body, :n{i}) > 0 OR instr(effect, :t{i}) > 0" for i in range(len(ids)))
    statement = sa.text(
        "UPDATE idempotency_keys SET status_code = 410, content_type = 'application/problem+json', "
        f"body = :erased, redacted = 'erased' WHERE body IS NOT NULL AND ({found})"
    ).bindparams(sa.bindparam("erased", type_=sa.LargeBinary),
                 *(sa.bindparam(f"n{i}", type_=sa.LargeBinary) for i in range(len(ids))))
    result = conn.execute(statement, {"erased": _ERASED, **{f"n{i}": c.encode() for i, c in enumerate(ids)},
                                      **{f"t{i}": c for i, c in enumerate(ids)}})
    return int(result.rowcount or 0)


def purge_expired(conn: Connection, *, before: datetime, limit: int = 5000) -> int:
    """Delete keys (and their answers) recorded before `before`, at most `limit` of them. A request retried
    after that is a new request."""
    oldest = (sa.select(idempotency_keys.c.scope, idempotency_keys.c.key)
              .where(idempotency_keys.c.created_at < before).limit(limit))
    result = conn.execute(idempotency_keys.delete().where(
        sa.tuple_(idempotency_keys.c.scope, idempotency_keys.c.key).in_(oldest)))
    return int(result.rowcount or 0)


# ---- the middleware -------------------------------------------------------------------------------------------


def _replaying(body: bytes) -> Receive:
    """The request body, read once by the middleware, handed to the app."""
    pending = [body]

    async def receive() -> Message:
        return {"type": "http.request", "body": pending.pop() if pending else b"", "more_body": False}

    return receive


class IdempotencyMiddleware:
    """`answered_by_route`: patterns of the POST paths (whole-path regular expressions) whose routes keep their
    answers themselves (`KeyedRequest`, `earlier_answer`, `keep_answer`)."""

    def __init__(self, app: ASGIApp, *, db: Database, clock: Clock, answered_by_route: Collection[str] = ()
                 ) -> None:
        self.app = app
        self.db = db
        self.clock = clock
        self.answered_by_route = re.compile("|".join(f"(?:{p})" for p in answered_by_route) or r"(?!)")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WRITE_METHODS:
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
        method = b"" if scope["method"] == "POST" else scope["method"].encode() + b" "  # POST: as keys were
        request_hash = hashlib.sha256(method + scope["path"].encode() + b"\n" + body).hexdigest()
        keyed = KeyedRequest(credential_scope, key[:200], request_hash, method=scope["method"],
                             path=scope["path"], clock=self.clock)

        from starlette.concurrency import run_in_threadpool

        by_route = scope["method"] == "POST" and self.answered_by_route.fullmatch(scope["path"]) is not None
        if by_route:
            scope.setdefault("state", {})[_STATE_KEY] = keyed
        else:  # the route's own transaction cannot read the key first: look here (one read)
            earlier = await run_in_threadpool(self._earlier, keyed)
            if earlier is not None:
                await self._send(send, earlier)
                return

        messages: list[Message] = []

        async def keep(message: Message) -> None:
            messages.append(message)

        with witnessed_by(keyed):
            await self.app(scope, _replaying(body), keep)
        start = next((m for m in messages if m["type"] == "http.response.start"), None)
        if start is not None and not keyed.answered:
            content_type = next((v.decode() for k, v in start.get("headers", [])
                                 if k.decode().lower() == "content-type"), "application/json")
            answer = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
            instead = await run_in_threadpool(self._settle, keyed, start["status"], answer, content_type)
            if instead is not None:
                await self._send(send, instead)
                return
        for message in messages:
            await send(message)

    def _earlier(self, keyed: KeyedRequest) -> Answer | None:
        with self.db.single_statement(read_only=True) as conn:
            row = conn.execute(_CLAIMED, {"b_scope": keyed.scope, "b_key": keyed.key}).first()
        return None if row is None else _answer_from(row, keyed.request_hash, self.clock.now())

    def _settle(self, keyed: KeyedRequest, status: int, body: bytes, content_type: str) -> Answer | None:
        """Keep the route's answer before it is sent; None: send it. When a concurrent request with this key
        committed first (this one rolled back), that request's answer instead."""
        now = self.clock.now()
        if keyed.taken:
            return self._earlier(keyed) or _in_progress()
        if status >= 500 or status in NOT_KEPT:
            return None  # nothing kept: with no effect a retry may try again; with one it hears it was lost
        kept, redacted = redact_secrets(body)
        with self.db.single_statement() as conn:
            if keyed.recorded:
                conn.execute(_SETTLE, {"b_scope": keyed.scope, "b_key": keyed.key, "b_status": status,
                                       "b_body": kept, "b_type": content_type,
                                       "b_redacted": ",".join(redacted) or None})
                return None
            statement = conflict_insert(idempotency_keys, [*_ANSWER_COLUMNS, "redacted"], conflict="DO NOTHING",
                                        returning="key")
            if conn.execute(statement, {
                    "scope": keyed.scope, "key": keyed.key, "request_hash": keyed.request_hash,
                    "status_code": status, "content_type": content_type, "body": kept, "created_at": now,
                    "redacted": ",".join(redacted) or None}).first() is not None:
                return None
            row = conn.execute(_CLAIMED, {"b_scope": keyed.scope, "b_key": keyed.key}).first()
        return None if row is None else _answer_from(row, keyed.request_hash, now)

    @staticmethod
    async def _send(send: Send, answer: Answer) -> None:
        headers = [(b"content-type", answer.content_type.encode()),
                   (b"content-length", str(len(answer.body)).encode()),
                   *((k.encode(), v.encode()) for k, v in answer.headers.items())]
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})
