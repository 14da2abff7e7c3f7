"""Service desk: the team and assignee queues read in their order from their own index.

A queue lists `WHERE team_id = ? ORDER BY last_message_at DESC, id DESC` (or by assignee). With an index on the
filter column alone, PostgreSQL walks `ix_conversations_last_message` from the newest and drops every row of
another team: while webhooks open new conversations (no team, nobody assigned) at the top, a team's first page
skips all of them. (team_id, last_message_at, id) and (assignee, last_message_at, id) start at the queue's newest
row; they replace the single-column indexes, their prefixes.

Revision ID: 0041_service_queue_indexes
Revises: 0032_service_routing
Create Date: 2026-12-04
"""

from alembic import op

revision = "0041_service_queue_indexes"
down_revision = "0032_service_routing"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_conversations_team_queue", "conversations", ["team_id", "last_message_at", "id"])
    op.create_index("ix_conversations_assignee_queue", "conversations", ["assignee", "last_message_at", "id"])
    op.drop_index("ix_conversations_team_id", table_name="conversations")
    op.drop_index("ix_conversations_assignee", table_name="conversations")


def downgrade() -> None:
    op.create_index("ix_conversations_assignee", "conversations", ["assignee"])
    op.create_index("ix_conversations_team_id", "conversations", ["team_id"])
    op.drop_index("ix_conversations_assignee_queue", table_name="conversations")
    op.drop_index("ix_conversations_team_queue", table_name="conversations")
