"""Console use cases: people, passwords, sessions, throttled logins. The only code that writes the console's
tables."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.engine import Connection

from omnihub.console import errors, queries, rules
from omnihub.console.models import console_login_failures, console_sessions, console_users
from omnihub.core.clock import Clock, as_utc
from omnihub.core.db import new_id
from omnihub.inventory import queries as inventory

_hasher = PasswordHasher()
# Verified against when the e-mail is unknown, so an unknown e-mail costs the same time as a wrong password.
_DUMMY_HASH = _hasher.hash("omnihub-no-such-user")


def token_hash(secret_key: str, token: str) -> str:
    return hmac.new(secret_key.encode(), f"session:{token}".encode(), hashlib.sha256).hexdigest()


def create_user(conn: Connection, clock: Clock, *, email: str, role: str, location: str | None = None,
                password: str | None = None, locale: str | None = None) -> tuple[dict[str, Any], str]:
    """A person who logs in to the console. Returns the user and the password (generated unless given)."""
    email = rules.normalise_email(email)
    if (problem := rules.email_problem(email)) is not None:
        raise errors.invalid("invalid_email", problem, "email")
    if role not in rules.ROLES:
        raise errors.invalid("invalid_role", f"Unknown role '{role}'. Use one of: {', '.join(rules.ROLES)}.", "role")
    if role == "associate":
        if not location:
            raise errors.invalid("location_required", "An associate is bound to a location.", "location")
        inventory.get_location(conn, location, field="location")
    elif location:
        raise errors.invalid("location_not_allowed", "Only associates are bound to a location.", "location")
    if locale is not None and locale not in rules.LOCALES:
        raise errors.invalid("invalid_locale", f"Use one of: {', '.join(rules.LOCALES)}.", "locale")
    password = password or rules.generate_password()
    if (problem := rules.password_problem(password)) is not None:
        raise errors.invalid("weak_password", problem, "password")
    if queries.user_by_email(conn, email) is not None:
        raise errors.user_exists(email)
    now = clock.now()
    user_id = new_id("usr")
    conn.execute(console_users.insert().values(
        id=user_id, email=email, password_hash=_hasher.hash(password), role=role,
        location=location if role == "associate" else None, locale=locale, created_at=now,
        password_changed_at=now))
    return queries.get_user(conn, user_id), password


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class LoginOutcome:
    user: dict[str, Any] | None  # None: refused
    throttled_until: datetime | None = None


def check_login(conn: Connection, clock: Clock, throttle: rules.Throttle, *, email: str, password: str,
                address: str) -> LoginOutcome:
    """Verify an e-mail and password unless throttled; a failure is recorded (per e-mail and per address) in
    this transaction, which the caller commits whatever the outcome."""
    email = rules.normalise_email(email)[:254]
    now = clock.now()
    since = now - throttle.window
    f = console_login_failures.c

    def recent(scope: str, key: str) -> list[datetime]:
        rows = conn.execute(sa.select(f.at).where(f.scope == scope, f.key == key, f.at > since).order_by(f.at))
        return [as_utc(r.at) for r in rows]

    until = rules.throttled_until(throttle, email_failures=recent("email", email),
                                  address_failures=recent("address", address))
    if until is not None:
        return LoginOutcome(None, until)
    row = queries.user_by_email(conn, email)
    good = _verify(row.password_hash if row is not None else _DUMMY_HASH, password)
    if row is None or not good or row.disabled_at is not None:
        conn.execute(console_login_failures.insert(), [
            {"scope": "email", "key": email, "at": now}, {"scope": "address", "key": address[:254], "at": now}])
        return LoginOutcome(None)
    # A good login clears the e-mail's failures (the address keeps its count: one address, many e-mails).
    conn.execute(console_login_failures.delete().where(f.scope == "email", f.key == email))
    if _hasher.check_needs_rehash(row.password_hash):
        conn.execute(console_users.update().where(console_users.c.id == row.id)
                     .values(password_hash=_hasher.hash(password)))
    return LoginOutcome(queries.get_user(conn, row.id))


def start_session(conn: Connection, clock: Clock, policy: rules.SessionPolicy, secret_key: str, *, user_id: str,
                  address: str | None) -> tuple[str, str]:
    """A new session row; returns (token for the cookie, CSRF token for the forms)."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    now = clock.now()
    conn.execute(console_sessions.insert().values(
        id=new_id("ses"), token_hash=token_hash(secret_key, token), user_id=user_id, csrf_token=csrf,
        created_at=now, last_seen_at=now, expires_at=now + policy.lifetime, address=(address or "")[:64]))
    return token, csrf


def touch_session(conn: Connection, clock: Clock, session_id: str) -> None:
    conn.execute(console_sessions.update().where(console_sessions.c.id == session_id,
                                                 console_sessions.c.ended_at.is_(None))
                 .values(last_seen_at=clock.now()))


def end_session(conn: Connection, clock: Clock, session_id: str) -> None:
    conn.execute(console_sessions.update().where(console_sessions.c.id == session_id,
                                                 console_sessions.c.ended_at.is_(None))
                 .values(ended_at=clock.now()))


def change_password(conn: Connection, clock: Clock, user_id: str, *, current: str, new: str, confirm: str,
                    keep_session: str) -> None:
    """Needs the current password; ends every other session of the person."""
    row = conn.execute(sa.select(console_users).where(console_users.c.id == user_id)).first()
    if row is None:
        raise errors.user_not_found(user_id)
    if not _verify(row.password_hash, current):
        raise errors.invalid("wrong_password", "The current password is wrong.", "current_password")
    if (problem := rules.password_problem(new)) is not None:
        raise errors.invalid("weak_password", problem, "new_password")
    if new != confirm:
        raise errors.invalid("passwords_differ", "The two new passwords differ.", "confirm_password")
    now = clock.now()
    conn.execute(console_users.update().where(console_users.c.id == user_id)
                 .values(password_hash=_hasher.hash(new), password_changed_at=now))
    s = console_sessions.c
    conn.execute(console_sessions.update().where(s.user_id == user_id, s.id != keep_session, s.ended_at.is_(None))
                 .values(ended_at=now))


def set_locale(conn: Connection, user_id: str, locale: str | None) -> None:
    if locale is not None and locale not in rules.LOCALES:
        raise errors.invalid("invalid_locale", f"Use one of: {', '.join(rules.LOCALES)}.", "locale")
    conn.execute(console_users.update().where(console_users.c.id == user_id).values(locale=locale))


def purge(conn: Connection, clock: Clock, policy: rules.SessionPolicy, throttle_window: timedelta, *,
          keep: timedelta = timedelta(days=1)) -> int:
    """Forget sessions that ended (logged out, expired or idle) more than `keep` ago, and failed logins that no
    longer count for throttling. Returns how many rows went."""
    now = clock.now()
    s = console_sessions.c
    ended = sa.or_(s.ended_at < now - keep, s.expires_at < now - keep, s.last_seen_at < now - keep - policy.idle)
    gone = conn.execute(console_sessions.delete().where(ended)).rowcount
    f = console_login_failures.c
    gone += conn.execute(console_login_failures.delete().where(f.at < now - throttle_window)).rowcount
    return int(gone)
