"""Meta webhooks in two steps, so a burst of messages never waits on threading.

1. The request (`accept_meta`): the signature is checked over the raw body with the app secret of every account
   the payload names (a bad or missing one is 401 and nothing is stored), then the raw body is stored as it came,
   in one insert, and Meta gets its 200. No customer resolution, no conversation work.
2. The worker (`drain`, job `service.ingest_meta`): pending payloads are claimed in batches (`FOR UPDATE SKIP
   LOCKED` on PostgreSQL: several workers never take the same one), parsed with the same rules as before
   (`rules.parse_meta`, `channels.meta_inbound`, `channels.apply_status`) and threaded by `service.receive_many`
   — the rules of `service.receive`, with each batch's reads done once. A payload that cannot be processed stays
   with its error and is tried again later (a bounded number of times); after that it is kept as `failed`,
   never lost."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.config import Settings
from omnihub.core.clock import Clock
from omnihub.core.db import Database, new_id
from omnihub.customers.writes import RetryResolution
from omnihub.service import channels, errors, rules, service
from omnihub.service.models import inbound_payloads, meta_connectors

P = inbound_payloads.c
MC = meta_connectors.c
BATCH = 100  # payloads per drain transaction (Meta may put many messages in one)
CHUNK = 200  # messages per savepoint: a batch of big payloads is threaded in parts
MAX_ATTEMPTS = 5  # then the payload is kept as `failed` with its error
RETRY_SECONDS = 5.0  # times the attempt number
KEEP_DONE = timedelta(days=7)  # processed payloads are deleted after this (the messages are the record)
PURGE_BATCH = 1000
SECRET_TTL = 60.0  # seconds an unsealed app secret is reused for the same connection version


# ---- step 1: the request --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Secret:
    sealed: str
    app_secret: str
    until: float


class SecretCache:
    """Unsealed app secrets per account, keyed on the sealed value the connection holds now (each configuration
    seals anew, so a reconfigured connection's new secret applies on the next request); an entry is dropped
    after `ttl` seconds."""

    def __init__(self, ttl: float = SECRET_TTL) -> None:
        self.ttl = ttl
        self._items: dict[str, _Secret] = {}
        self._lock = threading.Lock()

    def app_secret(self, secret_key: str, account: str, sealed: str) -> str:
        now = time.monotonic()
        with self._lock:
            hit = self._items.get(account)
        if hit is not None and hit.sealed == sealed and hit.until > now:
            return hit.app_secret
        secret = channels.unseal_app_secret(secret_key, sealed)
        with self._lock:
            self._items[account] = _Secret(sealed, secret, now + self.ttl)
        return secret


SECRETS = SecretCache()


def accept_meta(db: Database, clock: Clock, secret_key: str, body: bytes, signature: str | None,
                *, cache: SecretCache = SECRETS) -> str:
    """Check the signature and keep the raw payload for the worker; returns the stored payload's id. Every
    account the payload names must be one of ours and every one's app secret must have signed it (401, nothing
    stored, otherwise)."""
    if not signature:
        raise errors.bad_signature()
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise errors.bad_signature() from None
    accounts = rules.meta_accounts(payload)
    if not accounts:
        raise errors.bad_signature()
    payload_id = new_id("inp")
    with db.single_statement() as conn:  # PostgreSQL: two statements, no BEGIN/COMMIT round trips
        rows = conn.execute(sa.select(MC.account_id, MC.app_secret)
                            .where(MC.account_id.in_(sorted(accounts)))).all()
        if len(rows) != len(accounts):
            raise errors.bad_signature()
        for row in rows:
            secret = cache.app_secret(secret_key, row.account_id, row.app_secret)
            if not channels.signed_by(secret, body, signature):
                raise errors.bad_signature()
        now = clock.now()
        conn.execute(inbound_payloads.insert(), dict(
            id=payload_id, source="meta", body=body, status="pending", attempts=0, next_attempt_at=now,
            received_at=now))
    return payload_id


# ---- step 2: the worker ---------------------------------------------------------------------------------------


@dataclass
class _Parsed:
    row: Any
    messages: list[service.Inbound]
    statuses: list[rules.MetaStatus]


def _parse(conn: Connection, clock: Clock, rows: list[Any]) -> tuple[list[_Parsed], dict[str, str]]:
    """Each stored body as messages in the hub's shape and statuses; the ones that cannot be read, with why."""
    bodies: dict[str, Any] = {}
    failed: dict[str, str] = {}
    for row in rows:
        try:
            bodies[row.id] = json.loads(bytes(row.body))
        except (ValueError, UnicodeDecodeError) as exc:
            failed[row.id] = f"unreadable body: {type(exc).__name__}"
    accounts = sorted({a for payload in bodies.values() for a in rules.meta_accounts(payload)})
    connections = {r.account_id: {"channel": r.channel, "kind": r.kind} for r in conn.execute(
        sa.select(MC.account_id, MC.channel, MC.kind).where(MC.account_id.in_(accounts)))} if accounts else {}
    parsed = []
    now = clock.now()
    for row in rows:
        if row.id not in bodies:
            continue
        _, messages, statuses = rules.parse_meta(bodies[row.id], now)
        missing = sorted({m.account_id for m in messages} - set(connections))
        if missing:
            failed[row.id] = f"no Meta connection for account {missing[0]}"
            continue
        parsed.append(_Parsed(row, [channels.meta_inbound(m, connections[m.account_id]) for m in messages],
                              list(statuses)))
    return parsed, failed


