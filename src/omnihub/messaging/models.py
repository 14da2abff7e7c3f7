"""The messaging room's table: every outbound message, whoever asked for it."""

from __future__ import annotations

import sqlalchemy as sa

from omnihub.core.db import Timestamp, metadata

outbound_messages = sa.Table(
    "outbound_messages",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("customer_id", sa.String(40), nullable=True, index=True),
    sa.Column("kind", sa.String(16), nullable=False),  # email, sms, whatsapp
    sa.Column("to", sa.String(320), nullable=False),
    sa.Column("subject", sa.String(300), nullable=True),
    sa.Column("body", sa.Text, nullable=False),
    # The body with its secrets (a pickup code) masked: what roles that may not use them are shown.
    sa.Column("redacted_body", sa.Text, nullable=True),
    sa.Column("template", sa.String(64), nullable=True),
    sa.Column("reference", sa.String(64), nullable=True),
    sa.Column("provider", sa.String(32), nullable=False),  # log, smtp
    sa.Column("status", sa.String(16), nullable=False),  # queued, sent, failed
    sa.Column("error", sa.String(500), nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("sent_at", Timestamp, nullable=True),
)
