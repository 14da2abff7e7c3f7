"""Test fixtures: every integration test runs on SQLite and on the real PostgreSQL server.

PostgreSQL tests are skipped with a reason when no server answers, unless OMNIHUB_TEST_REQUIRE_POSTGRES=1
(as in CI), where an unreachable server is a failure.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from omnihub.app import create_app
from omnihub.bootstrap import bootstrap
from omnihub.config import Settings
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.core.migrate import upgrade
from omnihub.core.security import create_api_key

PG_ADMIN_URL = os.environ.get("OMNIHUB_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REQUIRE_PG = os.environ.get("OMNIHUB_TEST_REQUIRE_POSTGRES") == "1"
SECRET = "test-secret-key"
TEST_RECEIVERS = "127.0.0.1/32"


@pytest.fixture(scope="session", autouse=True)
def house() -> None:
    """Every test runs in a wired house, as every process does (tests that call services without an app too)."""
    bootstrap()


def _pg_reachable() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return None
    except Exception as exc:  # any failure means "no server here"
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}"


_PG_PROBLEM = _pg_reachable()


def _pg_url(dbname: str) -> str:
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{dbname}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    if _PG_PROBLEM:
        if REQUIRE_PG:
            pytest.fail(_PG_PROBLEM)
        pytest.skip(_PG_PROBLEM)
    import psycopg

    name = f"omnihub_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = _pg_url(name)
    upgrade(url)
    _SEEDS[url] = _seed_rows(url)
    yield url
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


_SEEDS: dict[str, dict[str, list[dict]]] = {}


def _engine(url: str) -> sa.Engine:
    return sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))


def _seed_rows(url: str) -> dict[str, list[dict]]:
    """Rows the migrations themselves insert (payment methods, tax rates…): put back after each truncate."""
    engine = _engine(url)
    seeds = {}
    with engine.connect() as conn:
        meta = sa.MetaData()
        meta.reflect(conn)
        for table in meta.sorted_tables:
            if table.name != "alembic_version":
                rows = [dict(r._mapping) for r in conn.execute(sa.select(table))]
                if rows:
                    seeds[table.name] = rows
    engine.dispose()
    return seeds


def _truncate_all(url: str) -> None:
    engine = _engine(url)
    with engine.begin() as conn:
        meta = sa.MetaData()
        meta.reflect(conn)
        tables = [t.name for t in meta.sorted_tables if t.name != "alembic_version"]
        conn.exec_driver_sql("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE")
        for name, rows in _SEEDS.get(url, {}).items():
            conn.execute(meta.tables[name].insert(), rows)
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "omnihub.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("pg_database")
    _truncate_all(url)
    return url


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url, pool_size=30)
    yield database
    database.dispose()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def settings(db_url: str) -> Settings:
    # The webhook tests' receivers listen on this machine: the one private network the hub may reach here.
    return Settings(database_url=db_url, secret_key=SECRET, api_key_cache_seconds=0, outbound_allow=TEST_RECEIVERS)


@pytest.fixture
def client(settings: Settings, db: Database, clock: ManualClock) -> Iterator[TestClient]:
    app = create_app(settings, db=db, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def make_key(db: Database, clock: ManualClock, role: str, **scope: str) -> str:
    with db.transaction() as conn:
        _, raw = create_api_key(conn, clock, SECRET, role=role, **scope)
    return raw


@pytest.fixture
def admin_key(db: Database, clock: ManualClock) -> str:
    return make_key(db, clock, "admin")


@pytest.fixture
def admin(client: TestClient, admin_key: str) -> TestClient:
    """The test client, authenticated as an admin."""
    client.headers["Authorization"] = f"Bearer {admin_key}"
    return client