def _process(conn: Connection, clock: Clock, settings: Settings, batch: list[_Parsed]) -> list[dict[str, int]]:
    """Thread a batch's messages (one `receive_many`) and apply its statuses; the counts per payload."""
    inbounds = [m for p in batch for m in p.messages]
    outcomes = service.receive_many(conn, clock, inbounds, reopen_window=timedelta(
        hours=settings.service_reopen_hours), actor="meta", high_value_from=settings.service_high_value_from)
    results = []
    at = 0
    for p in batch:
        counts = {"received": 0, "duplicates": 0, "statuses": 0, "ignored": 0}
        for outcome in outcomes[at:at + len(p.messages)]:
            counts[outcome] += 1
        at += len(p.messages)
        for status in p.statuses:
            counts["statuses"] += int(channels.apply_status(conn, clock, status))
        results.append(counts)
    return results


def _done(conn: Connection, clock: Clock, done: list[tuple[str, dict[str, int]]]) -> None:
    """Payloads threaded, in one executemany."""
    if done:
        conn.execute(inbound_payloads.update().where(P.id == sa.bindparam("b_id")).values(
            status="done", result=sa.bindparam("b_result"), processed_at=clock.now(), error=None),
            [{"b_id": payload_id, "b_result": result} for payload_id, result in done])


def _failed(conn: Connection, clock: Clock, row: Any, error: str) -> None:
    """Kept with its error: tried again after a pause, until MAX_ATTEMPTS; then `failed`, for people to look at."""
    attempts = row.attempts + 1
    now = clock.now()
    gave_up = attempts >= MAX_ATTEMPTS
    conn.execute(inbound_payloads.update().where(P.id == row.id).values(
        attempts=attempts, error=error[:500], status="failed" if gave_up else "pending",
        processed_at=now if gave_up else None,
        next_attempt_at=now + timedelta(seconds=RETRY_SECONDS * attempts)))


def _why(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:500]


def drain(conn: Connection, clock: Clock, settings: Settings, *, limit: int = BATCH) -> int:
    """Worker job: thread the payloads waiting (a batch). Each chunk of up to CHUNK messages is one savepoint; if
    anything in it fails, each of its payloads is done alone in its own, so one bad payload keeps its error and
    the others go through.
    Returns how many payloads it took (a full batch: the worker calls again at once)."""
    now = clock.now()
    rows = conn.execute(sa.select(P.id, P.body, P.attempts).where(P.status == "pending", P.next_attempt_at <= now)
                        .order_by(P.next_attempt_at, P.id).limit(limit).with_for_update(skip_locked=True)).all()
    if not rows:
        return 0
    parsed, unreadable = _parse(conn, clock, list(rows))
    for row in rows:
        if row.id in unreadable:
            _failed(conn, clock, row, unreadable[row.id])
    for chunk in _chunks(parsed):
        try:
            with conn.begin_nested():
                results = _process(conn, clock, settings, chunk)
        except Exception:  # one of them (or a race with another writer): each alone, so only the bad one waits
            for p in chunk:
                _one(conn, clock, settings, p)
        else:
            _done(conn, clock, [(p.row.id, result) for p, result in zip(chunk, results, strict=True)])
    return len(rows)


def _chunks(parsed: list[_Parsed]) -> list[list[_Parsed]]:
    """Payloads in order, grouped up to CHUNK messages (a bigger payload is a chunk of its own)."""
    chunks: list[list[_Parsed]] = [[]]
    size = 0
    for p in parsed:
        if chunks[-1] and size + len(p.messages) > CHUNK:
            chunks.append([])
            size = 0
        chunks[-1].append(p)
        size += len(p.messages)
    return [c for c in chunks if c]


def _one(conn: Connection, clock: Clock, settings: Settings, p: _Parsed) -> None:
    for attempt in range(2):  # a race lost to another writer (same identity or message): the second run sees it
        try:
            with conn.begin_nested():
                [result] = _process(conn, clock, settings, [p])
        except Exception as exc:
            if attempt == 0 and isinstance(exc, (sa.exc.IntegrityError, sa.exc.OperationalError,
                                                 RetryResolution)):
                continue
            _failed(conn, clock, p.row, _why(exc))
            return
        _done(conn, clock, [(p.row.id, result)])
        return


def purge(conn: Connection, clock: Clock, _settings: Settings) -> int:
    """Worker job (every few minutes): processed payloads are deleted a week after they came, a batch at a time;
    failed ones stay for people to look at. (A done payload's `next_attempt_at` is when it was last tried.)"""
    old = sa.select(P.id).where(P.status == "done", P.next_attempt_at < clock.now() - KEEP_DONE).limit(PURGE_BATCH)
    return int(conn.execute(inbound_payloads.delete().where(P.id.in_(old.scalar_subquery()))).rowcount or 0)


def pending_count(conn: Connection) -> int:
    """Payloads not threaded yet (benchmarks, health)."""
    return int(conn.execute(sa.select(sa.func.count()).select_from(inbound_payloads)
                            .where(P.status == "pending")).scalar() or 0)
