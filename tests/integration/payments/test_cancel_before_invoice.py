"""An order paid at a provider has its invoice numbered later, by a worker job (the notification holds no series
lock). Cancelled before the job reached it, it must end with the same documents as when the job ran first: the
invoice, then the credit note that cancels it — never an order that was paid with no document at all. Also when
the job and the cancellation run at the same moment (PostgreSQL, two threads): one invoice, one credit note."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient
from tests.builders import ok
from tests.integration.payments.conftest import configure_stripe, delivered
from tests.integration.payments.test_stripe import authorised, notify, stripe_routes, web_order
from tests.provider_receiver import ProviderReceiver

from omnihub.commerce.payment_outcomes import issue_due_invoices
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database


def documents(api: TestClient, order_id: str) -> tuple[list[dict], list[dict]]:
    invoices = ok(api.get("/api/v1/invoices", params={"order": order_id}))["items"]
    notes = ok(api.get("/api/v1/credit-notes", params={"order": order_id}))["items"]
    return invoices, notes


def paid_web_order(api: TestClient, provider: ProviderReceiver, n: int) -> str:
    order = web_order(api)
    delivered(api, notify(api, authorised(provider.intents[f"pi_{n:04d}"], f"evt_auth_{n}")))  # type: ignore[attr-defined]
    paid = ok(api.get(f"/api/v1/orders/{order['id']}"))
    assert (paid["status"], paid["invoice_number"]) == ("paid", None)  # queued for the job
    return order["id"]


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
def test_a_paid_order_cancelled_before_its_invoice_job_gets_the_invoice_and_its_credit_note(
        shop: TestClient, provider: ProviderReceiver, db: Database, clock: ManualClock) -> None:
    stripe_routes(provider)
    configure_stripe(shop, provider.base)
    order_id = paid_web_order(shop, provider, 1)

    cancelled = ok(shop.post(f"/api/v1/orders/{order_id}/cancel"))
    assert cancelled["status"] == "cancelled" and cancelled["invoice_number"].startswith("INV-WEB-")
    [invoice], [note] = documents(shop, order_id)
    assert invoice["number"] == cancelled["invoice_number"] and invoice["totals"]["total"] == "20.00"
    assert note["invoice_number"] == invoice["number"] and note["totals"]["total"] == "20.00"
    assert db.run(lambda conn: issue_due_invoices(conn, clock)) == 0  # taken off the queue: the job issues none
    assert documents(shop, order_id) == ([invoice], [note])

    # The job first, then the cancellation: the same documents.
    other = paid_web_order(shop, provider, 2)
    assert db.run(lambda conn: issue_due_invoices(conn, clock)) == 1
    ok(shop.post(f"/api/v1/orders/{other}/cancel"))
    invoices, notes = documents(shop, other)
    assert len(invoices) == 1 and [n["invoice_number"] for n in notes] == [invoices[0]["number"]]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_the_job_and_the_cancellation_at_once_make_one_invoice_and_one_credit_note(
        shop: TestClient, provider: ProviderReceiver, db: Database, clock: ManualClock) -> None:
    stripe_routes(provider)
    configure_stripe(shop, provider.base)
    orders = [paid_web_order(shop, provider, n) for n in range(1, 7)]
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def job() -> None:
        try:
            start.wait()
            db.run(lambda conn: issue_due_invoices(conn, clock))
        except BaseException as exc:  # reported by the assertion below
            failures.append(exc)

    def cancel_all() -> None:
        try:
            start.wait()
            for order_id in orders:
                assert shop.post(f"/api/v1/orders/{order_id}/cancel").status_code == 200
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=job), threading.Thread(target=cancel_all)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    assert db.run(lambda conn: issue_due_invoices(conn, clock)) == 0
    for order_id in orders:
        invoices, notes = documents(shop, order_id)
        assert len(invoices) == 1, order_id
        assert [n["invoice_number"] for n in notes] == [invoices[0]["number"]], order_id
