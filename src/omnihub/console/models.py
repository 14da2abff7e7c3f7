"""The console's tables: the people who log in, their server-side sessions, and failed logins (for throttling)."""

from __future__ import annotations

import sqlalchemy as sa

from omnihub.core.db import BigId, Timestamp, metadata

console_users = sa.Table(
    "console_users",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("email", sa.String(254), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(200), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("location", sa.String(64), nullable=True),
    sa.Column("locale", sa.String(8), nullable=True),  # None: from the browser's Accept-Language
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("password_changed_at", Timestamp, nullable=False),
    sa.Column("disabled_at", Timestamp, nullable=True),
    sa.CheckConstraint("role IN ('admin', 'associate', 'agent', 'marketer')", name="role_known"),
    sa.CheckConstraint("role <> 'associate' OR location IS NOT NULL", name="associate_has_location"),
)

# A session is a row, so logout and expiry are real: the cookie carries a random token, the row its hash.
console_sessions = sa.Table(
    "console_sessions",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("user_id", sa.String(40), sa.ForeignKey("console_users.id"), nullable=False, index=True),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("last_seen_at", Timestamp, nullable=False),
    sa.Column("expires_at", Timestamp, nullable=False),  # absolute end; idle end is last_seen_at + idle
    sa.Column("ended_at", Timestamp, nullable=True),
    sa.Column("address", sa.String(64), nullable=True),
)

# One row per failed login, keyed by the e-mail tried and by the client address: throttling counts them in a
# window, so it holds across server processes.
console_login_failures = sa.Table(
    "console_login_failures",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("scope", sa.String(8), nullable=False),  # 'email' | 'address'
    sa.Column("key", sa.String(254), nullable=False),
    sa.Column("at", Timestamp, nullable=False),
    sa.Index("ix_console_login_failures_scope_key_at", "scope", "key", "at"),
)
