"""Webhook secret rotation: the previous secret keeps signing until its grace period ends.

Revision ID: 0011_webhook_secret_rotation
Revises: 0009_webhook_streams
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_webhook_secret_rotation"
down_revision = "0009_webhook_streams"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_subscriptions") as batch:
        batch.add_column(sa.Column("previous_secret", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("previous_secret_expires_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("webhook_subscriptions") as batch:
        batch.drop_column("previous_secret_expires_at")
        batch.drop_column("previous_secret")
