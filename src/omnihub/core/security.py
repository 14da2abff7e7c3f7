"""API keys (stored hashed), roles and scopes, and HMAC signatures."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.core.clock import Clock
from omnihub.core.db import Timestamp, metadata, new_id
from omnihub.core.errors import Forbidden, Unauthorized, ValidationFailed
from omnihub.core.throttle import AuthThrottle


class Role(StrEnum):
    ADMIN = "admin"
    CHANNEL = "channel"  # bound to one channel: acts for it only
    ASSOCIATE = "associate"  # bound to one location: moves its stock only
    AGENT = "agent"
    MARKETER = "marketer"


api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("channel", sa.String(64), nullable=True),
    sa.Column("location", sa.String(64), nullable=True),
    sa.Column("name", sa.String(200), nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("revoked_at", Timestamp, nullable=True),
)


@dataclass(frozen=True)
class Principal:
    """Who is calling, and what they are bound to."""

    key_id: str
    role: Role
    channel: str | None = None
    location: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def require(self, *roles: Role) -> None:
        if self.role is not Role.ADMIN and self.role not in roles:
            allowed = ", ".join(r.value for r in (Role.ADMIN, *roles))
            raise Forbidden("role_not_allowed", f"This needs one of the roles: {allowed}.", role=self.role.value)

    def ensure_channel(self, channel: str, *, field: str = "channel") -> None:
        """A channel key acts for its own channel only."""
        if self.role is Role.CHANNEL and self.channel != channel:
            raise Forbidden(
                "channel_not_allowed",
                f"This key acts for channel '{self.channel}', not '{channel}'.",
                field=field,
                channel=channel,
            )

    def ensure_location(self, location: str, *, field: str = "location") -> None:
        """An associate key moves its own location's stock only."""
        if self.role is Role.ASSOCIATE and self.location != location:
            raise Forbidden(
                "location_not_allowed",
                f"This key belongs to location '{self.location}', not '{location}'.",
                field=field,
                location=location,
            )


def hash_key(secret_key: str, raw_key: str) -> str:
    return hmac.new(secret_key.encode(), raw_key.encode(), hashlib.sha256).hexdigest()


def create_api_key(
    conn: Connection,
    clock: Clock,
    secret_key: str,
    *,
    role: Role | str,
    channel: str | None = None,
    location: str | None = None,
    name: str | None = None,
) -> tuple[str, str]:
    """Create a key and return (id, raw key). The raw key is shown once; only its hash is stored."""
    try:
        role = Role(role)
    except ValueError:
        raise ValidationFailed(
            "invalid_role", f"Unknown role '{role}'. Use one of: {', '.join(Role)}.", field="role"
        ) from None
    if role is Role.CHANNEL and not channel:
        raise ValidationFailed("channel_required", "A channel key must be bound to a channel.", field="channel")
    if role is Role.ASSOCIATE and not location:
        raise ValidationFailed(
            "location_required", "An associate key must be bound to a location.", field="location"
        )
    raw = f"ohk_{secrets.token_urlsafe(32)}"
    key_id = new_id("key")
    conn.execute(
        api_keys.insert(), dict(
            id=key_id,
            key_hash=hash_key(secret_key, raw),
            prefix=raw[:10],
            role=role.value,
            channel=channel if role is Role.CHANNEL else None,
            location=location if role is Role.ASSOCIATE else None,
            name=name,
            created_at=clock.now(),
        )
    )
    return key_id, raw


def revoke_api_key(conn: Connection, clock: Clock, key_id: str) -> bool:
    result = conn.execute(
        api_keys.update()
        .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=clock.now())
    )
    return result.rowcount == 1


class KeyAuthenticator:
    """Resolves bearer keys, remembering good ones briefly so the hot path costs no query."""

    def __init__(self, secret_key: str, cache_seconds: float = 10.0, throttle: AuthThrottle | None = None) -> None:
        self._secret = secret_key
        self._ttl = cache_seconds
        self._throttle = throttle
        self._cache: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def cached(self, raw_key: str | None) -> Principal | None:
        """The principal for a key seen recently, without touching the database (None: ask `authenticate`)."""
        if not raw_key:
            return None
        digest = hash_key(self._secret, raw_key)
        with self._lock:
            hit = self._cache.get(digest)
        return hit[1] if hit and hit[0] > time.monotonic() else None

    def authenticate(self, conn_factory, raw_key: str | None,  # type: ignore[no-untyped-def]
                     client: str | None = None) -> Principal:
        """`client`: the caller's address, for the brute-force throttle (core.throttle): a blocked address is
        refused before its key is looked at, and an unknown key counts against its address."""
        if not raw_key:
            raise Unauthorized("missing_api_key", "Send 'Authorization: Bearer <key>'.", field="Authorization")
        hit = self.cached(raw_key)
        if hit is not None:
            return hit
        digest = hash_key(self._secret, raw_key)
        with conn_factory() as conn:
            if self._throttle is not None:
                self._throttle.check(conn, client)
            row = conn.execute(
                sa.select(api_keys).where(api_keys.c.key_hash == digest, api_keys.c.revoked_at.is_(None))
            ).first()
        if row is None:
            if self._throttle is not None:
                self._throttle.failed(client)
            raise Unauthorized("invalid_api_key", "The API key is unknown or revoked.", field="Authorization")
        principal = Principal(key_id=row.id, role=Role(row.role), channel=row.channel, location=row.location)
        with self._lock:
            self._cache[digest] = (time.monotonic() + self._ttl, principal)
        return principal


def _mac(secret: str, body: bytes, timestamp: int) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int | None = None, *, previous: str | None = None) -> str:
    """HMAC-SHA256 over `timestamp.body` (replay-resistant), formatted `t=...,v1=...`. While a rotated-out
    secret is still in its grace period a second `v1=` is signed with it, so receivers can switch at leisure."""
    ts = int(time.time()) if timestamp is None else timestamp
    header = f"t={ts},v1={_mac(secret, body, ts)}"
    return header + (f",v1={_mac(previous, body, ts)}" if previous else "")


def verify_signature(secret: str, body: bytes, header: str, *, tolerance_seconds: int | None = 300) -> bool:
    """True when any `v1=` in the header is this secret's signature of the body at the header's time."""
    timestamp: int | None = None
    candidates: list[str] = []
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        if name == "t":
            try:
                timestamp = int(value)
            except ValueError:
                return False
        elif name == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    if tolerance_seconds is not None and abs(time.time() - timestamp) > tolerance_seconds:
        return False
    expected = _mac(secret, body, timestamp)
    # As bytes: compare_digest raises on str with non-ASCII characters, and a header may carry anything
    return any(hmac.compare_digest(expected.encode(), candidate.encode()) for candidate in candidates)
