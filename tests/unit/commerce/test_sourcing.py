"""Sourcing: full fill first, then nearest, then fewest shipments; capacity and shortfalls explained."""

from omnihub.commerce.sourcing import Candidate, distance_km, source_order

WH = Candidate("wh", 40.3456, -3.6985)  # Getafe
MAD = Candidate("mad", 40.4168, -3.7038)
BCN = Candidate("bcn", 41.3874, 2.1686)
VLC = Candidate("vlc", 39.4699, -0.3763)
BARCELONA = (41.40, 2.17)
MADRID = (40.42, -3.70)


def test_distance_is_great_circle_km_and_unknown_without_coordinates() -> None:
    km = distance_km((MAD.lat, MAD.lon), (BCN.lat, BCN.lon))

    assert km is not None and 500 < km < 510
    assert distance_km((MAD.lat, MAD.lon), (MAD.lat, MAD.lon)) == 0
    assert distance_km((None, None), (BCN.lat, BCN.lon)) is None
    assert distance_km((MAD.lat, MAD.lon), (None, None)) is None


def test_one_location_that_fills_everything_beats_a_nearer_one_that_cannot() -> None:
    stock = {("bcn", "TEE"): 2, ("bcn", "MUG"): 5, ("wh", "TEE"): 50, ("wh", "MUG"): 50}

    decision = source_order([("TEE", 3), ("MUG", 1)], [WH, MAD, BCN], stock, BARCELONA)

    assert decision.allocations == [("TEE", "wh", 3), ("MUG", "wh", 1)]
    assert decision.short == {} and decision.complete
    assert decision.explanation["strategy"] == "single_location"
    assert decision.explanation["chosen"] == ["wh"]
    assert decision.explanation["reason"] == "wh can fill every line"


def test_among_locations_that_can_fill_everything_the_nearest_to_the_destination_wins() -> None:
    stock = {(c, sku): 10 for c in ("wh", "mad", "bcn", "vlc") for sku in ("TEE", "MUG")}

    to_barcelona = source_order([("TEE", 1), ("MUG", 2)], [WH, MAD, BCN, VLC], stock, BARCELONA)
    to_madrid = source_order([("TEE", 1), ("MUG", 2)], [WH, MAD, BCN, VLC], stock, MADRID)

    assert to_barcelona.allocations == [("TEE", "bcn", 1), ("MUG", "bcn", 2)]
    assert to_barcelona.explanation["reason"] == "bcn can fill every line and is the nearest of 4 that can"
    assert to_madrid.allocations == [("TEE", "mad", 1), ("MUG", "mad", 2)]


def test_without_a_destination_the_channel_order_decides() -> None:
    stock = {("vlc", "TEE"): 1, ("bcn", "TEE"): 1}

    ranked = [Candidate("vlc", VLC.lat, VLC.lon, rank=0), Candidate("bcn", BCN.lat, BCN.lon, rank=1)]

    decision = source_order([("TEE", 1)], ranked, stock, None)

    assert decision.allocations == [("TEE", "vlc", 1)]
    assert [c["distance_km"] for c in decision.explanation["considered"]] == [None, None]


def test_when_nobody_can_fill_everything_it_splits_over_the_fewest_locations() -> None:
    # The nearest store has a little of everything; two far locations together cover the order.
    near = Candidate("near", 41.39, 2.17)
    far_a = Candidate("far_a", 40.35, -3.70)
    far_b = Candidate("far_b", 39.47, -0.38)
    stock = {("near", "A"): 1, ("near", "B"): 1, ("near", "C"): 1,
             ("far_a", "A"): 3, ("far_a", "B"): 3, ("far_b", "C"): 3}

    decision = source_order([("A", 3), ("B", 3), ("C", 3)], [near, far_a, far_b], stock, BARCELONA)

    assert decision.complete
    assert sorted(decision.allocations) == [("A", "far_a", 3), ("B", "far_a", 3), ("C", "far_b", 3)]
    assert decision.explanation["strategy"] == "split"
    assert sorted(decision.explanation["chosen"]) == ["far_a", "far_b"]
    assert decision.explanation["reason"].startswith("no single location can fill every line; split over 2")


