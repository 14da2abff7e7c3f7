import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from omnihub.core.db import Database, metadata
from omnihub.customers import models


def test_migration_0003_builds_exactly_the_customer_tables_the_code_declares(db: Database) -> None:
    mine = sa.MetaData(naming_convention=metadata.naming_convention)
    names = [t.name for t in metadata.sorted_tables if getattr(models, t.name, None) is t]
    for name in names:
        metadata.tables[name].to_metadata(mine)
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={
            "include_name": lambda name, type_, parent: type_ != "table" or name in names})
        diff = compare_metadata(context, mine)

    assert len(names) == 12
    assert diff == []
