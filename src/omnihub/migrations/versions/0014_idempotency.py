"""Idempotency keys name what their request did (`effect`, for an answer lost in a crash) and which secret
fields their kept answer had redacted (`redacted`); `created_at` is indexed for the retention purge.

Revision ID: 0014_idempotency
Revises: 0012_reference_version
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0014_idempotency"
down_revision = "0012_reference_version"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.add_column(sa.Column("effect", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
                                   nullable=True))
        batch.add_column(sa.Column("redacted", sa.String(length=200), nullable=True))
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_idempotency_keys_created_at", table_name="idempotency_keys")
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.drop_column("redacted")
        batch.drop_column("effect")
