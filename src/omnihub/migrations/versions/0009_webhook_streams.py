"""Webhook streams: a batching subscription keeps a cursor over outbox positions instead of a row per event.

Revision ID: 0009_webhook_streams
Revises: 0007_webhook_batches
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_webhook_streams"
down_revision = "0007_webhook_batches"
branch_labels = None
depends_on = "0008_outbox_positions"

_BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "webhook_streams",
        sa.Column("subscription_id", sa.String(length=40), nullable=False),
        sa.Column("position", _BIG, nullable=False),
        sa.Column("until_position", _BIG, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("last_delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claim_token", sa.String(length=40), nullable=True),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_webhook_streams_stream_attempts_not_negative")),
        sa.ForeignKeyConstraint(["subscription_id"], ["webhook_subscriptions.id"],
                                name=op.f("fk_webhook_streams_subscription_id_webhook_subscriptions"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("subscription_id", name=op.f("pk_webhook_streams")),
    )
    # Existing batching subscriptions keep their pending delivery rows (still sent as before) and stream
    # every event dispatched from now on (none has a position yet: the head is 0).
    op.execute(
        "INSERT INTO webhook_streams (subscription_id, position, attempts) "
        "SELECT id, 0, 0 FROM webhook_subscriptions WHERE batch_size > 1 AND active"
    )


def downgrade() -> None:
    op.drop_table("webhook_streams")
