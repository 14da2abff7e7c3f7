"""Foundation: keys, idempotency, outbox, catalog, inventory.

Revision ID: 0001_foundation
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001_foundation"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('api_keys',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('channel', sa.String(length=64), nullable=True),
    sa.Column('location', sa.String(length=64), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_api_keys_key_hash'))
    )
    op.create_table('channel_availability',
    sa.Column('channel_code', sa.String(length=64), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('available', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('channel_code', 'sku', name=op.f('pk_channel_availability'))
    )
    op.create_table('channels',
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=True),
    sa.Column('stock_buffer', sa.Integer(), nullable=False),
    sa.Column('prices_include_tax', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('shipping_fee', sa.Numeric(precision=18, scale=4), server_default='0', nullable=False),
    sa.Column('cart_hold_minutes', sa.Integer(), server_default='0', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('web', 'app', 'store', 'marketplace', 'social', 'wholesale')", name=op.f('ck_channels_kind_known')),
    sa.CheckConstraint('stock_buffer >= 0', name=op.f('ck_channels_stock_buffer_not_negative')),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_channels'))
    )
    op.create_table('idempotency_keys',
    sa.Column('scope', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('content_type', sa.String(length=100), nullable=True),
    sa.Column('body', sa.LargeBinary(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('scope', 'key', name=op.f('pk_idempotency_keys'))
    )
    op.create_table('locations',
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('lon', sa.Float(), nullable=True),
    sa.Column('pickup', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('warehouse', 'store')", name=op.f('ck_locations_kind_known')),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_locations'))
    )
    op.create_table('outbox',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('dispatched_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_outbox')),
    sa.UniqueConstraint('id', name=op.f('uq_outbox_id'))
    )
    op.create_index('ix_outbox_pending', 'outbox', ['seq'], unique=False, postgresql_where=sa.text('dispatched_at IS NULL'), sqlite_where=sa.text('dispatched_at IS NULL'))
    op.create_table('price_lists',
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_price_lists'))
    )
    op.create_table('products',
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('category', sa.String(length=120), nullable=False),
    sa.Column('barcode', sa.String(length=64), nullable=True),
    sa.Column('group_code', sa.String(length=64), nullable=True),
    sa.Column('attributes', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('tax_class', sa.String(length=32), server_default='standard', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('sku', name=op.f('pk_products')),
    sa.UniqueConstraint('barcode', name=op.f('uq_products_barcode'))
    )
    op.create_index('ix_products_category', 'products', ['category', 'sku'], unique=False)
    op.create_index(op.f('ix_products_group_code'), 'products', ['group_code'], unique=False)
    op.create_table('reservations',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('channel_code', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reference', sa.String(length=64), nullable=True),
    sa.Column('actor', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reservations'))
    )
    op.create_index('ix_reservations_active_expiry', 'reservations', ['expires_at'], unique=False, postgresql_where=sa.text("status = 'active'"), sqlite_where=sa.text("status = 'active'"))
    op.create_table('stock_ledger',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('location_code', sa.String(length=64), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('on_hand_delta', sa.Integer(), nullable=False),
    sa.Column('reserved_delta', sa.Integer(), nullable=False),
    sa.Column('quarantined_delta', sa.Integer(), server_default='0', nullable=False),
    sa.Column('on_hand_after', sa.Integer(), nullable=False),
    sa.Column('reserved_after', sa.Integer(), nullable=False),
    sa.Column('reference', sa.String(length=64), nullable=True),
    sa.Column('actor', sa.String(length=64), nullable=True),
    sa.Column('reason', sa.String(length=300), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stock_ledger'))
    )
    op.create_index('ix_stock_ledger_level', 'stock_ledger', ['location_code', 'sku', 'id'], unique=False)
    op.create_table('channel_locations',
    sa.Column('channel_code', sa.String(length=64), nullable=False),
    sa.Column('location_code', sa.String(length=64), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['channel_code'], ['channels.code'], name=op.f('fk_channel_locations_channel_code_channels'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['location_code'], ['locations.code'], name=op.f('fk_channel_locations_location_code_locations')),
    sa.PrimaryKeyConstraint('channel_code', 'location_code', name=op.f('pk_channel_locations'))
    )
    op.create_index('ix_channel_locations_location', 'channel_locations', ['location_code'], unique=False)
    op.create_table('channel_prices',
    sa.Column('channel_code', sa.String(length=64), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('amount', sa.Numeric(precision=18, scale=4), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount >= 0', name=op.f('ck_channel_prices_amount_not_negative')),
    sa.ForeignKeyConstraint(['channel_code'], ['channels.code'], name=op.f('fk_channel_prices_channel_code_channels'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['sku'], ['products.sku'], name=op.f('fk_channel_prices_sku_products')),
    sa.PrimaryKeyConstraint('channel_code', 'sku', name=op.f('pk_channel_prices'))
    )
    op.create_table('price_list_customers',
    sa.Column('customer_id', sa.String(length=40), nullable=False),
    sa.Column('price_list', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['price_list'], ['price_lists.code'], name=op.f('fk_price_list_customers_price_list_price_lists'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('customer_id', name=op.f('pk_price_list_customers'))
    )
    op.create_table('price_list_prices',
    sa.Column('price_list', sa.String(length=64), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('amount', sa.Numeric(precision=18, scale=4), nullable=False),
    sa.Column('min_quantity', sa.Integer(), server_default='1', nullable=False),
    sa.CheckConstraint('amount >= 0', name=op.f('ck_price_list_prices_amount_not_negative')),
    sa.CheckConstraint('min_quantity >= 1', name=op.f('ck_price_list_prices_min_quantity_positive')),
    sa.ForeignKeyConstraint(['price_list'], ['price_lists.code'], name=op.f('fk_price_list_prices_price_list_price_lists'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['sku'], ['products.sku'], name=op.f('fk_price_list_prices_sku_products')),
    sa.PrimaryKeyConstraint('price_list', 'sku', name=op.f('pk_price_list_prices'))
    )
    op.create_table('reservation_lines',
    sa.Column('reservation_id', sa.String(length=40), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('location_code', sa.String(length=64), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('fulfilled', sa.Integer(), server_default='0', nullable=False),
    sa.Column('quota_consumed', sa.Integer(), nullable=False),
    sa.CheckConstraint('fulfilled >= 0 AND fulfilled <= quantity', name=op.f('ck_reservation_lines_fulfilled_within_quantity')),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_reservation_lines_quantity_positive')),
    sa.ForeignKeyConstraint(['reservation_id'], ['reservations.id'], name=op.f('fk_reservation_lines_reservation_id_reservations')),
    sa.PrimaryKeyConstraint('reservation_id', 'sku', 'location_code', name=op.f('pk_reservation_lines'))
    )
    op.create_index('ix_reservation_lines_level', 'reservation_lines', ['location_code', 'sku'], unique=False)
    op.create_table('stock_levels',
    sa.Column('location_code', sa.String(length=64), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('on_hand', sa.Integer(), nullable=False),
    sa.Column('reserved', sa.Integer(), nullable=False),
    sa.Column('safety_stock', sa.Integer(), nullable=False),
    sa.Column('ring_fenced', sa.Integer(), nullable=False),
    sa.Column('quarantined', sa.Integer(), server_default='0', nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('on_hand >= 0', name=op.f('ck_stock_levels_on_hand_not_negative')),
    sa.CheckConstraint('quarantined >= 0', name=op.f('ck_stock_levels_quarantined_not_negative')),
    sa.CheckConstraint('reserved <= on_hand', name=op.f('ck_stock_levels_reserved_within_on_hand')),
    sa.CheckConstraint('reserved >= 0', name=op.f('ck_stock_levels_reserved_not_negative')),
    sa.CheckConstraint('ring_fenced >= 0', name=op.f('ck_stock_levels_ring_fenced_not_negative')),
    sa.CheckConstraint('safety_stock >= 0', name=op.f('ck_stock_levels_safety_stock_not_negative')),
    sa.ForeignKeyConstraint(['location_code'], ['locations.code'], name=op.f('fk_stock_levels_location_code_locations')),
    sa.ForeignKeyConstraint(['sku'], ['products.sku'], name=op.f('fk_stock_levels_sku_products')),
    sa.PrimaryKeyConstraint('location_code', 'sku', name=op.f('pk_stock_levels'))
    )
    op.create_index('ix_stock_levels_sku', 'stock_levels', ['sku'], unique=False)
    op.create_table('stock_quotas',
    sa.Column('location_code', sa.String(length=64), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('channel_code', sa.String(length=64), nullable=False),
    sa.Column('units', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('units >= 0', name=op.f('ck_stock_quotas_units_not_negative')),
    sa.ForeignKeyConstraint(['channel_code'], ['channels.code'], name=op.f('fk_stock_quotas_channel_code_channels')),
    sa.ForeignKeyConstraint(['location_code', 'sku'], ['stock_levels.location_code', 'stock_levels.sku'], name=op.f('fk_stock_quotas_location_code_stock_levels')),
    sa.PrimaryKeyConstraint('location_code', 'sku', 'channel_code', name=op.f('pk_stock_quotas'))
    )


def downgrade() -> None:
    op.drop_table('stock_quotas')
    op.drop_index('ix_stock_levels_sku', table_name='stock_levels')
    op.drop_table('stock_levels')
    op.drop_index('ix_reservation_lines_level', table_name='reservation_lines')
    op.drop_table('reservation_lines')
    op.drop_table('price_list_prices')
    op.drop_table('price_list_customers')
    op.drop_table('channel_prices')
    op.drop_index('ix_channel_locations_location', table_name='channel_locations')
    op.drop_table('channel_locations')
    op.drop_index('ix_stock_ledger_level', table_name='stock_ledger')
    op.drop_table('stock_ledger')
    op.drop_index('ix_reservations_active_expiry', table_name='reservations', postgresql_where=sa.text("status = 'active'"), sqlite_where=sa.text("status = 'active'"))
    op.drop_table('reservations')
    op.drop_index(op.f('ix_products_group_code'), table_name='products')
    op.drop_index('ix_products_category', table_name='products')
    op.drop_table('products')
    op.drop_table('price_lists')
    op.drop_index('ix_outbox_pending', table_name='outbox', postgresql_where=sa.text('dispatched_at IS NULL'), sqlite_where=sa.text('dispatched_at IS NULL'))
    op.drop_table('outbox')
    op.drop_table('locations')
    op.drop_table('idempotency_keys')
    op.drop_table('channels')
    op.drop_table('channel_availability')
    op.drop_table('api_keys')
