"""The order state machine, money splitting, line amounts, cumulative refunds and order numbers."""

from decimal import Decimal

import pytest

from omnihub.commerce.rules import (
    STATUSES,
    after_fulfilment,
    after_return,
    line_amounts,
    order_number,
    quantize,
    refund_for,
    shipping_amounts,
    split_amount,
    transition,
)
from omnihub.core.errors import Conflict, ErrorKind

D = Decimal

# The contract, written out by hand: every move an order may make.
LEGAL = {
    ("draft", "pending_payment"), ("draft", "paid"), ("draft", "cancelled"), ("draft", "awaiting_payment"),
    ("pending_payment", "paid"), ("pending_payment", "cancelled"), ("pending_payment", "awaiting_payment"),
    ("awaiting_payment", "paid"), ("awaiting_payment", "cancelled"),
    ("paid", "ready_for_pickup"), ("paid", "partially_shipped"), ("paid", "shipped"), ("paid", "collected"),
    ("paid", "cancelled"),
    ("ready_for_pickup", "collected"), ("ready_for_pickup", "cancelled"),
    ("partially_shipped", "partially_shipped"), ("partially_shipped", "shipped"),
    ("shipped", "delivered"), ("shipped", "partially_returned"), ("shipped", "returned"),
    ("delivered", "partially_returned"), ("delivered", "returned"),
    ("collected", "partially_returned"), ("collected", "returned"),
    ("partially_returned", "partially_returned"), ("partially_returned", "returned"),
}
ILLEGAL = sorted((a, b) for a in STATUSES for b in STATUSES if (a, b) not in LEGAL)


def test_the_state_machine_knows_every_status_of_the_issue() -> None:
    assert set(STATUSES) == {"draft", "pending_payment", "awaiting_payment", "paid", "ready_for_pickup",
                             "partially_shipped", "shipped",
                             "delivered", "collected", "partially_returned", "returned", "cancelled"}


@pytest.mark.parametrize(("current", "wanted"), sorted(LEGAL))
def test_every_legal_transition_is_accepted(current: str, wanted: str) -> None:
    assert transition("ord_1", current, wanted) == wanted


@pytest.mark.parametrize(("current", "wanted"), ILLEGAL)
def test_every_other_transition_is_a_409_illegal_transition(current: str, wanted: str) -> None:
    with pytest.raises(Conflict) as raised:
        transition("ord_1", current, wanted)

    error = raised.value
    assert error.code == "illegal_transition"
    assert error.kind is ErrorKind.CONFLICT  # 409 through the app's one error handler
    assert error.data == {"order": "ord_1", "current_status": current, "wanted_status": wanted}


def test_terminal_statuses_go_nowhere_and_shipped_goods_cannot_be_cancelled() -> None:
    for terminal in ("returned", "cancelled"):
        assert all((terminal, b) not in LEGAL for b in STATUSES)
    for gone in ("partially_shipped", "shipped", "delivered", "collected", "partially_returned"):
        assert (gone, "cancelled") in ILLEGAL


def test_an_unknown_status_cannot_move() -> None:
    with pytest.raises(Conflict):
        transition("ord_1", "lost", "paid")


def test_after_fulfilment_is_shipped_only_when_every_unit_left() -> None:
    assert after_fulfilment([(2, 2), (1, 1)]) == "shipped"
    assert after_fulfilment([(2, 2), (1, 0)]) == "partially_shipped"
    assert after_fulfilment([(3, 1)]) == "partially_shipped"


def test_after_return_is_returned_only_when_every_unit_came_back() -> None:
    assert after_return([(2, 2), (1, 1)]) == "returned"
    assert after_return([(2, 1), (1, 1)]) == "partially_returned"
    assert after_return([(1, 0), (1, 1)]) == "partially_returned"


def test_quantize_rounds_half_even_to_the_currency_minor_units() -> None:
    assert quantize(D("2.345"), "EUR") == D("2.34")
    assert quantize(D("2.355"), "EUR") == D("2.36")
    assert str(quantize(D("100.5"), "JPY")) == "100"
    assert str(quantize(D("1.2345"), "KWD")) == "1.234"


@pytest.mark.parametrize(("amount", "weights", "currency", "parts"), [
    (D("10.00"), [1, 1, 1], "EUR", [D("3.34"), D("3.33"), D("3.33")]),
    (D("10.00"), [1, 2], "EUR", [D("3.33"), D("6.67")]),
    (D("0.01"), [1, 1], "EUR", [D("0.01"), D("0.00")]),
    (D("100"), [1, 1, 1], "JPY", [D("34"), D("33"), D("33")]),
    (D("1000"), [3, 5, 7], "JPY", [D("200"), D("333"), D("467")]),
    (D("66.00"), [5, 1], "EUR", [D("55.00"), D("11.00")]),
])
def test_split_amount_shares_by_weight_and_adds_up_exactly(amount: Decimal, weights: list[int], currency: str,
                                                            parts: list[Decimal]) -> None:
    split = split_amount(amount, weights, currency)

    assert split == parts
    assert sum(split) == amount


