"""The reference token: one row, a new random value whenever channels, locations, tax rates, payment methods
or daily capacity limits change (see omnihub.core.reference). Any later migration that changes those tables'
rows must write a new token too.

Revision ID: 0012_reference_version
Revises: 0008_outbox_positions
Create Date: 2026-11-26
"""

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0012_reference_version"
down_revision = "0008_outbox_positions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "reference_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reference_version")),
    )
    op.bulk_insert(table, [{"id": 1, "token": f"ref_{uuid.uuid4().hex}"}])


def downgrade() -> None:
    op.drop_table("reference_version")
