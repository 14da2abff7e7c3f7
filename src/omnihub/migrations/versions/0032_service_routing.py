"""Service desk: the next-response target and the paused SLA clock (pending), and routing rules to teams.

Revision ID: 0032_service_routing
Revises: 0019_service_desk
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0032_service_routing"
down_revision = "0019_service_desk"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
NEW_COLUMNS = (
    ("next_response_started_at", TS), ("next_response_due_at", TS), ("next_response_breached_at", TS),
    ("paused_at", TS), ("paused_seconds", sa.Integer()), ("resolution_paused_base", sa.Integer()),
    ("next_response_paused_base", sa.Integer()),
)


def upgrade() -> None:
    for name, type_ in NEW_COLUMNS:
        op.add_column("conversations", sa.Column(name, type_, nullable=True))
    op.add_column("sla_policies", sa.Column("next_response_minutes", sa.Integer(), nullable=True))
    op.create_table(
        "service_routing_rules",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.String(length=40), nullable=True),
        sa.Column("tag", sa.String(length=64), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("team", sa.String(length=64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_routing_rules")),
    )
    op.create_index("ix_service_routing_rules_position", "service_routing_rules", ["position", "id"])


def downgrade() -> None:
    op.drop_index("ix_service_routing_rules_position", table_name="service_routing_rules")
    op.drop_table("service_routing_rules")
    op.drop_column("sla_policies", "next_response_minutes")
    for name, _ in reversed(NEW_COLUMNS):
        op.drop_column("conversations", name)
