"""Alembic environment: runs migrations on the engine omnihub itself uses (same SQLite pragmas)."""

from __future__ import annotations

from alembic import context

from omnihub.core.db import make_engine

url = context.config.get_main_option("sqlalchemy.url")
engine = make_engine(url, pool_size=1)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=None, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
