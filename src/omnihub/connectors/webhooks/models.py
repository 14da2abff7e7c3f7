"""The webhooks room's tables: subscriptions, and one delivery row per (subscription, event)."""

from __future__ import annotations

import sqlalchemy as sa

from omnihub.core.db import BigId, JsonDoc, Timestamp, metadata

DELIVERY_STATUSES = ("pending", "delivered", "dead")

webhook_subscriptions = sa.Table(
    "webhook_subscriptions",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("url", sa.String(2000), nullable=False),
    sa.Column("events", JsonDoc, nullable=False),  # patterns: "order.created", "stock.*", "*"
    # Kept in clear because we must sign with it; shown to the client once, at creation.
    sa.Column("secret", sa.String(512), nullable=False),  # sealed (core.secretbox)
    # After a rotation the old secret still signs (a second `v1=`) until it expires, so receivers can switch.
    sa.Column("previous_secret", sa.String(512), nullable=True),
    sa.Column("previous_secret_expires_at", Timestamp, nullable=True),
    sa.Column("active", sa.Boolean, nullable=False, default=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("deactivated_at", Timestamp, nullable=True),
    # Events per POST: 1 sends each event on its own (headers name it); more sends `{"events": [...]}`.
    sa.Column("batch_size", sa.Integer, nullable=False, default=1, server_default="1"),
    sa.CheckConstraint("batch_size BETWEEN 1 AND 1000", name="batch_size_range"),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column(
        "subscription_id", sa.String(40), sa.ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("event_id", sa.String(40), nullable=False),
    sa.Column("event_type", sa.String(64), nullable=False),
    # The exact JSON body we sign and send, frozen at fan-out: redeliveries send the same bytes, and the
    # log does not depend on how long the outbox keeps events.
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_status_code", sa.Integer, nullable=True),
    sa.Column("last_error", sa.String(500), nullable=True),
    sa.Column("last_attempt_at", Timestamp, nullable=True),
    sa.Column("next_attempt_at", Timestamp, nullable=True),
    # A worker's claim: while locked_until is in the future the row is in flight; a crashed worker's
    # claims come back by themselves when the lease runs out. The token stops a late worker from
    # overwriting the result of whoever claimed the row after it.
    sa.Column("locked_until", Timestamp, nullable=True),
    sa.Column("claim_token", sa.String(40), nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("delivered_at", Timestamp, nullable=True),
    sa.CheckConstraint(f"status IN {DELIVERY_STATUSES}", name="status_known"),
    sa.CheckConstraint("attempts >= 0", name="attempts_not_negative"),
    sa.UniqueConstraint("subscription_id", "event_id", name="uq_webhook_deliveries_subscription_event"),
    sa.Index(
        "ix_webhook_deliveries_due",
        "next_attempt_at",
        postgresql_where=sa.text("status = 'pending'"),
        sqlite_where=sa.text("status = 'pending'"),
    ),
    sa.Index("ix_webhook_deliveries_log", "subscription_id", "id"),
    sa.Index(  # the retention purge (webhooks.purge_delivered)
        "ix_webhook_deliveries_delivered",
        "delivered_at",
        postgresql_where=sa.text("status = 'delivered'"),
        sqlite_where=sa.text("status = 'delivered'"),
    ),
)

# A batching subscription (batch_size > 1) has no delivery row per event: it keeps a cursor over the outbox's
# dispatch positions and sends what lies after it, one batch at a time, in order. Delivery rows are written
# only for events whose batch died (dead letters, re-sendable like any other delivery).
webhook_streams = sa.Table(
    "webhook_streams",
    metadata,
    sa.Column(
        "subscription_id", sa.String(40), sa.ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("position", BigId, nullable=False),  # every event up to here is delivered (or dead-lettered)
    # Set when the subscription went back to one event per POST: the stream drains up to here, then stops.
    sa.Column("until_position", BigId, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),  # failed tries of the batch at the cursor
    sa.Column("next_attempt_at", Timestamp, nullable=True),  # null: due now
    sa.Column("last_attempt_at", Timestamp, nullable=True),
    sa.Column("last_status_code", sa.Integer, nullable=True),
    sa.Column("last_error", sa.String(500), nullable=True),
    sa.Column("last_delivered_at", Timestamp, nullable=True),
    sa.Column("locked_until", Timestamp, nullable=True),
    sa.Column("claim_token", sa.String(40), nullable=True),
    sa.CheckConstraint("attempts >= 0", name="stream_attempts_not_negative"),
)
