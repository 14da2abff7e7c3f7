"""Commerce (carts, orders, fulfilment, returns) and outbound messages.

Revision ID: 0004_commerce
Revises: 0001_foundation
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004_commerce"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('carts',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('channel_code', sa.String(length=64), nullable=False),
    sa.Column('customer_id', sa.String(length=40), nullable=True),
    sa.Column('origin_customer_id', sa.String(length=40), nullable=True),
    sa.Column('identity', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('hold_reservation_id', sa.String(length=40), nullable=True),
    sa.Column('order_id', sa.String(length=40), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_carts'))
    )
    op.create_index(op.f('ix_carts_customer_id'), 'carts', ['customer_id'], unique=False)
    op.create_table('fulfilment_capacity',
    sa.Column('location_code', sa.String(length=64), nullable=False),
    sa.Column('daily_orders', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('location_code', name=op.f('pk_fulfilment_capacity'))
    )
    op.create_table('fulfilment_load',
    sa.Column('location_code', sa.String(length=64), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('orders', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('location_code', 'day', name=op.f('pk_fulfilment_load'))
    )
    op.create_table('order_sequences',
    sa.Column('channel_code', sa.String(length=64), nullable=False),
    sa.Column('next_number', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('channel_code', name=op.f('pk_order_sequences'))
    )
    op.create_table('orders',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('number', sa.String(length=40), nullable=False),
    sa.Column('channel_code', sa.String(length=64), nullable=False),
    sa.Column('customer_id', sa.String(length=40), nullable=True),
    sa.Column('origin_customer_id', sa.String(length=40), nullable=True),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('payment_status', sa.String(length=24), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('subtotal', sa.Numeric(precision=18, scale=4), nullable=False),
    sa.Column('discount', sa.Numeric(precision=18, scale=4), nullable=False),
    sa.Column('shipping', sa.Numeric(precision=18, scale=4), nullable=False),
    sa.Column('tax', sa.Numeric(precision=18, scale=4), nullable=False),
    sa.Column('total', sa.Numeric(precision=18, scale=4), nullable=False),
    sa.Column('prices_include_tax', sa.Boolean(), nullable=False),
    sa.Column('fulfilment', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('sourcing', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('promotions', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('reservation_id', sa.String(length=40), nullable=True),
    sa.Column('price_list', sa.String(length=64), nullable=True),
    sa.Column('pickup_location', sa.String(length=64), nullable=True),
    sa.Column('pickup_code', sa.String(length=12), nullable=True),
    sa.Column('pickup_status', sa.String(length=16), nullable=True),
    sa.Column('pickup_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('pickup_slot_id', sa.String(length=40), nullable=True),
    sa.Column('promised_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('invoice_number', sa.String(length=40), nullable=True),
    sa.Column('cart_id', sa.String(length=40), nullable=True),
    sa.Column('idempotency_key', sa.String(length=120), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_orders')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_orders_idempotency_key')),
    sa.UniqueConstraint('number', name=op.f('uq_orders_number'))
    )
    op.create_index(op.f('ix_orders_customer_id'), 'orders', ['customer_id'], unique=False)
    op.create_index('ix_orders_status_pickup', 'orders', ['status', 'pickup_expires_at'], unique=False)
    op.create_table('outbound_messages',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('customer_id', sa.String(length=40), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('to', sa.String(length=320), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('template', sa.String(length=64), nullable=True),
    sa.Column('reference', sa.String(length=64), nullable=True),
    sa.Column('provider', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('error', sa.String(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbound_messages'))
    )
    op.create_index(op.f('ix_outbound_messages_customer_id'), 'outbound_messages', ['customer_id'], unique=False)
    op.create_table('pickup_slots',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('location_code', sa.String(length=64), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('booked', sa.Integer(), server_default='0', nullable=False),
    sa.CheckConstraint('booked >= 0 AND booked <= capacity', name=op.f('ck_pickup_slots_booked_within_capacity')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pickup_slots'))
    )
    op.create_index(op.f('ix_pickup_slots_location_code'), 'pickup_slots', ['location_code'], unique=False)
    op.create_table('cart_lines',
    sa.Column('cart_id', sa.String(length=40), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('unit_price', sa.Numeric(precision=18, scale=4), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_cart_lines_quantity_positive')),
    sa.ForeignKeyConstraint(['cart_id'], ['carts.id'], name=op.f('fk_cart_lines_cart_id_carts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('cart_id', 'sku', name=op.f('pk_cart_lines'))
    )
    op.create_table('order_history',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('order_id', sa.String(length=40), nullable=False),
    sa.Column('from_status', sa.String(length=24), nullable=True),
    sa.Column('to_status', sa.String(length=24), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=True),
    sa.Column('note', sa.String(length=300), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_order_history_order_id_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_history'))
    )
    op.create_index(op.f('ix_order_history_order_id'), 'order_history', ['order_id'], unique=False)
    op.create_table('order_lines',
    sa.Column('order_id', sa.String(length=40), nullable=False),
    sa.Column('line_no', sa.Integer(), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('category', sa.String(length=120), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('unit_price', sa.Numeric(precision=18, scale=4), nullable=False),
    sa.Column('discount', sa.Numeric(precision=18, scale=4), nullable=False),
    sa.Column('tax_rate', sa.Numeric(precision=7, scale=4), nullable=False),
    sa.Column('tax', sa.Numeric(precision=18, scale=4), nullable=False),
    sa.Column('total', sa.Numeric(precision=18, scale=4), nullable=False),
    sa.Column('location_code', sa.String(length=64), nullable=True),
    sa.Column('fulfilled', sa.Integer(), server_default='0', nullable=False),
    sa.Column('returned', sa.Integer(), server_default='0', nullable=False),
    sa.CheckConstraint('fulfilled >= 0 AND fulfilled <= quantity', name=op.f('ck_order_lines_fulfilled_within_quantity')),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_order_lines_quantity_positive')),
    sa.CheckConstraint('returned >= 0 AND returned <= fulfilled', name=op.f('ck_order_lines_returned_within_fulfilled')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_order_lines_order_id_orders')),
    sa.PrimaryKeyConstraint('order_id', 'line_no', name=op.f('pk_order_lines'))
    )
    op.create_table('returns',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('order_id', sa.String(length=40), nullable=False),
    sa.Column('location_code', sa.String(length=64), nullable=False),
    sa.Column('condition', sa.String(length=16), nullable=False),
    sa.Column('lines', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('refund_amount', sa.Numeric(precision=18, scale=4), nullable=False),
    sa.Column('refund_method', sa.String(length=32), nullable=False),
    sa.Column('credit_note_number', sa.String(length=40), nullable=True),
    sa.Column('exchange_order_id', sa.String(length=40), nullable=True),
    sa.Column('actor', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_returns_order_id_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_returns'))
    )
    op.create_index(op.f('ix_returns_order_id'), 'returns', ['order_id'], unique=False)
    op.create_table('shipments',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('order_id', sa.String(length=40), nullable=False),
    sa.Column('location_code', sa.String(length=64), nullable=False),
    sa.Column('carrier', sa.String(length=64), nullable=False),
    sa.Column('tracking_number', sa.String(length=120), nullable=False),
    sa.Column('lines', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('shipped_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_shipments_order_id_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shipments'))
    )
    op.create_index(op.f('ix_shipments_order_id'), 'shipments', ['order_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_shipments_order_id'), table_name='shipments')
    op.drop_table('shipments')
    op.drop_index(op.f('ix_returns_order_id'), table_name='returns')
    op.drop_table('returns')
    op.drop_table('order_lines')
    op.drop_index(op.f('ix_order_history_order_id'), table_name='order_history')
    op.drop_table('order_history')
    op.drop_table('cart_lines')
    op.drop_index(op.f('ix_pickup_slots_location_code'), table_name='pickup_slots')
    op.drop_table('pickup_slots')
    op.drop_index(op.f('ix_outbound_messages_customer_id'), table_name='outbound_messages')
    op.drop_table('outbound_messages')
    op.drop_index('ix_orders_status_pickup', table_name='orders')
    op.drop_index(op.f('ix_orders_customer_id'), table_name='orders')
    op.drop_table('orders')
    op.drop_table('order_sequences')
    op.drop_table('fulfilment_load')
    op.drop_table('fulfilment_capacity')
    op.drop_index(op.f('ix_carts_customer_id'), table_name='carts')
    op.drop_table('carts')
