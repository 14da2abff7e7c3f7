"""Service desk: SLA policies and due times, teams and round robin, agents' availability, tags, CSAT surveys.

Revision ID: 0019_service_desk
Revises: 0017_service
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0019_service_desk"
down_revision = "0017_service"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
NEW_COLUMNS = (
    ("team_id", sa.String(length=64)), ("sla_started_at", TS), ("first_response_due_at", TS),
    ("resolution_due_at", TS), ("first_response_breached_at", TS), ("resolution_breached_at", TS),
    ("first_response_seconds", sa.Integer()), ("resolution_seconds", sa.Integer()), ("sla_check_at", TS),
)


def upgrade() -> None:
    for name, type_ in NEW_COLUMNS:
        op.add_column("conversations", sa.Column(name, type_, nullable=True))
    op.create_index("ix_conversations_team_id", "conversations", ["team_id"])
    op.create_index("ix_conversations_sla_check_at", "conversations", ["sla_check_at"])

    op.create_table(
        "sla_policies",
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("first_response_minutes", sa.Integer(), nullable=False),
        sa.Column("resolution_minutes", sa.Integer(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("priority", name=op.f("pk_sla_policies")),
    )
    op.create_table(
        "service_teams",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("rr_counter", sa.BigInteger(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_service_teams")),
    )
    op.create_table(
        "service_team_members",
        sa.Column("team_code", sa.String(length=64), nullable=False),
        sa.Column("agent", sa.String(length=200), nullable=False),
        sa.Column("last_assigned", sa.BigInteger(), nullable=False),
        sa.Column("added_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("team_code", "agent", name=op.f("pk_service_team_members")),
    )
    op.create_table(
        "service_agents",
        sa.Column("agent", sa.String(length=200), nullable=False),
        sa.Column("available", sa.Boolean(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("agent", name=op.f("pk_service_agents")),
    )
    op.create_table(
        "conversation_tags",
        sa.Column("conversation_id", sa.String(length=40), nullable=False),
        sa.Column("tag", sa.String(length=64), nullable=False),
        sa.Column("added_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("conversation_id", "tag", name=op.f("pk_conversation_tags")),
    )
    op.create_index("ix_conversation_tags_tag", "conversation_tags", ["tag"])
    op.create_table(
        "csat_surveys",
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("conversation_id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("message_id", sa.String(length=40), nullable=True),
        sa.Column("asked_at", TS, nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("answered_at", TS, nullable=True),
        sa.Column("answered_via", sa.String(length=8), nullable=True),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_csat_surveys")),
    )
    op.create_index("ix_csat_surveys_conversation_id", "csat_surveys", ["conversation_id"])
    op.create_index("ix_csat_surveys_customer_id", "csat_surveys", ["customer_id"])


def downgrade() -> None:
    for table in ("csat_surveys", "conversation_tags", "service_agents", "service_team_members", "service_teams",
                  "sla_policies"):
        op.drop_table(table)
    op.drop_index("ix_conversations_sla_check_at", table_name="conversations")
    op.drop_index("ix_conversations_team_id", table_name="conversations")
    with op.batch_alter_table("conversations") as batch:
        for name, _ in reversed(NEW_COLUMNS):
            batch.drop_column(name)
