"""Authorization hardening (issue 14): authentication failures per client address (shared by every server
process), the pickup-code attempt counter and lock of an order, and the redacted text of a message (what
roles that may not hand goods over see instead of the pickup code).

Revision ID: 0013_authz
Revises: 0012_reference_version
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_authz"
down_revision = "0012_reference_version"
branch_labels = None
depends_on = ("0010_shipping_tax",)  # orders and outbound_messages (0004, via 0010) must exist


def upgrade() -> None:
    op.create_table(
        "auth_failures",
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("window_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("client", name=op.f("pk_auth_failures")),
    )
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("pickup_attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("pickup_locked_until", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("outbound_messages") as batch:
        batch.add_column(sa.Column("redacted_body", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbound_messages") as batch:
        batch.drop_column("redacted_body")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("pickup_locked_until")
        batch.drop_column("pickup_attempts")
    op.drop_table("auth_failures")
