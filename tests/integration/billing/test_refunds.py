from decimal import Decimal

import pytest
from tests.integration.billing.helpers import amounts, customer, events, payments_of, refund, take, wallet

from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.core.errors import DomainError


def _split_order(db: Database, clock: ManualClock, credit: str = "20.00") -> str:
    """ord-1: 100.00 paid 80.00 by card, then 20.00 from Ana's store credit."""
    ana = customer(db, clock, "ana@correo.es", credit=credit)
    take(db, clock, "ord-1", "100.00", [{"method": "card", "amount": "80.00"},
                                        {"method": "store_credit", "amount": "20.00"}], customer_id=ana)
    return ana


def test_refund_to_original_gives_back_the_latest_payment_first(db: Database, clock: ManualClock) -> None:
    ana = _split_order(db, clock)

    result = refund(db, clock, "ord-1", "30.00", "original", customer_id=ana, return_id="ret-1")

    assert (result["amount"], result["method"], result["return_id"]) == (Decimal("30.00"), "original", "ret-1")
    assert [(r["method"], r["gateway"], str(r["amount"])) for r in result["refunds"]] == [
        ("store_credit", "store_credit", "20.00"), ("card", "manual", "10.00")]
    assert wallet(db, clock, ana) == {"EUR": Decimal("20.00")}
    state = payments_of(db, "ord-1")
    assert (state["status"], state["paid"], state["refunded"]) == ("paid", Decimal("100.00"), Decimal("30.00"))
    assert [(p["method"], str(p["refunded"])) for p in state["payments"]] == [("card", "10.00"),
                                                                             ("store_credit", "20.00")]
    assert amounts(state["refunds"]) == [("store_credit", "20.00"), ("card", "10.00")]
    assert {r["refund_id"] for r in state["refunds"]} == {result["id"]}
    assert events(db, "refund.issued") == [{
        "refund_id": result["id"], "order_id": "ord-1", "return_id": "ret-1", "customer_id": ana, "amount": "30.00",
        "currency": "EUR", "method": "original", "reason": "returned",
        "refunds": [{"payment_id": state["payments"][1]["id"], "method": "store_credit", "amount": "20.00"},
                    {"payment_id": state["payments"][0]["id"], "method": "card", "amount": "10.00"}],
    }]


def test_refund_to_store_credit_credits_the_wallet_whatever_was_paid(db: Database, clock: ManualClock) -> None:
    ana = customer(db, clock, "ana@correo.es")
    take(db, clock, "ord-1", "60.00", [{"method": "card", "amount": "60.00"}], customer_id=ana)

    result = refund(db, clock, "ord-1", "25.00", "store_credit", customer_id=ana)

    assert amounts(result["refunds"]) == [("store_credit", "25.00")]
    assert wallet(db, clock, ana) == {"EUR": Decimal("25.00")}
    assert payments_of(db, "ord-1")["payments"][0]["refunded"] == Decimal("25.00")


def test_refund_by_another_method_is_recorded_against_the_payments(db: Database, clock: ManualClock) -> None:
    take(db, clock, "ord-1", "60.00", [{"method": "card", "amount": "60.00"}])

    result = refund(db, clock, "ord-1", "60.00", "cash")

    assert [(r["method"], r["gateway"], str(r["amount"])) for r in result["refunds"]] == [("cash", "manual", "60.00")]
    assert payments_of(db, "ord-1")["refunded"] == Decimal("60.00")


def test_money_cannot_be_refunded_twice_whichever_way_it_goes(db: Database, clock: ManualClock) -> None:
    ana = _split_order(db, clock)
    refund(db, clock, "ord-1", "70.00", "store_credit", customer_id=ana)
    refund(db, clock, "ord-1", "30.00", "original", customer_id=ana)

    with pytest.raises(DomainError) as caught:
        refund(db, clock, "ord-1", "0.01", "cash")

    assert (caught.value.code, caught.value.field) == ("refund_exceeds_paid", "amount")
    assert caught.value.data == {"refundable": "0.00", "requested": "0.01"}
    assert payments_of(db, "ord-1")["refunded"] == Decimal("100.00")
    assert wallet(db, clock, ana) == {"EUR": Decimal("70.00")}  # the later 30 went back to the card


def test_bad_refunds_are_refused_and_change_nothing(db: Database, clock: ManualClock) -> None:
    ana = _split_order(db, clock)
    failures = {}
    for name, kwargs in {
        "too_much": {"amount": "100.01", "method": "original", "customer_id": ana},
        "no_method": {"amount": "5.00", "method": "cheque", "customer_id": ana},
        "no_customer": {"amount": "5.00", "method": "store_credit", "customer_id": None},
        "bad_amount": {"amount": "-1", "method": "original", "customer_id": ana},
    }.items():
        with pytest.raises(DomainError) as caught:
            refund(db, clock, "ord-1", kwargs.pop("amount"), kwargs.pop("method"), **kwargs)
        failures[name] = (caught.value.code, caught.value.field)

    assert failures == {
        "too_much": ("refund_exceeds_paid", "amount"), "no_method": ("payment_method_unknown", "method"),
        "no_customer": ("customer_required", "customer_id"), "bad_amount": ("invalid_amount", "amount"),
    }
    assert payments_of(db, "ord-1")["refunds"] == []
    assert wallet(db, clock, ana) == {"EUR": Decimal("0.00")}
    assert events(db, "refund.issued") == []


def test_refunding_an_order_that_was_never_paid_is_refused(db: Database, clock: ManualClock) -> None:
    with pytest.raises(DomainError) as caught:
        refund(db, clock, "ord-ghost", "1.00", "original")

    assert caught.value.code == "refund_exceeds_paid"


def test_a_zero_refund_records_nothing(db: Database, clock: ManualClock) -> None:
    take(db, clock, "ord-1", "10.00", [{"method": "card", "amount": "10.00"}])

    result = refund(db, clock, "ord-1", "0", "original")

    assert (result["amount"], result["refunds"]) == (Decimal("0.00"), [])
    assert payments_of(db, "ord-1")["refunds"] == []
    assert events(db, "refund.issued") == []
