"""Automation: rules, runs, the run log, messages with their tracking tokens, coupons, conversions, audiences and
the abandoned-cart scan marks; the channels' `cart_abandoned_after`; the built-in recipes, installed inactive.

Revision ID: 0024_automation
Revises: 0012_reference_version (and needs 0004_commerce: it indexes carts for the abandoned-cart scan)
Create Date: 2026-12-03
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0024_automation"
down_revision = "0012_reference_version"
branch_labels = None
# The carts index below needs the commerce tables (their branch starts at 0004_commerce).
depends_on = "0004_commerce"

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
TS = sa.DateTime(timezone=True)
TABLES = ("automation_runs", "automation_rules", "automation_messages", "automation_log", "automation_coupons",
          "automation_conversions", "automation_cart_scans", "automation_audience_members", "automation_abandoned",
          "automation_audience_exports", "automation_segments", "automation_segment_members")


def upgrade() -> None:
    op.create_table('automation_audience_members',
    sa.Column('audience', sa.String(length=64), nullable=False),
    sa.Column('customer_id', sa.String(length=40), nullable=False),
    sa.Column('added_at', TS, nullable=False),
    sa.Column('rule_id', sa.String(length=40), nullable=True),
    sa.PrimaryKeyConstraint('audience', 'customer_id', name=op.f('pk_automation_audience_members'))
    )
    op.create_table('automation_cart_scans',
    sa.Column('channel', sa.String(length=64), nullable=False),
    sa.Column('scanned_until', TS, nullable=False),
    sa.Column('scanned_id', sa.String(length=40), nullable=False),
    sa.PrimaryKeyConstraint('channel', name=op.f('pk_automation_cart_scans'))
    )
    op.create_table('automation_conversions',
    sa.Column('order_id', sa.String(length=40), nullable=False),
    sa.Column('rule_id', sa.String(length=40), nullable=False),
    sa.Column('message_id', sa.String(length=40), nullable=True),
    sa.Column('customer_id', sa.String(length=40), nullable=True),
    sa.Column('channel', sa.String(length=64), nullable=True),
    sa.Column('revenue', sa.Numeric(precision=18, scale=4), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('via', sa.String(length=16), nullable=False),
    sa.Column('at', TS, nullable=False),
    sa.PrimaryKeyConstraint('order_id', name=op.f('pk_automation_conversions'))
    )
    op.create_index(op.f('ix_automation_conversions_rule_id'), 'automation_conversions', ['rule_id'], unique=False)
    op.create_table('automation_coupons',
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('promotion_id', sa.String(length=40), nullable=False),
    sa.Column('rule_id', sa.String(length=40), nullable=False),
    sa.Column('run_id', sa.String(length=40), nullable=False),
    sa.Column('customer_id', sa.String(length=40), nullable=True),
    sa.Column('created_at', TS, nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_automation_coupons'))
    )
    op.create_table('automation_log',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('rule_id', sa.String(length=40), nullable=False),
    sa.Column('run_id', sa.String(length=40), nullable=False),
    sa.Column('customer_id', sa.String(length=40), nullable=True),
    sa.Column('step', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=300), nullable=True),
    sa.Column('detail', JSON, nullable=True),
    sa.Column('at', TS, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_automation_log'))
    )
    op.create_index('ix_automation_log_rule', 'automation_log', ['rule_id', 'id'], unique=False)
    op.create_index(op.f('ix_automation_log_run_id'), 'automation_log', ['run_id'], unique=False)
    op.create_table('automation_messages',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('rule_id', sa.String(length=40), nullable=False),
    sa.Column('run_id', sa.String(length=40), nullable=False),
    sa.Column('customer_id', sa.String(length=40), nullable=True),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('purpose', sa.String(length=32), nullable=False),
    sa.Column('to', sa.String(length=320), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('html', sa.Text(), nullable=True),
    sa.Column('links', JSON, nullable=False),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('template', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('provider', sa.String(length=16), nullable=True),
    sa.Column('provider_id', sa.String(length=120), nullable=True),
    sa.Column('error', sa.String(length=500), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', TS, nullable=False),
    sa.Column('sent_at', TS, nullable=True),
    sa.Column('opened_at', TS, nullable=True),
    sa.Column('clicked_at', TS, nullable=True),
    sa.Column('unsubscribed_at', TS, nullable=True),
    sa.Column('nps_score', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_automation_messages')),
    sa.UniqueConstraint('token', name=op.f('uq_automation_messages_token'))
    )
    op.create_index('ix_automation_messages_customer', 'automation_messages', ['customer_id', 'created_at'], unique=False)
    op.create_index('ix_automation_messages_queue', 'automation_messages', ['status', 'created_at'], unique=False)
    op.create_index('ix_automation_messages_rule', 'automation_messages', ['rule_id'], unique=False)
    op.create_table('automation_rules',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('trigger', JSON, nullable=False),
    sa.Column('trigger_type', sa.String(length=64), nullable=True),
    sa.Column('conditions', JSON, nullable=False),
    sa.Column('steps', JSON, nullable=False),
    sa.Column('options', JSON, nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('recipe', sa.String(length=40), nullable=True),
    sa.Column('last_scheduled_at', TS, nullable=True),
    sa.Column('created_at', TS, nullable=False),
    sa.Column('updated_at', TS, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_automation_rules')),
    sa.UniqueConstraint('recipe', name=op.f('uq_automation_rules_recipe'))
    )
    op.create_index(op.f('ix_automation_rules_trigger_type'), 'automation_rules', ['trigger_type'], unique=False)
    op.create_table('automation_runs',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('rule_id', sa.String(length=40), nullable=False),
    sa.Column('subject', sa.String(length=80), nullable=False),
    sa.Column('trigger_key', sa.String(length=120), nullable=False),
    sa.Column('customer_id', sa.String(length=40), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('step', sa.Integer(), nullable=False),
    sa.Column('due_at', TS, nullable=True),
    sa.Column('context', JSON, nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=True),
    sa.Column('created_at', TS, nullable=False),
    sa.Column('updated_at', TS, nullable=False),
    sa.CheckConstraint("status IN ('waiting', 'done', 'stopped', 'failed')", name=op.f('ck_automation_runs_status_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_automation_runs')),
    sa.UniqueConstraint('rule_id', 'subject', 'trigger_key', name='uq_automation_runs_once')
    )
    op.create_index(op.f('ix_automation_runs_customer_id'), 'automation_runs', ['customer_id'], unique=False)
    op.create_index('ix_automation_runs_due', 'automation_runs', ['status', 'due_at'], unique=False)
    op.create_table('automation_abandoned',
    sa.Column('customer_id', sa.String(length=40), nullable=False),
    sa.Column('cart_id', sa.String(length=40), nullable=False),
    sa.Column('at', TS, nullable=False),
    sa.PrimaryKeyConstraint('customer_id', name=op.f('pk_automation_abandoned'))
    )
    op.create_table('automation_audience_exports',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('audience', sa.String(length=64), nullable=False),
    sa.Column('format', sa.String(length=16), nullable=False),
    sa.Column('mode', sa.String(length=8), nullable=False),
    sa.Column('customer_ids', JSON, nullable=False),
    sa.Column('added', sa.Integer(), nullable=False),
    sa.Column('removed', sa.Integer(), nullable=False),
    sa.Column('at', TS, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_automation_audience_exports'))
    )
    op.create_index('ix_automation_audience_exports_last', 'automation_audience_exports',
                    ['audience', 'format', 'at'], unique=False)
    op.create_table('automation_segments',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('conditions', JSON, nullable=False),
    sa.Column('computed_at', TS, nullable=True),
    sa.Column('created_at', TS, nullable=False),
    sa.Column('updated_at', TS, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_automation_segments'))
    )
    op.create_table('automation_segment_members',
    sa.Column('segment_id', sa.String(length=40), nullable=False),
    sa.Column('customer_id', sa.String(length=40), nullable=False),
    sa.Column('since', TS, nullable=False),
    sa.PrimaryKeyConstraint('segment_id', 'customer_id', name=op.f('pk_automation_segment_members'))
    )
    with op.batch_alter_table("channels") as batch:
        batch.add_column(sa.Column("cart_abandoned_after", sa.Integer(), nullable=True))
    op.create_index("ix_carts_idle", "carts", ["channel_code", "updated_at", "id"],
                    postgresql_where=sa.text("status = 'open' AND customer_id IS NOT NULL"),
                    sqlite_where=sa.text("status = 'open' AND customer_id IS NOT NULL"))
    _install_recipes()


def _install_recipes() -> None:
    """The built-in recipes, switched off: a shop turns on the ones it wants (the demo turns them all on)."""
    from omnihub.automation.recipes import RECIPES

    rules = sa.table("automation_rules", sa.column("id"), sa.column("name"), sa.column("trigger", JSON),
                     sa.column("trigger_type"), sa.column("conditions", JSON), sa.column("steps", JSON),
                     sa.column("options", JSON), sa.column("active"), sa.column("recipe"),
                     sa.column("created_at", TS), sa.column("updated_at", TS))
    now = datetime.now(UTC)
    op.bulk_insert(rules, [{"id": f"rule_recipe_{key}", "name": r["name"], "trigger": r["trigger"],
                            "trigger_type": r["trigger_type"], "conditions": r["conditions"], "steps": r["steps"],
                            "options": r["options"], "active": False, "recipe": key, "created_at": now,
                            "updated_at": now} for key, r in RECIPES.items()])


def downgrade() -> None:
    op.drop_index("ix_carts_idle", table_name="carts")
    with op.batch_alter_table("channels") as batch:
        batch.drop_column("cart_abandoned_after")
    for table in TABLES:
        op.drop_table(table)
