"""A channel's accounts at payment providers: public settings and sealed secrets (core.secretbox, keyed by
OMNIHUB_SECRET_KEY) — created or replaced by an admin, never shown or logged, unsealed only in memory when a
provider is called or a notification checked.

Unsealing (HKDF + Fernet) cost more than the rest of a notification's check, for every account at the provider:
unsealed accounts are kept in memory (`AccountCache`), keyed on the sealed value read from the database by the
same request. Every configuration seals anew, so a replaced account is unsealed again at its next use, in every
process, with no message between them; an entry is also dropped after `ACCOUNT_TTL` seconds."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.billing import errors
from omnihub.billing.models import payment_providers
from omnihub.billing.providers import Account, Provider, provider_for, provider_names
from omnihub.core.clock import Clock
from omnihub.core.events import emit
from omnihub.core.jsonable import jsonable
from omnihub.core.outbound import OutboundGuard, OutboundRefused
from omnihub.core.secretbox import seal, unseal

_PURPOSE = "payment-provider"
ACCOUNT_TTL = 300.0  # seconds an unsealed account is reused while its sealed value is unchanged


@dataclass(frozen=True)
class _Entry:
    sealed: str
    account: Account
    until: float


class AccountCache:
    """Unsealed accounts per (key, provider, channel), valid while the row read now holds the same sealed value
    (a `PUT` seals anew: its secrets apply at the next use) and for at most `ttl` seconds. Thread-safe; holds
    only what the database holds, decrypted — never logged (Account hides its secrets from repr)."""

    def __init__(self, ttl: float = ACCOUNT_TTL) -> None:
        self.ttl = ttl
        self._items: dict[tuple[str, str, str], _Entry] = {}
        self._lock = threading.Lock()

    def account(self, secret_key: str, row: Any) -> Account:
        """`row`: channel_code, provider, config, sealed (a payment_providers row read just now)."""
        key = (secret_key, row.provider, row.channel_code)
        now = time.monotonic()
        with self._lock:
            hit = self._items.get(key)
        if hit is not None and hit.sealed == row.sealed and hit.until > now:
            return hit.account
        account = Account(channel=row.channel_code, provider=row.provider,
                          config=MappingProxyType(dict(row.config)),
                          secrets=MappingProxyType(json.loads(unseal(secret_key, _PURPOSE, row.sealed))))
        with self._lock:
            self._items[key] = _Entry(row.sealed, account, now + self.ttl)
        return account

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


ACCOUNTS = AccountCache()


def provider_named(name: str) -> Provider:
    """The registered provider, or 404 `payment_provider_unknown`."""
    provider = provider_for(name)
    if provider is None:
        raise errors.provider_unknown(name, provider_names())
    return provider


def configure_provider(conn: Connection, clock: Clock, secret_key: str, channel: str, name: str,
                       data: dict[str, Any], guard: OutboundGuard) -> tuple[dict[str, Any], bool]:
    """Create or replace a channel's account at a provider. Secrets are sealed at rest (OMNIHUB_SECRET_KEY) and
    never returned; `api_base` must be an address the hub may reach. Returns (account as shown, created)."""
    provider = provider_named(name)
    known = set(provider.secret_fields) | set(provider.public_fields)
    for key, value in data.items():
        if key not in known and value is not None:
            raise errors.provider_field_unknown(name, key)
    for key in provider.required_fields:
        if not data.get(key):
            raise errors.provider_field_missing(name, key)
    if data.get("api_base"):
        try:
            guard.check_url(str(data["api_base"]))
        except OutboundRefused as exc:
            raise errors.provider_url_refused(str(exc)) from None
    config = {k: data[k] for k in provider.public_fields if data.get(k) is not None}
    secrets = {k: str(data[k]) for k in provider.secret_fields if data.get(k)}
    sealed = seal(secret_key, _PURPOSE, json.dumps(secrets))
    now = clock.now()
    key = (payment_providers.c.channel_code == channel) & (payment_providers.c.provider == name)
    created = conn.execute(sa.select(payment_providers.c.provider).where(key)).first() is None
    if created:
        conn.execute(payment_providers.insert(), dict(channel_code=channel, provider=name, config=config,
                                                      sealed=sealed, created_at=now, updated_at=now))
    else:
        conn.execute(payment_providers.update().where(key).values(config=config, sealed=sealed, updated_at=now))
    shown = provider_account_out(conn, channel, name)
    emit(conn, clock, "payment_provider.configured", {"channel": channel, "provider": name,
                                                      "config": jsonable(config)})
    return shown, created


def provider_account_out(conn: Connection, channel: str, name: str) -> dict[str, Any]:
    """An account as the API shows it: public settings, and which secrets are set (never their values)."""
    provider = provider_named(name)
    row = conn.execute(sa.select(payment_providers).where(payment_providers.c.channel_code == channel,
                                                          payment_providers.c.provider == name)).first()
    if row is None:
        raise errors.provider_not_configured(name, channel)
    return {"channel": channel, "provider": name, "config": dict(row.config),
            "secrets_set": list(provider.secret_fields), "updated_at": row.updated_at}


def _account(secret_key: str, row: Any) -> Account:
    return ACCOUNTS.account(secret_key, row)


def account_config(conn: Connection, channel: str, name: str) -> dict[str, Any] | None:
    """A channel's public settings at a provider (no secrets), or None when it has no account there."""
    row = conn.execute(sa.select(payment_providers.c.config).where(payment_providers.c.channel_code == channel,
                                                                   payment_providers.c.provider == name)).first()
    return None if row is None else dict(row.config)


def account_for(conn: Connection, secret_key: str, channel: str, name: str) -> Account:
    row = conn.execute(sa.select(payment_providers).where(payment_providers.c.channel_code == channel,
                                                          payment_providers.c.provider == name)).first()
    if row is None:
        raise errors.provider_not_configured(name, channel)
    return _account(secret_key, row)


def accounts_of(conn: Connection, secret_key: str, name: str) -> list[Account]:
    """Every channel's account at a provider (a notification is checked against each one's secret)."""
    rows = conn.execute(sa.select(payment_providers).where(payment_providers.c.provider == name)
                        .order_by(payment_providers.c.channel_code))
    return [_account(secret_key, r) for r in rows]
