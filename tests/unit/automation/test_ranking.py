"""Recommendation scoring: cosine co-purchase with shrinkage, category affinity over popularity, exclusions."""

from __future__ import annotations

import pytest

from omnihub.automation import ranking


def test_cosine_keeps_a_best_seller_from_outranking_a_true_companion() -> None:
    # TEE is in 2 orders, both with MUG (in 2 orders) and with BAG (in 100 orders): the same count, unlike cosines
    co = ranking.co_purchase({"TEE": {"MUG": 2, "BAG": 2}}, {"TEE": 2, "MUG": 2, "BAG": 100}, shrink=0.0)
    assert co["MUG"] == pytest.approx(1.0) and co["BAG"] == pytest.approx(2 / (200 ** 0.5))
    assert ranking.co_purchase({"TEE": {"MUG": 1}}, {"TEE": 1, "MUG": 1}, shrink=5.0)["MUG"] == pytest.approx(1 / 6)
    assert ranking.co_purchase({"TEE": {"MUG": 1}}, {"TEE": 1}) == {}  # an unknown count scores nothing


def test_affinity_is_a_share() -> None:
    assert ranking.affinity({"home": 3, "apparel": 1}) == {"home": 0.75, "apparel": 0.25}
    assert ranking.affinity({}) == {}


def test_rank_blends_popularity_co_purchase_and_affinity_and_excludes() -> None:
    popularity = {"A": 100, "B": 90, "C": 10}
    assert [s for s, _ in ranking.rank({}, popularity, {}, {}, set(), 3)] == ["A", "B", "C"]  # cold: popularity
    # B's category is all the person buys: 0.9 + 0.5 * 1.0 * 0.9 > 1.0
    assert [s for s, _ in ranking.rank({}, popularity, {"home": 1.0}, {"B": "home"}, set(), 2)] == ["B", "A"]
    # co-purchase adds W_CO to C (not enough to pass B), and an excluded SKU never shows
    ranked = ranking.rank({"C": 1.0}, popularity, {}, {}, {"A"}, 5)
    assert [s for s, _ in ranked] == ["B", "C"] and ranked[1][1] == pytest.approx(0.1 + ranking.W_CO)
    assert ranking.rank({"D": 1.0}, {}, {}, {}, set(), 5) == [("D", ranking.W_CO)]  # co-purchased, never sold alone


def test_buy_again_is_relative_to_the_most_bought() -> None:
    assert ranking.buy_again({"PAPER": 4, "PEN": 1, "GONE": 0}) == {"PAPER": 1.0, "PEN": 0.25}
    assert ranking.buy_again({}) == {}


def test_for_person_offers_what_they_bought_again_or_leaves_it_out() -> None:
    owned = {"PAPER": 3}
    pairs = {"PAPER": {"PEN": 2}}
    counts = {"PAPER": 2, "PEN": 4}
    popular = {"TOP": 50, "PEN": 4}
    categories = {"PAPER": "paper", "PEN": "art", "TOP": "binders"}
    kept = ranking.for_person(owned, pairs, counts, popular, categories, include_owned=True, limit=5)
    assert set(dict(kept)) == {"TOP", "PAPER", "PEN"}  # bought before, not a best seller: still a candidate
    assert dict(kept)["PAPER"] == pytest.approx(2 / 50 + ranking.W_AFFINITY * 1.0 * 2 / 50 + ranking.W_AGAIN)
    left_out = ranking.for_person(owned, pairs, counts, popular, categories, include_owned=False, limit=5)
    assert [s for s, _ in left_out] == ["TOP", "PEN"]
    assert dict(left_out)["PEN"] == pytest.approx(4 / 50 + ranking.W_CO)  # PEN's co-purchase is the strongest
    # a cold person: the best sellers
    assert ranking.for_person({}, {}, {}, popular, categories, include_owned=True, limit=1) == [("TOP", 1.0)]
