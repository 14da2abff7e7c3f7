"""Outbox positions: dispatch order, for consumers that keep a cursor (batching webhooks).

Revision ID: 0008_outbox_positions
Revises: 0001_foundation
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_outbox_positions"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Events dispatched before this revision keep no position: cursors start at the head, after them.
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("position", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True))
    op.create_index("ux_outbox_position", "outbox", ["position"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_outbox_position", table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("position")
