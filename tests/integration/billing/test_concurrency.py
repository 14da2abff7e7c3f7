import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

from tests.integration.billing.helpers import customer, payments_of, refund, take, wallet

from omnihub.billing import service
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.core.errors import DomainError

THREADS = 16


def _race(work: Callable[[int], Any]) -> list[Any]:
    """Run work(0..15) on 16 threads released together; each returns its result or the DomainError code."""
    barrier = threading.Barrier(THREADS)

    def attempt(i: int) -> Any:
        barrier.wait()
        try:
            return work(i)
        except DomainError as exc:
            return exc.code

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        return list(pool.map(attempt, range(THREADS)))


def _invoice(db: Database, clock: ManualClock, order_id: str) -> str:
    with db.transaction() as conn:
        return service.issue_invoice(conn, clock, order_id=order_id, series="INV-2026", currency="EUR",
                                     lines=[{"sku": "TEE", "quantity": 1}], totals={"total": "10.00"})["number"]


def test_parallel_invoices_in_one_series_get_consecutive_distinct_numbers(db: Database, clock: ManualClock) -> None:
    numbers = _race(lambda i: _invoice(db, clock, f"ord-{i}"))

    assert sorted(numbers) == [f"INV-2026-{n:06d}" for n in range(1, THREADS + 1)]


def test_parallel_invoices_for_one_order_make_one_invoice_and_leave_no_gap(db: Database, clock: ManualClock) -> None:
    numbers = _race(lambda _i: _invoice(db, clock, "ord-same"))
    next_number = _invoice(db, clock, "ord-next")

    assert numbers == ["INV-2026-000001"] * THREADS
    assert next_number == "INV-2026-000002"


def test_parallel_store_credit_spending_never_goes_below_zero(db: Database, clock: ManualClock) -> None:
    ana = customer(db, clock, "ana@correo.es", credit="100.00")

    outcomes = _race(lambda i: take(db, clock, f"ord-{i}", "10.00", [{"method": "store_credit", "amount": "10.00"}],
                                    customer_id=ana)["status"])

    assert sorted(outcomes) == ["insufficient_store_credit"] * 6 + ["paid"] * 10
    assert wallet(db, clock, ana) == {"EUR": Decimal("0.00")}


def test_parallel_refunds_of_one_order_never_exceed_what_was_paid(db: Database, clock: ManualClock) -> None:
    take(db, clock, "ord-1", "100.00", [{"method": "card", "amount": "60.00"}, {"method": "cash", "amount": "40.00"}])

    outcomes = _race(lambda _i: str(refund(db, clock, "ord-1", "20.00", "original")["amount"]))

    assert sorted(outcomes) == ["20.00"] * 5 + ["refund_exceeds_paid"] * 11
    state = payments_of(db, "ord-1")
    assert state["refunded"] == Decimal("100.00")
    assert [p["refunded"] for p in state["payments"]] == [Decimal("60.00"), Decimal("40.00")]