def test_a_split_never_uses_more_locations_than_needed() -> None:
    # bcn covers the most units, but wh + mad cover everything with two shipments, bcn + anything needs three.
    stock = {("wh", "MUG"): 6, ("bcn", "TEE"): 2, ("bcn", "MUG"): 5, ("mad", "TEE"): 3}

    decision = source_order([("TEE", 3), ("MUG", 6)], [WH, MAD, BCN, VLC], stock, BARCELONA)

    assert decision.complete
    assert len(decision.explanation["chosen"]) == 2
    assert sorted(decision.allocations) == [("MUG", "wh", 6), ("TEE", "mad", 3)]
    assert decision.explanation["reason"] == ("no single location can fill every line; split over 2 location(s), "
                                              "the fewest locations that together cover every line, nearest first")


def test_split_units_of_one_sku_add_up_to_what_was_ordered() -> None:
    stock = {("wh", "TEE"): 50, ("mad", "TEE"): 3, ("bcn", "TEE"): 2}

    decision = source_order([("TEE", 53)], [WH, MAD, BCN], stock, BARCELONA)

    assert decision.complete
    assert sum(q for _, _, q in decision.allocations) == 53
    assert sorted(decision.allocations) == [("TEE", "mad", 3), ("TEE", "wh", 50)]


def test_locations_at_daily_capacity_are_skipped_and_listed() -> None:
    full_bcn = Candidate("bcn", BCN.lat, BCN.lon, capacity_left=0)
    roomy_wh = Candidate("wh", WH.lat, WH.lon, capacity_left=5)
    stock = {("bcn", "TEE"): 10, ("wh", "TEE"): 10}

    decision = source_order([("TEE", 1)], [roomy_wh, full_bcn], stock, BARCELONA)

    assert decision.allocations == [("TEE", "wh", 1)]
    assert decision.explanation["skipped_at_capacity"] == ["bcn"]
    assert [c["location"] for c in decision.explanation["considered"]] == ["wh"]
    assert decision.explanation["considered"][0]["capacity_left"] == 5


def test_what_nobody_can_supply_is_reported_short() -> None:
    stock = {("wh", "TEE"): 2, ("mad", "TEE"): 1, ("wh", "MUG"): 4}

    decision = source_order([("TEE", 5), ("MUG", 4)], [WH, MAD], stock, MADRID)

    assert not decision.complete
    assert decision.short == {"TEE": 2}
    assert sorted(decision.allocations) == [("MUG", "wh", 4), ("TEE", "mad", 1), ("TEE", "wh", 2)]


def test_nothing_anywhere_is_all_short_with_no_allocation() -> None:
    decision = source_order([("TEE", 1)], [WH, MAD], {}, MADRID)

    assert decision.allocations == []
    assert decision.short == {"TEE": 1}
    assert decision.explanation["chosen"] == []


def test_the_explanation_lists_every_usable_location_nearest_first() -> None:
    stock = {("wh", "TEE"): 1, ("bcn", "TEE"): 1}

    decision = source_order([("TEE", 1)], [WH, BCN, Candidate("vlc", VLC.lat, VLC.lon, capacity_left=3)], stock,
                            BARCELONA)

    explanation = decision.explanation
    assert set(explanation) == {"strategy", "chosen", "reason", "considered", "skipped_at_capacity"}
    assert [c["location"] for c in explanation["considered"]] == ["bcn", "vlc", "wh"]
    assert [c["can_fill_all"] for c in explanation["considered"]] == [True, False, True]
    assert [c["capacity_left"] for c in explanation["considered"]] == [None, 3, None]
    assert explanation["considered"][0]["distance_km"] < 5
    assert explanation["skipped_at_capacity"] == []
