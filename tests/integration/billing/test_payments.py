from decimal import Decimal

import pytest
from tests.integration.billing.helpers import amounts, customer, events, payments_of, take, wallet

from omnihub.billing import service
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.core.errors import DomainError


def test_split_tender_pays_the_order_and_says_so_once(db: Database, clock: ManualClock) -> None:
    ana = customer(db, clock, "ana@correo.es", credit="30.00")

    result = take(db, clock, "ord-1", "100.00", [
        {"method": "card", "amount": "50.00"}, {"method": "store_credit", "amount": "30.00"},
        {"method": "cash", "amount": Decimal("20.00")},
    ], customer_id=ana)

    assert result["status"] == "paid"
    assert result["paid"] == Decimal("100.00")
    assert amounts(result["payments"]) == [("card", "50.00"), ("store_credit", "30.00"), ("cash", "20.00")]
    assert result["taken"] == result["payments"]
    assert wallet(db, clock, ana) == {"EUR": Decimal("0.00")}
    assert events(db, "order.paid") == [{
        "order_id": "ord-1", "customer_id": ana, "currency": "EUR", "total": "100.00", "paid": "100.00",
        "payments": [{"id": p["id"], "method": p["method"], "amount": str(p["amount"])} for p in result["payments"]],
    }]


def test_partial_payments_reach_paid_later_and_the_event_fires_then(db: Database, clock: ManualClock) -> None:
    first = take(db, clock, "ord-b2b", "1000.00", [{"method": "bank_transfer", "amount": "400.00"}])
    with db.transaction() as conn:
        second = service.add_payment(conn, clock, order_id="ord-b2b", customer_id=None, currency="EUR",
                                     total=Decimal("1000.00"), method="bank_transfer", amount="350.00")
    assert events(db, "order.paid") == []
    with db.transaction() as conn:
        last = service.add_payment(conn, clock, order_id="ord-b2b", customer_id=None, currency="EUR",
                                   total=Decimal("1000.00"), method="card", amount="250.00")

    assert (first["status"], first["paid"]) == ("partially_paid", Decimal("400.00"))
    assert (second["status"], second["paid"]) == ("partially_paid", Decimal("750.00"))
    assert (last["status"], last["paid"]) == ("paid", Decimal("1000.00"))
    assert amounts(last["taken"]) == [("card", "250.00")]
    assert amounts(last["payments"]) == [("bank_transfer", "400.00"), ("bank_transfer", "350.00"), ("card", "250.00")]
    assert [e["order_id"] for e in events(db, "order.paid")] == ["ord-b2b"]


def test_order_without_payments_is_unpaid_and_a_free_order_is_paid(db: Database, clock: ManualClock) -> None:
    pending = take(db, clock, "ord-pending", "25.00", [])
    free = take(db, clock, "ord-free", "0.00", [])

    assert (pending["status"], pending["paid"], pending["payments"]) == ("unpaid", Decimal("0.00"), [])
    assert free["status"] == "paid"
    assert [e["order_id"] for e in events(db, "order.paid")] == ["ord-free"]


def test_store_credit_short_of_the_amount_changes_nothing(db: Database, clock: ManualClock) -> None:
    ana = customer(db, clock, "ana@correo.es", credit="10.00")

    with pytest.raises(DomainError) as caught:
        take(db, clock, "ord-1", "50.00", [{"method": "card", "amount": "35.00"},
                                           {"method": "store_credit", "amount": "15.00"}], customer_id=ana)

    assert caught.value.code == "insufficient_store_credit"
    assert caught.value.data == {"balance": "10.0000", "amount": "15.00", "currency": "EUR"}
    assert wallet(db, clock, ana) == {"EUR": Decimal("10.00")}
    assert payments_of(db, "ord-1")["payments"] == []
    assert events(db, "order.paid") == []


