"""Pricing rules for promotions: pure functions, no database."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from omnihub.core.errors import ValidationFailed
from omnihub.promotions.rules import (
    AppliedPromotion,
    Basket,
    BasketLine,
    Promotion,
    apply_promotions,
    check_codes,
    normalise_promotion,
    split_proportionally,
)

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
D = Decimal


def basket(*lines: tuple[str, str, int, str], channel: str = "web", currency: str = "EUR", shipping: str = "0",
           customer_id: str | None = "cus_1", tags: frozenset[str] = frozenset(),
           codes: tuple[str, ...] = ()) -> Basket:
    return Basket(channel=channel, currency=currency, customer_id=customer_id, customer_tags=tags,
                  lines=tuple(BasketLine(sku, category, qty, D(price)) for sku, category, qty, price in lines),
                  shipping=D(shipping), now=NOW, codes=codes)


SHOES_AND_MUG = (("SHOE", "shoes", 1, "60.00"), ("MUG", "home", 2, "20.00"))  # 60 + 40 = 100


def promo(id_: str = "p1", kind: str = "percent", value: str = "10", **fields) -> Promotion:
    return Promotion(id=id_, kind=kind, value=D(value), **fields)


def refusal_of(promotions: dict[str, Promotion], b: Basket, **usage: int) -> dict:
    with pytest.raises(ValidationFailed) as caught:
        check_codes(promotions, b, usage)
    assert caught.value.code == "invalid_promotion_code"
    return {"field": caught.value.field, **caught.value.data}


# --- kinds ---------------------------------------------------------------------------------------------


def test_percent_takes_the_share_of_every_line() -> None:
    discounts = apply_promotions([promo(value="10")], basket(*SHOES_AND_MUG))

    assert discounts.lines == {"SHOE": D("6.00"), "MUG": D("4.00")}
    assert discounts.shipping == D("0.00")
    assert discounts.total == D("10.00")
    assert discounts.applied == (AppliedPromotion("p1", None, "percent", D("10.00")),)


def test_fixed_amount_is_spread_in_proportion_to_the_lines() -> None:
    discounts = apply_promotions([promo(kind="fixed", value="15", currency="EUR")], basket(*SHOES_AND_MUG))

    assert discounts.lines == {"SHOE": D("9.00"), "MUG": D("6.00")}
    assert discounts.total == D("15.00")


def test_fixed_amount_never_exceeds_the_basket() -> None:
    discounts = apply_promotions([promo(kind="fixed", value="500", currency="EUR")], basket(*SHOES_AND_MUG))

    assert discounts.lines == {"SHOE": D("60.00"), "MUG": D("40.00")}
    assert discounts.applied[0].amount == D("100.00")


def test_free_shipping_removes_the_shipping_only() -> None:
    discounts = apply_promotions([promo(kind="free_shipping", value="0")], basket(*SHOES_AND_MUG, shipping="4.95"))

    assert discounts.lines == {"SHOE": D("0.00"), "MUG": D("0.00")}
    assert discounts.shipping == D("4.95")
    assert discounts.applied == (AppliedPromotion("p1", None, "free_shipping", D("4.95")),)


def test_free_shipping_with_nothing_to_ship_is_not_applied() -> None:
    discounts = apply_promotions([promo(kind="free_shipping", value="0")], basket(*SHOES_AND_MUG, shipping="0"))

    assert discounts.applied == ()
    assert discounts.total == D("0.00")


# --- scope ---------------------------------------------------------------------------------------------


def test_product_scope_by_category_discounts_only_those_lines() -> None:
    discounts = apply_promotions([promo(value="50", categories=frozenset({"shoes"}))], basket(*SHOES_AND_MUG))

    assert discounts.lines == {"SHOE": D("30.00"), "MUG": D("0.00")}


def test_product_scope_by_sku_discounts_only_that_sku() -> None:
    discounts = apply_promotions([promo(value="50", skus=frozenset({"MUG"}))], basket(*SHOES_AND_MUG))

    assert discounts.lines == {"SHOE": D("0.00"), "MUG": D("20.00")}


def test_channel_exclusive_promotion_applies_only_in_its_channel() -> None:
    in_store = promo(channels=frozenset({"store"}))

    assert apply_promotions([in_store], basket(*SHOES_AND_MUG, channel="web")).applied == ()
    assert apply_promotions([in_store], basket(*SHOES_AND_MUG, channel="store")).total == D("10.00")


def test_same_promotion_same_price_in_every_channel_it_is_valid_in() -> None:
    everywhere = promo(kind="fixed", value="7.77", currency="EUR")

    prices = {c: apply_promotions([everywhere], basket(*SHOES_AND_MUG, channel=c)).lines
              for c in ("web", "app", "store", "marketplace")}

    assert list(prices.values()) == [{"SHOE": D("4.67"), "MUG": D("3.10")}] * 4


def test_customer_scope_by_id_or_by_tag() -> None:
    vip = promo(customer_ids=frozenset({"cus_9"}), customer_tags=frozenset({"vip"}))

    assert apply_promotions([vip], basket(*SHOES_AND_MUG, customer_id="cus_1")).applied == ()
    assert apply_promotions([vip], basket(*SHOES_AND_MUG, customer_id="cus_9")).total == D("10.00")
    assert apply_promotions([vip], basket(*SHOES_AND_MUG, tags=frozenset({"vip", "b2b"}))).total == D("10.00")
    assert apply_promotions([vip], basket(*SHOES_AND_MUG, customer_id=None)).applied == ()


def test_fixed_amount_in_another_currency_does_not_apply() -> None:
    eur = promo(kind="fixed", value="5", currency="EUR")

    assert apply_promotions([eur], basket(*SHOES_AND_MUG, currency="USD")).applied == ()


# --- window, minimum, limits --------------------------------------------------------------------------


def test_validity_window_start_inclusive_end_exclusive() -> None:
    window = promo(starts_at=NOW, ends_at=NOW + timedelta(days=1))
    b = basket(*SHOES_AND_MUG)

    assert apply_promotions([window], b).total == D("10.00")
    assert apply_promotions([window], replace(b, now=NOW - timedelta(seconds=1))).applied == ()
    assert apply_promotions([window], replace(b, now=NOW + timedelta(days=1))).applied == ()


def test_min_subtotal_counts_the_eligible_lines_only() -> None:
    shoes_over_50 = promo(categories=frozenset({"shoes"}), min_subtotal=D("60.00"), currency="EUR")
    shoes_over_70 = replace(shoes_over_50, min_subtotal=D("70.00"))

    assert apply_promotions([shoes_over_50], basket(*SHOES_AND_MUG)).total == D("6.00")
    assert apply_promotions([shoes_over_70], basket(*SHOES_AND_MUG)).applied == ()


def test_used_up_promotion_does_not_apply() -> None:
    assert apply_promotions([promo(usage_limit=5, used=5)], basket(*SHOES_AND_MUG)).applied == ()
    limited = promo(per_customer_limit=1)
    assert apply_promotions([limited], basket(*SHOES_AND_MUG), {"p1": 1}).applied == ()
    assert apply_promotions([limited], basket(*SHOES_AND_MUG), {"p1": 0}).total == D("10.00")


def test_inactive_promotion_does_not_apply() -> None:
    assert apply_promotions([promo(active=False)], basket(*SHOES_AND_MUG)).applied == ()


# --- stacking ------------------------------------------------------------------------------------------


def test_automatic_promotions_stack_each_on_what_the_previous_left() -> None:
    first = promo("a", value="10", priority=2)
    second = promo("b", value="10", priority=1)

    discounts = apply_promotions([second, first], basket(*SHOES_AND_MUG))

    assert [(a.promotion_id, a.amount) for a in discounts.applied] == [("a", D("10.00")), ("b", D("9.00"))]
    assert discounts.lines == {"SHOE": D("11.40"), "MUG": D("7.60")}


def test_exclusive_promotion_of_highest_priority_applies_alone() -> None:
    exclusive = promo("a", value="30", priority=5, exclusive=True)
    other = promo("b", value="10", priority=1)

    discounts = apply_promotions([other, exclusive], basket(*SHOES_AND_MUG))

    assert [a.promotion_id for a in discounts.applied] == ["a"]
    assert discounts.total == D("30.00")


def test_exclusive_promotion_after_another_is_skipped() -> None:
    first = promo("a", value="10", priority=5)
    exclusive = promo("b", value="30", priority=1, exclusive=True)

    discounts = apply_promotions([first, exclusive], basket(*SHOES_AND_MUG))

    assert [a.promotion_id for a in discounts.applied] == ["a"]


def test_a_code_applies_only_when_given_case_insensitively() -> None:
    coded = promo("c", value="20", code="SPRING20")

    assert apply_promotions([coded], basket(*SHOES_AND_MUG)).applied == ()
    applied = apply_promotions([coded], basket(*SHOES_AND_MUG, codes=("spring20",))).applied
    assert applied == (AppliedPromotion("c", "SPRING20", "percent", D("20.00")),)


def test_code_and_automatic_promotion_stack() -> None:
    automatic = promo("a", kind="free_shipping", value="0")
    coded = promo("c", value="10", code="TEN")

    discounts = apply_promotions([automatic, coded], basket(*SHOES_AND_MUG, shipping="5", codes=("TEN",)))

    assert discounts.total == D("15.00")
    assert [a.promotion_id for a in discounts.applied] == ["c", "a"]


def test_only_one_non_stackable_code_per_order() -> None:
    a = promo("a", value="10", code="AAA")
    b = promo("b", value="10", code="BBB")

    discounts = apply_promotions([a, b], basket(*SHOES_AND_MUG, codes=("AAA", "BBB")))
    problem = refusal_of({"AAA": a, "BBB": b}, basket(*SHOES_AND_MUG, codes=("AAA", "BBB")))

    assert [x.promotion_id for x in discounts.applied] == ["a"]
    assert (problem["field"], problem["reason"]) == ("promotion_codes.0", "not_stackable")


def test_stackable_codes_combine() -> None:
    a = promo("a", value="10", code="AAA", stackable=True)
    b = promo("b", kind="fixed", value="5", currency="EUR", code="BBB", stackable=True)
    b_ = basket(*SHOES_AND_MUG, codes=("AAA", "bbb"))

    check_codes({"AAA": a, "BBB": b}, b_)
    discounts = apply_promotions([a, b], b_)

    assert discounts.total == D("15.00")


def test_the_same_code_twice_counts_once() -> None:
    a = promo("a", value="10", code="AAA")
    b_ = basket(*SHOES_AND_MUG, codes=("AAA", "aaa"))

    check_codes({"AAA": a}, b_)
    assert apply_promotions([a], b_).total == D("10.00")


# --- checking codes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("promotion", "b", "usage", "reason"), [
    (promo(code="XYZ", starts_at=NOW + timedelta(hours=1)), basket(*SHOES_AND_MUG), 0, "not_started"),
    (promo(code="XYZ", ends_at=NOW, starts_at=NOW - timedelta(days=1)), basket(*SHOES_AND_MUG), 0, "expired"),
    (promo(code="XYZ", channels=frozenset({"store"})), basket(*SHOES_AND_MUG), 0, "channel"),
    (promo(code="XYZ", customer_tags=frozenset({"vip"})), basket(*SHOES_AND_MUG), 0, "customer"),
    (promo(code="XYZ", per_customer_limit=1), basket(*SHOES_AND_MUG, customer_id=None), 0, "customer"),
    (promo(code="XYZ", min_subtotal=D("150"), currency="EUR"), basket(*SHOES_AND_MUG), 0, "min_subtotal"),
    (promo(code="XYZ", usage_limit=3, used=3), basket(*SHOES_AND_MUG), 0, "exhausted"),
    (promo(code="XYZ", per_customer_limit=2), basket(*SHOES_AND_MUG), 2, "exhausted"),
    (promo(code="XYZ", active=False), basket(*SHOES_AND_MUG), 0, "inactive"),
    (promo(code="XYZ", kind="fixed", value="5", currency="USD"), basket(*SHOES_AND_MUG), 0, "currency"),
    (promo(code="XYZ", skus=frozenset({"HAT"})), basket(*SHOES_AND_MUG), 0, "not_applicable"),
])
def test_a_code_that_cannot_apply_is_refused_with_its_reason(promotion, b, usage, reason) -> None:
    fine = promo("ok", value="1", code="OK", stackable=True)

    problem = refusal_of({"OK": fine, "XYZ": promotion}, replace(b, codes=("OK", "xyz")), p1=usage)

    assert problem == {"field": "promotion_codes.1", "promotion_code": "XYZ", "reason": reason}


def test_an_unknown_code_is_refused() -> None:
    problem = refusal_of({}, basket(*SHOES_AND_MUG, codes=("nope",)))

    assert problem == {"field": "promotion_codes.0", "promotion_code": "NOPE", "reason": "unknown"}


# --- money ---------------------------------------------------------------------------------------------


def test_proportional_split_sums_exactly_with_the_remainder_on_the_largest_line() -> None:
    shares = split_proportionally(D("10.00"), [D("33.33"), D("33.33"), D("33.34")], "EUR")

    assert shares == [D("3.33"), D("3.33"), D("3.34")]
    assert sum(shares) == D("10.00")


def test_proportional_split_never_puts_more_on_a_line_than_it_costs() -> None:
    shares = split_proportionally(D("2.99"), [D("1.00"), D("1.00"), D("1.00")], "EUR")

    assert shares == [D("1.00"), D("1.00"), D("0.99")]


@pytest.mark.parametrize("amount", ["0.01", "0.07", "1.00", "9.99", "17.35", "99.98"])
def test_proportional_split_always_sums_to_the_amount(amount: str) -> None:
    weights = [D("0.99"), D("12.34"), D("45.67"), D("3.00"), D("37.99")]

    shares = split_proportionally(D(amount), weights, "EUR")

    assert sum(shares) == D(amount)
    assert all(D(0) <= s <= w for s, w in zip(shares, weights, strict=True))


def test_percent_rounds_half_even_once_for_the_whole_basket() -> None:
    b = basket(("A", "x", 1, "0.25"), ("B", "x", 1, "0.10"))  # 10% of 0.35 = 0.035 -> 0.04 (half-even)

    discounts = apply_promotions([promo(value="10")], b)

    assert discounts.total == D("0.04")
    assert discounts.lines == {"A": D("0.03"), "B": D("0.01")}


def test_yen_has_no_minor_units() -> None:
    b = basket(("A", "x", 1, "999"), ("B", "x", 3, "333"), currency="JPY")  # 999 + 999

    discounts = apply_promotions([promo(value="15")], b)  # 299.7 -> 300

    assert discounts.lines == {"A": D("150"), "B": D("150")}
    assert discounts.applied[0].amount == D("300")


def test_three_decimal_currency_keeps_three_places() -> None:
    b = basket(("A", "x", 1, "1.000"), ("B", "x", 2, "1.000"), currency="KWD")

    discounts = apply_promotions([promo(kind="fixed", value="1", currency="KWD")], b)

    assert discounts.lines == {"A": D("0.333"), "B": D("0.667")}


def test_two_lines_of_the_same_sku_add_up() -> None:
    b = basket(("A", "x", 1, "10.00"), ("A", "x", 1, "30.00"))

    assert apply_promotions([promo(value="10")], b).lines == {"A": D("4.00")}


# --- validating a new promotion ------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "code", "field"), [
    ({"kind": "percent", "value": D("0")}, "invalid_value", "value"),
    ({"kind": "percent", "value": D("100.01")}, "invalid_value", "value"),
    ({"kind": "fixed", "value": D("5")}, "currency_required", "currency"),
    ({"kind": "fixed", "value": D("5.001"), "currency": "EUR"}, "invalid_amount", "value"),
    ({"kind": "free_shipping", "value": D("5")}, "invalid_value", "value"),
    ({"kind": "percent", "value": D("5"), "min_subtotal": D("10")}, "currency_required", "currency"),
    ({"kind": "percent", "value": D("5"), "starts_at": NOW, "ends_at": NOW}, "invalid_window", "ends_at"),
    ({"kind": "percent", "value": D("5"), "usage_limit": 0}, "invalid_limit", "usage_limit"),
    ({"kind": "percent", "value": D("5"), "per_customer_limit": 0}, "invalid_limit", "per_customer_limit"),
    ({"kind": "percent", "value": D("5"), "code": "no spaces"}, "invalid_code", "code"),
])
def test_invalid_promotions_are_refused(data: dict, code: str, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        normalise_promotion(data, NOW)

    assert (caught.value.code, caught.value.field) == (code, field)


def test_a_new_promotion_is_normalised() -> None:
    values = normalise_promotion({"kind": "fixed", "value": D("5"), "currency": "EUR", "code": "Spring-5",
                                  "channels": ["web", "store", "web"]}, NOW)

    assert (values["code"], values["value"], values["starts_at"], values["channels"]) == (
        "SPRING-5", D("5.00"), NOW, ["store", "web"])
