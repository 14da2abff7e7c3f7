"""A SQLite hub whose server has answered an analytics report keeps every later write visible to the worker and
to every other process.

DuckDB's SQLite scanner is a second copy of SQLite in the server process. When it opened the live file, closing
it dropped the POSIX locks of the server's own connections; the next process to close the database (a
`worker --once`) then deleted the WAL those connections kept writing to, and the server's later writes reached
no other process (stop 14: an import queued in the console that the worker never saw). analytics/snapshot.py
makes DuckDB read a snapshot instead; this test is the scenario, over real processes."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from tests.conftest import SECRET
from tests.servers import server_processes

from omnihub.core.clock import SystemClock
from omnihub.core.db import Database
from omnihub.core.security import create_api_key

pytestmark = pytest.mark.slow


def _other_process_opens_and_closes(path: Path) -> int:
    """What a separate process (the worker, a CLI) sees: it opens the database, counts locations and closes it —
    as the last connection of its process it would checkpoint and delete a WAL it believes nobody uses."""
    done = subprocess.run([sys.executable, "-c", (
        "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]);"
        " print(c.execute('SELECT COUNT(*) FROM locations').fetchone()[0]); c.close()"), str(path)],
        capture_output=True, text=True, timeout=60, check=True)
    return int(done.stdout.strip())


def _orders_in_summary(api: httpx.Client) -> int:
    answer = api.get("/api/v1/analytics/summary")
    assert answer.status_code == 200, answer.text
    return sum(int(item["orders"]) for item in answer.json()["items"])


def test_writes_after_an_analytics_report_reach_other_processes(tmp_path: Path, sqlite_template: Path) -> None:
    path = tmp_path / "hub.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    db = Database(url)
    with db.transaction() as conn:
        _, key = create_api_key(conn, SystemClock(), SECRET, role="admin", name="analytics-sqlite")
    db.dispose()

    with server_processes(url, SECRET, count=1) as [base], httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as api:
        def post(path_: str, body: dict) -> None:
            answer = api.post(path_, json=body)
            assert answer.status_code == 201, answer.text

        post("/api/v1/locations", {"code": "wh", "name": "Getafe", "kind": "warehouse", "lat": 40.3, "lon": -3.7,
                                   "pickup": False})
        post("/api/v1/products", {"sku": "MUG", "name": "Mug", "category": "home"})
        post("/api/v1/channels", {"code": "web", "name": "Web", "kind": "web", "currency": "EUR", "country": "ES",
                                  "locations": ["wh"], "stock_buffer": 0})
        assert api.put("/api/v1/channels/web/prices", json=[{"sku": "MUG", "amount": "10.00"}]).status_code == 200
        assert api.put("/api/v1/stock/wh/MUG", json={"on_hand": 5}).status_code == 200

        assert _orders_in_summary(api) == 0  # DuckDB has read the database inside the server process
        assert _other_process_opens_and_closes(path) == 1

        post("/api/v1/locations", {"code": "sol", "name": "Sol", "kind": "store", "lat": 40.41, "lon": -3.70,
                                   "pickup": True})
        assert _other_process_opens_and_closes(path) == 2, "the server's write after the report was lost"

        post("/api/v1/orders", {"channel": "web", "lines": [{"sku": "MUG", "quantity": 1}],
                                "fulfilment": {"type": "ship", "address": {
                                    "line1": "Calle Mayor 1", "city": "Madrid", "postal_code": "28013",
                                    "country": "ES"}},
                                "payments": [{"method": "card", "amount": "10.00"}]})
        assert _orders_in_summary(api) == 1  # the report reads a snapshot renewed after the write
        assert _other_process_opens_and_closes(path) == 2

    with sqlite3.connect(path) as check:  # and nothing is missing once every process has let go
        assert check.execute("SELECT COUNT(*) FROM orders").fetchone()[0] == 1
        assert check.execute("SELECT COUNT(*) FROM locations").fetchone()[0] == 2
