"""Automation: back-in-stock subscriptions (`stock.back`), and the built-in "back in stock" recipe, inactive.

Revision ID: 0035_automation_stock
Revises: 0024_automation
Create Date: 2026-12-03
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0035_automation_stock"
down_revision = "0024_automation"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
TS = sa.DateTime(timezone=True)
RECIPE = "back_in_stock"


def upgrade() -> None:
    op.create_table(
        "automation_stock_subscriptions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("notify_by", sa.String(length=16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("fired_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_stock_subscriptions")),
    )
    op.create_index("ix_automation_stock_subscriptions_open", "automation_stock_subscriptions",
                    ["channel", "sku", "fired_at"])
    op.create_index("ix_automation_stock_subscriptions_customer", "automation_stock_subscriptions", ["customer_id"])
    _install_recipe()


def _install_recipe() -> None:
    """The "back in stock" recipe, switched off like the others (a database that has it already keeps its own)."""
    from omnihub.automation.recipes import RECIPES

    r = RECIPES[RECIPE]
    rules = sa.table("automation_rules", sa.column("id"), sa.column("name"), sa.column("trigger", JSON),
                     sa.column("trigger_type"), sa.column("conditions", JSON), sa.column("steps", JSON),
                     sa.column("options", JSON), sa.column("active"), sa.column("recipe"),
                     sa.column("created_at", TS), sa.column("updated_at", TS))
    present = op.get_bind().execute(sa.select(rules.c.id).where(rules.c.recipe == RECIPE)).first()
    if present is not None:
        return
    now = datetime.now(UTC)
    op.bulk_insert(rules, [{"id": f"rule_recipe_{RECIPE}", "name": r["name"], "trigger": r["trigger"],
                            "trigger_type": r["trigger_type"], "conditions": r["conditions"], "steps": r["steps"],
                            "options": r["options"], "active": False, "recipe": RECIPE, "created_at": now,
                            "updated_at": now}])


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM automation_rules WHERE recipe = :r").bindparams(r=RECIPE))
    op.drop_index("ix_automation_stock_subscriptions_customer", table_name="automation_stock_subscriptions")
    op.drop_index("ix_automation_stock_subscriptions_open", table_name="automation_stock_subscriptions")
    op.drop_table("automation_stock_subscriptions")
