"""`omnihub inventory check` as a script uses it: the result on stdout, the exit code says drift."""

import os
import subprocess
import sys

import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.builders import channel, location, product, stock

from omnihub.core.db import Database
from omnihub.inventory.models import stock_levels


def _check(db_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMNIHUB_DATABASE_URL": db_url, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "omnihub.cli", "inventory", "check"], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_inventory_check_prints_its_result_on_stdout_and_exits_1_on_drift(admin: TestClient, db: Database,
                                                                            db_url: str) -> None:
    location(admin, "wh", kind="warehouse", pickup=False)
    product(admin, "TEE-M")
    channel(admin, "web", locations=["wh"])
    stock(admin, "wh", "TEE-M", 10)

    clean = _check(db_url)
    assert clean.returncode == 0, clean.stderr
    assert "No drift" in clean.stdout

    with db.transaction() as conn:  # a level changed behind the ledger's back
        conn.execute(sa.update(stock_levels).where(stock_levels.c.sku == "TEE-M").values(on_hand=7))
    drift = _check(db_url)
    assert drift.returncode == 1, drift.stderr
    assert "TEE-M" in drift.stdout and "wh" in drift.stdout
    assert "TEE-M" not in drift.stderr
