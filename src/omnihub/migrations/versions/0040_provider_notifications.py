"""Payment notifications in two steps: the webhook stores the verified notification (one row per provider event
id) and answers; the worker applies the stored ones in batches.

Revision ID: 0040_provider_notifications
Revises: 0037_invoices_due
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0040_provider_notifications"
down_revision = "0037_invoices_due"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "provider_notifications",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("notice", JSON, nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("result", JSON, nullable=True),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("processed_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_notifications")),
        sa.UniqueConstraint("provider", "event_id", name="uq_provider_notifications_event"),
    )
    op.create_index("ix_provider_notifications_due", "provider_notifications", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_provider_notifications_due", table_name="provider_notifications")
    op.drop_table("provider_notifications")
