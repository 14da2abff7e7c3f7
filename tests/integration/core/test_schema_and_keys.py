import subprocess
import sys

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi.testclient import TestClient
from tests.builders import problem
from tests.conftest import SECRET

import omnihub.api
import omnihub.app  # noqa: F401  (and the kernel: outbox, keys, idempotency)
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database, metadata


def _load_all_models() -> None:
    import importlib
    import pkgutil

    import omnihub

    for info in pkgutil.walk_packages(omnihub.__path__, "omnihub."):
        if not info.name.startswith("omnihub.migrations"):  # tables live in models.py and a few kernel modules
            importlib.import_module(info.name)


def test_migrations_build_exactly_the_schema_the_code_declares(db: Database) -> None:
    _load_all_models()
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)

    # Alembic cannot compare a partial index's WHERE clause, so an identical partial index shows up as
    # "remove + add" of the same name; anything else is real drift.
    removed = {d[1].name for d in diff if d[0] == "remove_index"}
    added = {d[1].name for d in diff if d[0] == "add_index"}
    same = removed & added
    assert [d for d in diff if not (d[0] in ("remove_index", "add_index") and d[1].name in same)] == []


def test_revoked_key_is_refused(client: TestClient, db: Database, clock: ManualClock) -> None:
    from omnihub.core.security import create_api_key, revoke_api_key

    with db.transaction() as conn:
        key_id, raw = create_api_key(conn, clock, SECRET, role="marketer")
    assert client.get("/api/v1/products", headers={"Authorization": f"Bearer {raw}"}).status_code == 200
    with db.transaction() as conn:
        assert revoke_api_key(conn, clock, key_id)

    problem(client.get("/api/v1/products", headers={"Authorization": f"Bearer {raw}"}), 401, "invalid_api_key")


def test_keys_are_stored_hashed(db: Database, clock: ManualClock) -> None:
    from omnihub.core.security import api_keys, create_api_key

    with db.transaction() as conn:
        _, raw = create_api_key(conn, clock, SECRET, role="admin")
    with db.read() as conn:
        stored = conn.execute(sa.select(api_keys.c.key_hash, api_keys.c.prefix)).one()

    assert raw not in stored.key_hash
    assert len(stored.prefix) < len(raw) // 3


@pytest.mark.slow
def test_cli_apikey_create_prints_the_key_last_and_checks_the_scope(db_url: str, tmp_path) -> None:
    env = {"OMNIHUB_DATABASE_URL": db_url, "OMNIHUB_SECRET_KEY": SECRET, "PATH": "/usr/bin:/bin"}
    run = [sys.executable, "-m", "omnihub.cli", "apikey", "create"]

    made = subprocess.run([*run, "--role", "admin"], env=env, capture_output=True, text=True, check=True)
    bad = subprocess.run([*run, "--role", "channel", "--channel", "ghost"], env=env, capture_output=True, text=True)

    key = made.stdout.strip().splitlines()[-1]
    assert key.startswith("ohk_")
    assert bad.returncode == 2
    assert "channel_not_found" in bad.stderr
