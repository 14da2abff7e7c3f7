from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from tests.builders import ok, problem
from tests.conftest import make_key

from omnihub.billing import service
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.core.errors import DomainError
from omnihub.core.events import recent_events

LINES = [{"sku": "TEE", "quantity": 2, "unit_price": Decimal("12.10"), "net": Decimal("20.00"),
          "tax": Decimal("4.20"), "tax_rate": Decimal("0.21")}]
TOTALS = {"subtotal": Decimal("24.20"), "discount": Decimal("0.00"), "tax": Decimal("4.20"),
          "total": Decimal("24.20"), "currency": "EUR"}


def _invoice(db: Database, clock: ManualClock, order_id: str, series: str = "INV-2026") -> dict:
    with db.transaction() as conn:
        return service.issue_invoice(conn, clock, order_id=order_id, series=series, currency="EUR", lines=LINES,
                                     totals=TOTALS)


def _credit_note(db: Database, clock: ManualClock, order_id: str, return_id: str) -> dict:
    with db.transaction() as conn:
        return service.issue_credit_note(conn, clock, order_id=order_id, return_id=return_id, series="CN-2026",
                                         currency="EUR", lines=LINES, totals=TOTALS)


def test_invoices_are_numbered_in_sequence_per_series(db: Database, clock: ManualClock) -> None:
    numbers = [_invoice(db, clock, f"ord-{i}")["number"] for i in range(3)]
    other = _invoice(db, clock, "ord-9", series="POS-MAD")

    assert numbers == ["INV-2026-000001", "INV-2026-000002", "INV-2026-000003"]
    assert other["number"] == "POS-MAD-000001"


def test_an_invoice_keeps_its_lines_and_totals_as_decimal_strings(db: Database, clock: ManualClock) -> None:
    invoice = _invoice(db, clock, "ord-1")

    assert invoice == {
        "number": "INV-2026-000001", "kind": "invoice", "series": "INV-2026", "sequence": 1, "order_id": "ord-1",
        "return_id": None, "invoice_number": None, "currency": "EUR",
        "lines": [{"sku": "TEE", "quantity": 2, "unit_price": "12.10", "net": "20.00", "tax": "4.20",
                   "tax_rate": "0.21"}],
        "totals": {"subtotal": "24.20", "discount": "0.00", "tax": "4.20", "total": "24.20", "currency": "EUR"},
        "issued_at": clock.now(),
    }
    with db.read() as conn:
        assert [e.data["number"] for e in recent_events(conn, type_="invoice.issued")] == ["INV-2026-000001"]


def test_issuing_an_order_invoice_again_returns_the_first_and_spends_no_number(db: Database,
                                                                               clock: ManualClock) -> None:
    first = _invoice(db, clock, "ord-1")
    again = _invoice(db, clock, "ord-1")
    next_one = _invoice(db, clock, "ord-2")

    assert again == first
    assert next_one["number"] == "INV-2026-000002"


def test_a_credit_note_names_the_invoice_it_corrects(db: Database, clock: ManualClock) -> None:
    _invoice(db, clock, "ord-1")

    note = _credit_note(db, clock, "ord-1", "ret-1")
    again = _credit_note(db, clock, "ord-1", "ret-1")
    second = _credit_note(db, clock, "ord-1", "ret-2")

    assert (note["number"], note["kind"], note["return_id"], note["invoice_number"]) == (
        "CN-2026-000001", "credit_note", "ret-1", "INV-2026-000001")
    assert again == note
    assert second["number"] == "CN-2026-000002"


def test_a_bad_series_is_refused_and_nothing_is_issued(db: Database, clock: ManualClock) -> None:
    with pytest.raises(DomainError) as caught:
        _invoice(db, clock, "ord-1", series="INV 2026")

    assert (caught.value.code, caught.value.field) == ("invalid_series", "series")
    assert _invoice(db, clock, "ord-1")["number"] == "INV-2026-000001"


def test_agents_read_invoices_and_credit_notes_over_the_api(client: TestClient, db: Database,
                                                            clock: ManualClock) -> None:
    _invoice(db, clock, "ord-1")
    _invoice(db, clock, "ord-2")
    _credit_note(db, clock, "ord-1", "ret-1")
    agent = {"Authorization": f"Bearer {make_key(db, clock, 'agent')}"}

    by_order = ok(client.get("/api/v1/invoices", params={"order": "ord-2"}, headers=agent))
    all_invoices = ok(client.get("/api/v1/invoices", headers=agent))
    invoice = ok(client.get("/api/v1/invoices/INV-2026-000001", headers=agent))
    note = ok(client.get("/api/v1/credit-notes/CN-2026-000001", headers=agent))
    notes = ok(client.get("/api/v1/credit-notes", params={"order": "ord-1"}, headers=agent))

    assert [i["number"] for i in by_order["items"]] == ["INV-2026-000002"]
    assert sorted(i["number"] for i in all_invoices["items"]) == ["INV-2026-000001", "INV-2026-000002"]
    assert (invoice["order_id"], invoice["totals"]["total"], invoice["lines"][0]["unit_price"]) == (
        "ord-1", "24.20", "12.10")
    assert (note["return_id"], note["invoice_number"]) == ("ret-1", "INV-2026-000001")
    assert [n["number"] for n in notes["items"]] == ["CN-2026-000001"]
    problem(client.get("/api/v1/invoices/CN-2026-000001", headers=agent), 404, "invoice_not_found")
    problem(client.get("/api/v1/credit-notes/INV-2026-000001", headers=agent), 404, "credit_note_not_found")


def test_invoices_page_with_a_cursor(admin: TestClient, db: Database, clock: ManualClock) -> None:
    for i in range(5):
        _invoice(db, clock, f"ord-{i}")

    first = ok(admin.get("/api/v1/invoices", params={"limit": 3}))
    rest = ok(admin.get("/api/v1/invoices", params={"limit": 3, "cursor": first["next_cursor"]}))

    numbers = [i["number"] for i in first["items"] + rest["items"]]
    assert sorted(numbers) == [f"INV-2026-00000{n}" for n in range(1, 6)]
    assert len(set(numbers)) == 5
    assert rest["next_cursor"] is None


def test_payments_of_an_order_over_the_api(admin: TestClient, client: TestClient, db: Database,
                                           clock: ManualClock) -> None:
    with db.transaction() as conn:
        service.take_payments(conn, clock, order_id="ord-1", customer_id=None, currency="EUR",
                              total=Decimal("30.00"), payments=[{"method": "cash", "amount": "10.50"}])
    marketer = {"Authorization": f"Bearer {make_key(db, clock, 'marketer')}"}

    state = ok(admin.get("/api/v1/payments", params={"order": "ord-1"}))

    assert {k: state[k] for k in ("order_id", "currency", "total", "status", "paid", "refunded")} == {
        "order_id": "ord-1", "currency": "EUR", "total": "30.00", "status": "partially_paid", "paid": "10.50",
        "refunded": "0.00"}
    assert [(p["method"], p["amount"], p["refunded"]) for p in state["payments"]] == [("cash", "10.50", "0.00")]
    problem(client.get("/api/v1/payments", params={"order": "ord-1"}, headers=marketer), 403, "role_not_allowed")
