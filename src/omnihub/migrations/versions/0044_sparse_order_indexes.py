"""Orders and the outbox index only the rows that have the value: a shop's order id, an order's idempotency key,
a pickup's expiry, an event's dispatch position. Most orders have none of the first three (an imported order
never does) and an event gets its position only when dispatched; indexing their NULLs cost every insert an index
entry per column that no query reads (each query these serve names a value: `= ?`, `<= ?`, `> ?`). Uniqueness
is unchanged (NULLs never conflicted).

Revision ID: 0044_sparse_order_indexes
Revises: 0023_commerce_external (the orders table's branch), depends on 0008_outbox_positions
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0044_sparse_order_indexes"
down_revision = "0023_commerce_external"
branch_labels = None
depends_on = "0008_outbox_positions"


def _where(condition: str) -> dict[str, sa.TextClause]:
    return {"postgresql_where": sa.text(condition), "sqlite_where": sa.text(condition)}


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_constraint("uq_orders_channel_code", type_="unique")
        batch.drop_constraint("uq_orders_idempotency_key", type_="unique")
        batch.drop_index("ix_orders_status_pickup")
    op.create_index("ux_orders_channel_external", "orders", ["channel_code", "external_id"], unique=True,
                    **_where("external_id IS NOT NULL"))
    op.create_index("ux_orders_idempotency_key", "orders", ["idempotency_key"], unique=True,
                    **_where("idempotency_key IS NOT NULL"))
    op.create_index("ix_orders_status_pickup", "orders", ["status", "pickup_expires_at"],
                    **_where("pickup_expires_at IS NOT NULL"))
    op.drop_index("ux_outbox_position", table_name="outbox")
    op.create_index("ux_outbox_position", "outbox", ["position"], unique=True, **_where("position IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ux_outbox_position", table_name="outbox")
    op.create_index("ux_outbox_position", "outbox", ["position"], unique=True)
    op.drop_index("ix_orders_status_pickup", table_name="orders")
    op.drop_index("ux_orders_idempotency_key", table_name="orders")
    op.drop_index("ux_orders_channel_external", table_name="orders")
    with op.batch_alter_table("orders") as batch:
        batch.create_index("ix_orders_status_pickup", ["status", "pickup_expires_at"])
        batch.create_unique_constraint("uq_orders_idempotency_key", ["idempotency_key"])
        batch.create_unique_constraint("uq_orders_channel_code", ["channel_code", "external_id"])
