from datetime import UTC, datetime, timedelta

import pytest

from omnihub.core.errors import Conflict, ValidationFailed
from omnihub.inventory.rules import (
    Level,
    available_for_channel,
    channel_availability,
    ensure_active,
    find_drift,
    merge_lines,
    plan_allocation,
    quota_consumption,
    reservation_expiry,
    withhold_buffer,
)


def test_free_units_subtract_reserved_and_safety_stock_and_never_go_negative() -> None:
    assert Level("a", on_hand=10, reserved=3, safety_stock=2).free == 5
    assert Level("a", on_hand=2, reserved=1, safety_stock=5).free == 0


def test_units_ring_fenced_for_other_channels_are_not_available() -> None:
    level = Level("a", on_hand=20, reserved=0, safety_stock=0, ring_fenced=10)

    assert available_for_channel(level, own_quota=0) == 10
    assert available_for_channel(level, own_quota=10) == 20
    assert available_for_channel(level, own_quota=4) == 14


def test_channel_availability_sums_its_locations_and_holds_back_the_buffer() -> None:
    levels = {"wh": Level("wh", 10, 2), "s1": Level("s1", 5, 0, safety_stock=1), "s2": Level("s2", 50, 0)}

    view = channel_availability(levels, {}, ["wh", "s1", "missing"], buffer=3)

    assert view.locations == {"wh": 8, "s1": 4, "missing": 0}
    assert view.available == 9


def test_channel_availability_is_never_negative() -> None:
    view = channel_availability({"wh": Level("wh", 1, 0)}, {}, ["wh"], buffer=5)

    assert view.available == 0


def test_a_buffer_comes_off_the_least_preferred_locations_first() -> None:
    available = {"store": 2, "wh": 5, "far": 1}

    assert withhold_buffer(available, ["store", "wh", "far"], 3) == {"store": 2, "wh": 3, "far": 0}
    assert withhold_buffer(available, ["store", "wh", "far"], 0) == available
    assert withhold_buffer(available, ["store", "wh", "far"], 99) == {"store": 0, "wh": 0, "far": 0}
    assert withhold_buffer({"wh": 4}, ["store", "wh"], 1) == {"wh": 3}  # a location with no level is skipped


def test_plan_prefers_one_location_that_fills_everything() -> None:
    assert plan_allocation(3, [("a", 2), ("b", 5), ("c", 1)]) == [("b", 3)]


def test_plan_spreads_between_locations_that_can_each_fill() -> None:
    candidates = [("a", 5), ("b", 5), ("c", 5)]

    chosen = {plan_allocation(1, candidates, spread=s)[0][0] for s in range(3)}

    assert chosen == {"a", "b", "c"}


def test_plan_splits_from_largest_holdings_when_no_single_location_can() -> None:
    assert plan_allocation(7, [("a", 2), ("b", 4), ("c", 3)]) == [("b", 4), ("c", 3)]


def test_plan_falls_short_rather_than_inventing_stock() -> None:
    plan = plan_allocation(10, [("a", 2), ("b", 0), ("c", 3)])

    assert sum(q for _, q in plan) == 5


def test_claims_use_the_channels_ring_fenced_units_first() -> None:
    assert quota_consumption(own_quota=4, quantity=3) == 3
    assert quota_consumption(own_quota=4, quantity=9) == 4
    assert quota_consumption(own_quota=0, quantity=9) == 0


def test_merge_lines_adds_repeats_and_orders_by_sku() -> None:
    assert merge_lines([("b", 1), ("a", 2), ("b", 3)]) == [("a", 2), ("b", 4)]


def test_merge_lines_rejects_non_positive_quantities() -> None:
    with pytest.raises(ValidationFailed) as caught:
        merge_lines([("a", 0)])

    assert caught.value.code == "invalid_quantity"


def test_expiry_is_now_plus_ttl_within_bounds() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)

    assert reservation_expiry(now, 60) == now + timedelta(seconds=60)
    with pytest.raises(ValidationFailed):
        reservation_expiry(now, 0)


def test_only_active_reservations_can_change() -> None:
    ensure_active("r1", "active")
    with pytest.raises(Conflict) as caught:
        ensure_active("r1", "committed")

    assert caught.value.code == "reservation_not_active"


def test_drift_names_every_check_that_disagrees() -> None:
    level = Level("wh", on_hand=10, reserved=2, ring_fenced=1)

    drifts = find_drift(level, "SKU", ledger_on_hand=9, ledger_reserved=2, live_reserved=3, quota_units=1)

    assert [(d.check, d.expected, d.actual) for d in drifts] == [("ledger_on_hand", 9, 10), ("live_reservations", 3, 2)]
    assert find_drift(level, "SKU", 10, 2, 2, 1) == []
