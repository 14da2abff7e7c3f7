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
