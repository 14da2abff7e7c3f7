"""Schema-based fuzzing: schemathesis over /openapi.json against a real server on each database.

Every generated request — valid and invalid bodies, parameters and headers, and chains of calls that follow
the schema's OpenAPI links (its stateful phase) — must get no 5xx, and every 4xx must be a problem+json
document with a code. The number of examples is bounded so the test takes a minute or so per database;
raise FUZZ_EXAMPLES locally for a deeper run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from tests.builders import channel, location, ok, product, stock

from omnihub.app import create_app
from omnihub.config import Settings
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database

from .test_operations import serving

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = os.environ.get("FUZZ_EXAMPLES", "3")

pytestmark = pytest.mark.slow


def _seed(api: httpx.Client) -> None:
    """A little of everything, so generated ids and codes sometimes hit something real."""
    location(api, "mad")  # type: ignore[arg-type]
    location(api, "wh", kind="warehouse")  # type: ignore[arg-type]
    product(api, "TEE", category="apparel")  # type: ignore[arg-type]
    channel(api, "web", locations=["mad", "wh"])  # type: ignore[arg-type]
    ok(api.put("/api/v1/channels/web/prices", json=[{"sku": "TEE", "amount": "20.00"}]))
    stock(api, "wh", "TEE", 1000)  # type: ignore[arg-type]
    ok(api.post("/api/v1/customers", json={"identities": {"email": "ana@correo.es"}}), 201)


def test_no_server_errors_and_problems_for_every_client_error(
        settings: Settings, db: Database, clock: ManualClock, admin_key: str, tmp_path: Path) -> None:
    app = create_app(settings, db=db, clock=clock)
    with serving(app) as port:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {admin_key}"}) as api:
            _seed(api)
        env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.fuzz_hooks", "PYTHONPATH": str(ROOT)}
        done = subprocess.run(
            [sys.executable, "-m", "schemathesis.cli", "run", f"{base}/openapi.json",
             "-H", f"Authorization: Bearer {admin_key}", "--checks", "not_a_server_error,client_errors_are_problems",
             "--phases", "examples,fuzzing,stateful", "--max-examples", EXAMPLES, "--workers", "2",
             "--seed", "14", "--max-failures", "10", "--request-timeout", "30", "--warnings", "off",
             "--report-dir", str(tmp_path)],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)  # its cache stays there
    assert done.returncode == 0, done.stdout[-12000:] + done.stderr[-3000:]
