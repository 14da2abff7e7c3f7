"""Customers: profiles, identities, aliases, timeline, consent, tags, stats, merges, suggestions, blocks.

Revision ID: 0003_customers
Revises: 0001_foundation
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003_customers"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('customers',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('merged_into', sa.String(length=40), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('erased_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('active', 'merged', 'erased')", name=op.f('ck_customers_status_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customers'))
    )
    op.create_table('customer_aliases',
    sa.Column('merged_id', sa.String(length=40), nullable=False),
    sa.Column('survivor_id', sa.String(length=40), nullable=False),
    sa.Column('merge_id', sa.String(length=40), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('merged_id', name=op.f('pk_customer_aliases'))
    )
    op.create_index('ix_customer_aliases_survivor', 'customer_aliases', ['survivor_id'], unique=False)
    op.create_table('customer_consents',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('customer_id', sa.String(length=40), nullable=False),
    sa.Column('owner_id', sa.String(length=40), nullable=False),
    sa.Column('purpose', sa.String(length=32), nullable=False),
    sa.Column('granted', sa.Boolean(), nullable=False),
    sa.Column('channel', sa.String(length=64), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('proof', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_consents'))
    )
    op.create_index('ix_customer_consents_customer', 'customer_consents', ['customer_id', 'purpose'], unique=False)
    op.create_table('customer_credit',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('customer_id', sa.String(length=40), nullable=False),
    sa.Column('owner_id', sa.String(length=40), nullable=False),
    sa.Column('amount', sa.Numeric(precision=18, scale=4), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_credit'))
    )
    op.create_index('ix_customer_credit_customer', 'customer_credit', ['customer_id'], unique=False)
    op.create_table('customer_erasures',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('customer_id', sa.String(length=40), nullable=False),
    sa.Column('actor', sa.String(length=40), nullable=True),
    sa.Column('identities_blocked', sa.Integer(), nullable=False),
    sa.Column('events_deleted', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_erasures'))
    )
    op.create_index(op.f('ix_customer_erasures_customer_id'), 'customer_erasures', ['customer_id'], unique=False)
    op.create_table('customer_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('customer_id', sa.String(length=40), nullable=False),
    sa.Column('owner_id', sa.String(length=40), nullable=False),
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.String(length=64), nullable=True),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('properties', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_events'))
    )
    op.create_index('ix_customer_events_timeline', 'customer_events', ['customer_id', 'occurred_at', 'id'], unique=False)
    op.create_index('ix_customer_events_type', 'customer_events', ['customer_id', 'type', 'occurred_at'], unique=False)
    op.create_table('customer_merges',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('survivor_id', sa.String(length=40), nullable=False),
    sa.Column('merged_id', sa.String(length=40), nullable=False),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('actor', sa.String(length=40), nullable=True),
    sa.Column('absorbed_ids', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('evidence', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('fields', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('undone_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('undone_by', sa.String(length=40), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_merges'))
    )
    op.create_index('ix_customer_merges_merged', 'customer_merges', ['merged_id'], unique=False)
    op.create_index('ix_customer_merges_survivor', 'customer_merges', ['survivor_id'], unique=False)
    op.create_table('customer_stats',
    sa.Column('customer_id', sa.String(length=40), nullable=False),
    sa.Column('owner_id', sa.String(length=40), nullable=False),
    sa.Column('channel', sa.String(length=64), nullable=False),
    sa.Column('events_count', sa.Integer(), nullable=False),
    sa.Column('orders_count', sa.Integer(), nullable=False),
    sa.Column('revenue', sa.Numeric(precision=18, scale=4), nullable=False),
    sa.Column('first_order_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_order_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('customer_id', 'owner_id', 'channel', name=op.f('pk_customer_stats'))
    )
    op.create_table('customer_tags',
    sa.Column('customer_id', sa.String(length=40), nullable=False),
    sa.Column('owner_id', sa.String(length=40), nullable=False),
    sa.Column('tag', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=8), nullable=False),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('customer_id', 'owner_id', 'tag', 'source', name=op.f('pk_customer_tags'))
    )
    op.create_table('identity_blocks',
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('namespace', sa.String(length=64), nullable=True),
    sa.Column('value', sa.String(length=320), nullable=True),
    sa.Column('note', sa.String(length=200), nullable=True),
    sa.Column('erasure_id', sa.String(length=40), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('hash', name=op.f('pk_identity_blocks'))
    )
    op.create_table('merge_suggestions',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('customer_a', sa.String(length=40), nullable=False),
    sa.Column('customer_b', sa.String(length=40), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('evidence', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_by', sa.String(length=40), nullable=True),
    sa.Column('merge_id', sa.String(length=40), nullable=True),
    sa.CheckConstraint("status IN ('open', 'accepted', 'rejected')", name=op.f('ck_merge_suggestions_status_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_merge_suggestions')),
    sa.UniqueConstraint('customer_a', 'customer_b', name='uq_merge_suggestions_pair')
    )
    op.create_index('ix_merge_suggestions_status', 'merge_suggestions', ['status', 'id'], unique=False)
    op.create_table('customer_identities',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('key', sa.String(length=420), nullable=False),
    sa.Column('customer_id', sa.String(length=40), nullable=False),
    sa.Column('owner_id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('namespace', sa.String(length=64), nullable=False),
    sa.Column('value', sa.String(length=320), nullable=False),
    sa.Column('verified', sa.Boolean(), nullable=False),
    sa.Column('channel', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_identities_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_identities')),
    sa.UniqueConstraint('key', name=op.f('uq_customer_identities_key'))
    )
    op.create_index('ix_customer_identities_customer', 'customer_identities', ['customer_id'], unique=False)


def downgrade() -> None:
    op.drop_table('customer_identities')
    op.drop_table('merge_suggestions')
    op.drop_table('identity_blocks')
    op.drop_table('customer_tags')
    op.drop_table('customer_stats')
    op.drop_table('customer_merges')
    op.drop_table('customer_events')
    op.drop_table('customer_erasures')
    op.drop_table('customer_credit')
    op.drop_table('customer_consents')
    op.drop_table('customer_aliases')
    op.drop_table('customers')
