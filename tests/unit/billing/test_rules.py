from decimal import Decimal

import pytest

from omnihub.billing.rules import (
    TaxedAmount,
    allocate_refund,
    next_document_number,
    parse_percent,
    percent_to_rate,
    round_money,
    split_tender_status,
    tax_line,
)
from omnihub.core.errors import ValidationFailed

D = Decimal


# ---- tax_line ----------------------------------------------------------------------------------------------


def test_net_price_adds_tax_on_top() -> None:
    assert tax_line(D("100.00"), D("0.21"), False, "EUR") == TaxedAmount(D("100.00"), D("21.00"), D("121.00"))


def test_gross_price_contains_the_tax() -> None:
    assert tax_line(D("121.00"), D("0.21"), True, "EUR") == TaxedAmount(D("100.00"), D("21.00"), D("121.00"))


def test_gross_price_tax_is_rounded_per_line_and_net_takes_the_rest() -> None:
    # 19.99 - 19.99 / 1.21 = 3.4693… → 3.47
    assert tax_line(D("19.99"), D("0.21"), True, "EUR") == TaxedAmount(D("16.52"), D("3.47"), D("19.99"))


def test_net_price_tax_rounds_half_to_even() -> None:
    # 0.25 * 0.10 = 0.025 → 0.02 (even), 0.35 * 0.10 = 0.035 → 0.04 (even)
    assert tax_line(D("0.25"), D("0.10"), False, "EUR").tax == D("0.02")
    assert tax_line(D("0.35"), D("0.10"), False, "EUR").tax == D("0.04")


def test_zero_rate_has_no_tax() -> None:
    assert tax_line(D("9.99"), D("0"), True, "EUR") == TaxedAmount(D("9.99"), D("0.00"), D("9.99"))


def test_currency_without_minor_units_rounds_to_whole_units() -> None:
    assert tax_line(D("1000"), D("0.10"), True, "JPY") == TaxedAmount(D("909"), D("91"), D("1000"))


def test_three_decimal_currency_keeps_three_places() -> None:
    assert tax_line(D("10.000"), D("0.10"), False, "BHD") == TaxedAmount(D("10.000"), D("1.000"), D("11.000"))


def test_net_plus_tax_is_always_the_gross() -> None:
    for cents in range(1, 2000, 7):
        taxed = tax_line(D(cents) / 100, D("0.21"), True, "EUR")
        assert taxed.net + taxed.tax == taxed.gross == D(cents) / 100


def test_negative_rate_is_refused() -> None:
    with pytest.raises(ValueError):
        tax_line(D("10"), D("-0.01"), True, "EUR")


def test_percent_becomes_a_fraction() -> None:
    assert percent_to_rate(D("21.00")) == D("0.21")
    assert percent_to_rate(D("5.5")) == D("0.055")


@pytest.mark.parametrize("value", ["21.00", "0", "100", "8.8750"])
def test_valid_percentages_parse(value: str) -> None:
    assert parse_percent(value) == D(value)


@pytest.mark.parametrize("value", ["-1", "100.01", "abc", "NaN", "1.00001"])
def test_invalid_percentages_are_refused(value: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_percent(value)
    assert caught.value.code == "invalid_tax_rate"


def test_round_money_is_half_even_to_minor_units() -> None:
    assert round_money(D("2.345"), "EUR") == D("2.34")
    assert round_money(D("2.355"), "EUR") == D("2.36")


# ---- allocate_refund ---------------------------------------------------------------------------------------


def test_refund_comes_from_the_most_recent_payment_first() -> None:
    payments = [("p1", "card", D("50.00"), D("0")), ("p2", "store_credit", D("20.00"), D("0"))]

    assert allocate_refund(payments, D("30.00")) == [("p2", D("20.00")), ("p1", D("10.00"))]


def test_refund_within_the_last_payment_touches_only_it() -> None:
    payments = [("p1", "card", D("50.00"), D("0")), ("p2", "cash", D("20.00"), D("0"))]

    assert allocate_refund(payments, D("5.00")) == [("p2", D("5.00"))]


def test_refund_skips_what_was_already_refunded() -> None:
    payments = [("p1", "card", D("50.00"), D("0")), ("p2", "cash", D("20.00"), D("20.00"))]

    assert allocate_refund(payments, D("10.00")) == [("p1", D("10.00"))]


def test_refund_of_everything_returns_each_payment_in_full() -> None:
    payments = [("p1", "card", D("50.00"), D("10.00")), ("p2", "cash", D("20.00"), D("0"))]

    assert allocate_refund(payments, D("60.00")) == [("p2", D("20.00")), ("p1", D("40.00"))]


def test_refund_beyond_what_is_left_is_refused() -> None:
    payments = [("p1", "card", D("50.00"), D("45.00"))]

    with pytest.raises(ValidationFailed) as caught:
        allocate_refund(payments, D("5.01"))
    assert caught.value.code == "refund_exceeds_paid"
    assert caught.value.data == {"refundable": "5.00", "requested": "5.01"}


def test_zero_refund_allocates_nothing() -> None:
    assert allocate_refund([("p1", "card", D("50.00"), D("0"))], D("0")) == []


def test_refund_with_no_payments_is_refused() -> None:
    with pytest.raises(ValidationFailed):
        allocate_refund([], D("1.00"))


# ---- split_tender_status -----------------------------------------------------------------------------------


def test_status_follows_what_was_paid() -> None:
    assert split_tender_status(D("100.00"), D("0")) == "unpaid"
    assert split_tender_status(D("100.00"), D("0.01")) == "partially_paid"
    assert split_tender_status(D("100.00"), D("99.99")) == "partially_paid"
    assert split_tender_status(D("100.00"), D("100.00")) == "paid"


def test_nothing_due_is_paid() -> None:
    assert split_tender_status(D("0"), D("0")) == "paid"


# ---- next_document_number ----------------------------------------------------------------------------------


def test_document_number_pads_to_six_digits() -> None:
    assert next_document_number("INV-2026", 123) == "INV-2026-000123"
    assert next_document_number("CN-2026", 1) == "CN-2026-000001"


def test_document_number_grows_past_six_digits() -> None:
    assert next_document_number("INV", 1234567) == "INV-1234567"


def test_document_numbers_start_at_one() -> None:
    with pytest.raises(ValueError):
        next_document_number("INV", 0)


@pytest.mark.parametrize("series", ["", "INV 2026", "-INV", "X" * 33, "INV/2026"])
def test_bad_series_is_refused(series: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        next_document_number(series, 1)
    assert caught.value.code == "invalid_series"
