"""Webhook batches: a subscription may take up to `batch_size` events in one signed POST.

Revision ID: 0007_webhook_batches
Revises: 0002_webhooks
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_webhook_batches"
down_revision = "0002_webhooks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_subscriptions") as batch:
        batch.add_column(sa.Column("batch_size", sa.Integer(), nullable=False, server_default="1"))
        batch.create_check_constraint(op.f("ck_webhook_subscriptions_batch_size_range"), "batch_size BETWEEN 1 AND 1000")


def downgrade() -> None:
    with op.batch_alter_table("webhook_subscriptions") as batch:
        batch.drop_constraint(op.f("ck_webhook_subscriptions_batch_size_range"), type_="check")
        batch.drop_column("batch_size")
