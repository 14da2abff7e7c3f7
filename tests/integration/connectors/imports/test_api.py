"""`POST /imports` queues an upload (its mapping checked at once), the worker runs it, `GET /imports/{id}` shows
progress and the report."""

from __future__ import annotations

from fastapi.testclient import TestClient

from omnihub.config import Settings
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.worker import Worker

MAPPING = """\
channel: web
system: legacy
entities:
  customer:
    fields: {customer_id: Client, name: Name}
  product:
    fields: {sku: SKU, name: Article}
  order:
    fields:
      number: Order
      placed_at: {column: Date, transforms: [{date: "%Y-%m-%d"}]}
      customer: Client
  order_line:
    fields:
      sku: SKU
      quantity: {column: Qty, transforms: [integer]}
      total: {column: Amount, transforms: [{decimal: "."}]}
"""
CSV = "Order,Date,Client,Name,SKU,Article,Qty,Amount\nL-1,2024-05-01,K1,Ann,LAMP,Lamp,1,19.90\n" \
      "L-1,2024-05-01,K1,Ann,SHADE,Shade,2,11.00\nL-2,2024-13-01,K2,Bob,LAMP,Lamp,1,19.90\n"


def test_an_upload_is_queued_run_by_the_worker_and_reported(admin: TestClient, db: Database, clock: ManualClock,
                                                             settings: Settings) -> None:
    assert admin.post("/api/v1/channels", json={"code": "web", "name": "Web", "kind": "web",
                                                 "currency": "EUR"}).status_code in (201, 409)
    created = admin.post("/api/v1/imports", files={"file": ("legacy.csv", CSV.encode(), "text/csv")},
                         data={"mapping": MAPPING})
    assert created.status_code == 202, created.text
    job = created.json()
    assert job["status"] == "queued" and job["progress"] == {"rows_done": 0, "rows_total": None}

    worker = Worker(settings, db, clock)
    try:
        assert worker.run_imports() == 1
        assert worker.run_imports() == 0
    finally:
        worker.close()
    done = admin.get(f"/api/v1/imports/{job['id']}").json()
    assert done["status"] == "done" and done["progress"] == {"rows_done": 3, "rows_total": 3}
    assert done["counts"]["imported"] == 2 and done["counts"]["rejected"] == 1
    assert done["report"]["rejected"] == [{"file": "legacy.csv", "line": 4, "reason":
                                          "order.placed_at: '2024-13-01' does not match the date format '%Y-%m-%d'"}]
    order = admin.get("/api/v1/orders", params={"channel": "web"}).json()
    assert [o["number"] for o in order["items"]] == ["L-1"]
    assert order["items"][0]["totals"]["total"] == "30.90" and order["items"][0]["status"] == "delivered"


def test_a_bad_mapping_is_a_422_naming_its_line_and_queues_nothing(admin: TestClient) -> None:
    response = admin.post("/api/v1/imports", files={"file": ("x.csv", b"a,b\n1,2\n", "text/csv")},
                          data={"mapping": MAPPING.replace("placed_at:", "placed_on:")})
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "invalid_mapping" and problem["detail"].startswith("line 11: order: unknown field")
    assert admin.get("/api/v1/imports/imp_nope").status_code == 404
