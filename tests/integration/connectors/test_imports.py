"""Declarative imports written: a slice of the superstore export becomes history orders with its own dates and
amounts to the cent, feeding customers' stats, moving no stock and emitting `order.imported`; a re-run changes
nothing; the CLI's dry run reports every row and the dirty data."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.builders import channel, ok
from typer.testing import CliRunner

from omnihub.cli import app
from omnihub.connectors.imports.reader import csv_rows
from omnihub.connectors.imports.rules import parse_mapping, plan
from omnihub.connectors.imports.service import write_plan

ROOT = Path(__file__).resolve().parents[3]
SUPERSTORE = Path("/work/shared/datasets/superstore/superstore_orders.csv")
if not SUPERSTORE.exists():
    SUPERSTORE = ROOT.parent / "shared" / "datasets" / "superstore" / "superstore_orders.csv"
MAPPING = ROOT / "examples" / "mappings" / "superstore.yaml"


@pytest.fixture
def slice_csv(tmp_path: Path) -> Path:
    """The export's first 120 lines, as the export writes them (BOM, quotes)."""
    lines = SUPERSTORE.read_bytes().splitlines(keepends=True)[:121]
    path = tmp_path / "superstore_slice.csv"
    path.write_bytes(b"".join(lines))
    return path


def test_an_export_becomes_history_once(admin, db, clock, slice_csv: Path) -> None:
    channel(admin, "erp", currency="USD", country="US")
    with slice_csv.open(encoding="utf-8-sig", newline="") as handle:
        raw = list(csv.DictReader(handle))
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for row in raw:
        totals[row["Order ID"]] += Decimal(row["Sales"])

    planned = plan(parse_mapping(MAPPING.read_text()), csv_rows(slice_csv))
    first = write_plan(db, clock, planned, channel="erp", system="superstore")
    again = write_plan(db, clock, planned, channel="erp", system="superstore")

    assert first["orders_imported"] == len(totals) and first["orders_rejected"] == 0
    assert again["orders_imported"] == 0 and again["orders_unchanged"] == len(totals)
    assert again["products_created"] == 0
    with db.read() as conn:
        rows = conn.execute(sa.text("SELECT external_id, total, created_at FROM orders")).all()
        events = dict(conn.execute(sa.text("SELECT type, count(*) FROM outbox GROUP BY type")).all())
        levels = conn.execute(sa.text("SELECT count(*) FROM stock_levels")).scalar_one()
    cents = Decimal("0.0001")
    assert {r.external_id: Decimal(str(r.total)).quantize(cents) for r in rows} == {
        k: v.quantize(cents) for k, v in totals.items()}
    assert events.get("order.imported") == len(totals) and "order.created" not in events
    assert levels == 0  # history moves no stock
    first_row = raw[0]
    order = next(r for r in rows if r.external_id == first_row["Order ID"])
    assert str(order.created_at)[:10] == "2019-01-03"  # 03/01/19, day first
    page = ok(admin.get("/api/v1/orders", params={"channel": "erp", "limit": 200}))["items"]
    one = next(o for o in page if o["external"]["id"] == first_row["Order ID"])
    customer = ok(admin.get(f"/api/v1/customers/{one['customer_id']}"))
    assert customer["stats"]["orders_count"] >= 1
    assert ("external", "superstore", first_row["Customer ID"]) in {
        (i["kind"], i.get("system"), i["value"]) for i in customer["identities"]}


def test_the_cli_dry_run_reports_rows_and_dirty_data(slice_csv: Path, tmp_path: Path, db_url: str) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("a dry run touches no database")
    report = tmp_path / "report.json"
    bad = tmp_path / "bad.yaml"
    bad.write_text("entities:\n  order:\n    fields:\n      numbr: {column: Order ID}\n")
    refused = CliRunner().invoke(app, ["import", str(slice_csv), "--mapping", str(bad), "--dry-run"])
    assert refused.exit_code == 2 and "line 4" in refused.output and "numbr" in refused.output
    done = CliRunner().invoke(app, ["import", str(slice_csv), "--mapping", str(MAPPING), "--dry-run",
                                    "--report", str(report)])
    assert done.exit_code == 0, done.output
    summary = json.loads(report.read_text())
    assert summary["rows"] == 120 and summary["rejected_rows"] == [] and "written" not in summary
