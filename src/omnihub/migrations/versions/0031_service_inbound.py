"""Service desk: Meta webhooks stored as received and threaded by the worker; indexes for the queues.

Revision ID: 0031_service_inbound
Revises: 0019_service_desk
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0031_service_inbound"
down_revision = "0019_service_desk"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "service_inbound_payloads",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("result", JSON, nullable=True),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("processed_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_inbound_payloads")),
    )
    op.create_index("ix_service_inbound_payloads_due", "service_inbound_payloads", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_service_inbound_payloads_due", table_name="service_inbound_payloads")
    op.drop_table("service_inbound_payloads")