def test_split_amount_in_jpy_has_no_decimals() -> None:
    split = split_amount(D("1001"), [1, 1, 1, 1, 1, 1, 1], "JPY")

    assert sum(split) == D("1001")
    assert all(part == part.to_integral_value() for part in split)
    assert sorted(split) == [D("143")] * 7


def test_split_amount_of_nothing_over_no_weight() -> None:
    assert split_amount(D("0.00"), [0, 0], "EUR") == [D(0), D(0)]


def test_line_amounts_with_tax_included_prices_take_the_tax_out_of_the_gross() -> None:
    amounts = line_amounts(D("20.00"), 2, D("0"), D("21"), True, "EUR")

    assert (amounts.net, amounts.tax, amounts.gross) == (D("33.06"), D("6.94"), D("40.00"))
    assert amounts.net + amounts.tax == amounts.gross


def test_line_amounts_with_net_prices_add_the_tax_on_top() -> None:
    amounts = line_amounts(D("20.00"), 2, D("0"), D("21"), False, "EUR")

    assert (amounts.net, amounts.tax, amounts.gross) == (D("40.00"), D("8.40"), D("48.40"))


def test_line_amounts_take_the_discount_before_tax() -> None:
    included = line_amounts(D("11.00"), 3, D("3.00"), D("10"), True, "EUR")
    excluded = line_amounts(D("11.00"), 3, D("3.00"), D("10"), False, "EUR")

    assert (included.net, included.tax, included.gross) == (D("27.27"), D("2.73"), D("30.00"))
    assert (excluded.net, excluded.tax, excluded.gross) == (D("30.00"), D("3.00"), D("33.00"))


def test_line_amounts_at_zero_rate_and_in_jpy() -> None:
    zero = line_amounts(D("9.99"), 1, D("0"), D("0"), True, "EUR")
    yen = line_amounts(D("1000"), 3, D("0"), D("10"), True, "JPY")

    assert (zero.net, zero.tax, zero.gross) == (D("9.99"), D("0.00"), D("9.99"))
    assert (str(yen.net), str(yen.tax), str(yen.gross)) == ("2727", "273", "3000")


def test_partial_returns_refund_cumulatively_and_add_up_to_the_line_total() -> None:
    first = refund_for(D("10.00"), 3, 1, 0, "EUR")
    second = refund_for(D("10.00"), 3, 1, 1, "EUR")
    third = refund_for(D("10.00"), 3, 1, 2, "EUR")

    assert (first, second, third) == (D("3.33"), D("3.34"), D("3.33"))
    assert first + second + third == D("10.00")


def test_refund_of_the_whole_line_at_once_is_the_line_total() -> None:
    assert refund_for(D("59.97"), 3, 3, 0, "EUR") == D("59.97")
    assert refund_for(D("59.97"), 3, 2, 1, "EUR") == D("59.97") - refund_for(D("59.97"), 3, 1, 0, "EUR")


def test_partial_refunds_in_jpy_add_up_in_whole_yen() -> None:
    parts = [refund_for(D("1000"), 7, 2, 0, "JPY"), refund_for(D("1000"), 7, 4, 2, "JPY"),
             refund_for(D("1000"), 7, 1, 6, "JPY")]

    assert [str(p) for p in parts] == ["286", "571", "143"]
    assert sum(parts) == D("1000")


def test_order_numbers_are_the_channel_code_and_six_digits() -> None:
    assert order_number("web", 1) == "WEB-000001"
    assert order_number("market", 42) == "MARKET-000042"
    assert order_number("b2b", 1234567) == "B2B-1234567"


def test_shipping_is_taxed_at_the_highest_rate_of_the_goods_it_carries() -> None:
    rate, gross_priced = shipping_amounts(Decimal("4.95"), Decimal(0), [Decimal(10), Decimal(21)], True, "EUR")
    net_rate, net_priced = shipping_amounts(Decimal("5.00"), Decimal(0), [Decimal(4)], False, "EUR")

    assert rate == Decimal(21)
    assert (gross_priced.net, gross_priced.tax, gross_priced.gross) == (Decimal("4.09"), Decimal("0.86"),
                                                                          Decimal("4.95"))
    assert net_rate == Decimal(4)
    assert (net_priced.net, net_priced.tax, net_priced.gross) == (Decimal("5.00"), Decimal("0.20"), Decimal("5.20"))


def test_free_or_discounted_shipping_carries_tax_only_on_what_is_charged() -> None:
    _, free = shipping_amounts(Decimal("4.95"), Decimal("4.95"), [Decimal(21)], True, "EUR")
    _, half = shipping_amounts(Decimal("10.00"), Decimal("5.00"), [Decimal(21)], False, "EUR")
    _, over = shipping_amounts(Decimal("4.95"), Decimal("9.00"), [Decimal(21)], True, "EUR")  # never negative
    no_goods_rate, _ = shipping_amounts(Decimal("4.95"), Decimal(0), [], True, "EUR")

    assert (free.tax, free.gross) == (Decimal(0), Decimal(0))
    assert (half.net, half.tax, half.gross) == (Decimal("5.00"), Decimal("1.05"), Decimal("6.05"))
    assert (over.tax, over.gross) == (Decimal(0), Decimal(0))
    assert no_goods_rate == Decimal(0)