@pytest.mark.parametrize(("payments", "customer_id", "code", "field"), [
    ([{"method": "cheque", "amount": "10.00"}], None, "payment_method_unknown", "payments.0.method"),
    ([{"method": "card", "amount": "5"}, {"method": "store_credit", "amount": "5"}], None, "customer_required",
     "payments.1.method"),
    ([{"method": "card", "amount": "60.00"}, {"method": "cash", "amount": "40.01"}], None, "payment_exceeds_total",
     "payments"),
    ([{"method": "card", "amount": "0"}], None, "invalid_amount", "payments.0.amount"),
    ([{"method": "card", "amount": "1.234"}], None, "invalid_amount", "payments.0.amount"),
    ([{"method": "card", "amount": "-5"}], None, "invalid_amount", "payments.0.amount"),
])
def test_bad_payments_are_refused_with_the_field_and_change_nothing(
        db: Database, clock: ManualClock, payments: list, customer_id: str | None, code: str, field: str) -> None:
    with pytest.raises(DomainError) as caught:
        take(db, clock, "ord-1", "100.00", payments, customer_id=customer_id)

    assert (caught.value.code, caught.value.field) == (code, field)
    assert payments_of(db, "ord-1") == {"order_id": "ord-1", "currency": None, "total": None, "status": "unpaid",
                                        "paid": Decimal(0), "refunded": Decimal(0), "payments": [], "refunds": []}


def test_an_inactive_method_takes_no_payment(db: Database, clock: ManualClock) -> None:
    with db.transaction() as conn:
        service.update_payment_method(conn, clock, "crypto", {"active": False})

    with pytest.raises(DomainError) as caught:
        take(db, clock, "ord-1", "10.00", [{"method": "crypto", "amount": "10.00"}])

    assert caught.value.code == "payment_method_unknown"


def test_a_later_payment_cannot_overpay_or_switch_currency(db: Database, clock: ManualClock) -> None:
    take(db, clock, "ord-1", "100.00", [{"method": "card", "amount": "80.00"}])

    with pytest.raises(DomainError) as over, db.transaction() as conn:
        service.add_payment(conn, clock, order_id="ord-1", customer_id=None, currency="EUR",
                            total=Decimal("100.00"), method="cash", amount="20.01")
    with pytest.raises(DomainError) as currency, db.transaction() as conn:
        service.add_payment(conn, clock, order_id="ord-1", customer_id=None, currency="USD",
                            total=Decimal("100.00"), method="cash", amount="1.00")

    assert (over.value.code, over.value.field) == ("payment_exceeds_total", "amount")
    assert over.value.data["paid"] == "80.00"
    assert currency.value.code == "currency_mismatch"
    assert payments_of(db, "ord-1")["paid"] == Decimal("80.00")


def test_store_credit_for_an_unknown_customer_is_not_found(db: Database, clock: ManualClock) -> None:
    with pytest.raises(DomainError) as caught:
        take(db, clock, "ord-1", "10.00", [{"method": "store_credit", "amount": "10.00"}], customer_id="cus_ghost")

    assert (caught.value.code, caught.value.field) == ("customer_not_found", "customer_id")


def test_tax_rates_for_gives_fractions_and_refuses_a_missing_rate(db: Database, clock: ManualClock) -> None:
    with db.read() as conn:
        rates = service.tax_rates_for(conn, "ES", ["standard", "reduced", "zero", "standard"])
        with pytest.raises(DomainError) as unknown_class:
            service.tax_rates_for(conn, "ES", ["standard", "luxury"])
        with pytest.raises(DomainError) as unknown_country:
            service.tax_rates_for(conn, "FR", ["standard"])

    assert rates == {"standard": Decimal("0.21"), "reduced": Decimal("0.1"), "zero": Decimal(0)}
    assert (unknown_class.value.code, unknown_class.value.field) == ("tax_rate_missing", "lines")
    assert unknown_class.value.data == {"tax_class": "luxury", "country": "ES"}
    assert unknown_country.value.data == {"tax_class": "standard", "country": "FR"}
