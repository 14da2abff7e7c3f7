"""Pure analytics rules: periods, buckets, NPS, and the CLV models against published and synthetic figures."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import numpy as np
import pytest

from omnihub.analytics import rules
from omnihub.core.errors import ValidationFailed

# Fader, Hardie & Lee (2005), "Counting your customers the easy way", section 5: the BG/NBD fitted to the CDNOW
# sample of 2,357 customers (weeks), and their worked example — a customer with x = 2, t_x = 30.43, T = 38.86
# is expected to make 1.226 purchases in the next 39 weeks.
CDNOW = rules.BgNbd(r=0.243, alpha=4.414, a=0.793, b=2.426)


def test_bgnbd_reproduces_the_published_cdnow_example() -> None:
    expected = rules.bgnbd_expected(CDNOW, 39, np.array([2.0]), np.array([30.43]), np.array([38.86]))
    assert round(float(expected[0]), 3) == 1.226


def test_p_alive_is_one_without_repeat_purchases_and_falls_with_silence() -> None:
    alive = rules.bgnbd_alive(CDNOW, np.array([0.0, 2.0, 2.0]), np.array([0.0, 30.0, 5.0]),
                              np.array([38.0, 38.0, 38.0]))
    assert alive[0] == 1.0
    assert 0 < alive[2] < alive[1] < 1


def _simulate_bgnbd(params: rules.BgNbd, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Customers drawn from the BG/NBD story: Poisson purchases at a gamma-distributed rate, and after each
    repeat purchase a beta-distributed chance of leaving for good."""
    rng = np.random.default_rng(seed)
    rates = rng.gamma(params.r, 1 / params.alpha, n)
    drop = rng.beta(params.a, params.b, n)
    ages = rng.uniform(20, 60, n)
    xs, last = np.zeros(n), np.zeros(n)
    for i in range(n):
        t = 0.0
        while True:
            t += rng.exponential(1 / rates[i])
            if t > ages[i]:
                break
            xs[i] += 1
            last[i] = t
            if rng.random() < drop[i]:
                break
    return xs, last, ages


def test_bgnbd_fit_recovers_known_parameters_from_synthetic_customers() -> None:
    truth = rules.BgNbd(r=0.8, alpha=6.0, a=1.5, b=4.0)
    x, t_x, T = _simulate_bgnbd(truth, 6000, seed=11)

    fitted = rules.fit_bgnbd(x, t_x, T)

    for name in ("r", "alpha", "a", "b"):
        assert getattr(fitted, name) == pytest.approx(getattr(truth, name), rel=0.3), name
    # It is the maximum: the fitted likelihood is at least the true parameters' one.
    assert rules.bgnbd_log_likelihood(fitted, x, t_x, T).sum() >= rules.bgnbd_log_likelihood(truth, x, t_x, T).sum()


def test_gamma_gamma_fit_recovers_known_parameters() -> None:
    truth = rules.GammaGamma(p=6.0, q=4.0, gamma=15.0)
    rng = np.random.default_rng(5)
    n = 5000
    nu = rng.gamma(truth.q, 1 / truth.gamma, n)  # each customer's spend scale
    x = rng.integers(1, 8, n).astype(float)
    m = np.array([rng.gamma(truth.p, 1 / nu[i], int(x[i])).mean() for i in range(n)])

    fitted = rules.fit_gamma_gamma(x, m)

    assert fitted.p == pytest.approx(truth.p, rel=0.15)
    assert fitted.q == pytest.approx(truth.q, rel=0.15)
    assert fitted.gamma == pytest.approx(truth.gamma, rel=0.25)


def test_gamma_gamma_expectation_weighs_population_and_own_mean() -> None:
    params = rules.GammaGamma(p=6.25, q=3.74, gamma=15.44)  # FHL 2005b, CDNOW
    population = params.p * params.gamma / (params.q - 1)
    few, many = rules.gamma_gamma_expected(params, np.array([1.0, 50.0]), np.array([100.0, 100.0]))
    assert population < few < many < 100


def test_clv_inputs_in_weeks_from_purchase_days() -> None:
    x, t_x, T, m = rules.clv_inputs([date(2026, 1, 1), date(2026, 1, 15), date(2026, 1, 29)],
                                    [Decimal("10"), Decimal("20"), Decimal("40")], date(2026, 3, 5))
    assert (x, t_x, T, m) == (2, 4.0, 9.0, 30.0)
    assert rules.clv_inputs([date(2026, 1, 1)], [Decimal("10")], date(2026, 1, 8)) == (0, 0.0, 1.0, 0.0)


def test_buckets_cover_the_period_without_holes() -> None:
    start, end = datetime(2026, 1, 30, 12, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC)
    assert rules.buckets(start, end, "month") == [date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)]
    assert rules.buckets(start, datetime(2026, 3, 1, tzinfo=UTC), "month") == [date(2026, 1, 1), date(2026, 2, 1)]
    assert rules.buckets(start, end, "week")[0] == date(2026, 1, 26)  # a Monday
    assert rules.buckets(start, end, "year") == [date(2026, 1, 1)]
    assert len(rules.buckets(start, end, "day")) == 31
    assert rules.periods_between(date(2025, 11, 1), date(2026, 2, 1), "month") == 3


def test_periods_are_checked() -> None:
    now = datetime(2026, 5, 1, tzinfo=UTC)
    assert rules.period(None, None, now) == (datetime(2026, 4, 1, tzinfo=UTC), now)
    assert rules.period(None, None, now, default_days=None) == (None, now)
    with pytest.raises(ValidationFailed) as raised:
        rules.period(now, now, now)
    assert (raised.value.code, raised.value.field) == ("invalid_period", "from")
    with pytest.raises(ValidationFailed):
        rules.period(datetime(1990, 1, 1, tzinfo=UTC), now, now)
    with pytest.raises(ValidationFailed) as raised:
        rules.period(None, datetime(1, 1, 1, tzinfo=UTC), now)  # no "30 days before the year 1"
    assert raised.value.field == "to"
    with pytest.raises(ValidationFailed) as raised:
        rules.period(datetime(1969, 12, 31, tzinfo=UTC), now, now)
    assert raised.value.field == "from"
    with pytest.raises(ValidationFailed):
        rules.period(None, datetime(9999, 12, 31, tzinfo=UTC), now)
    with pytest.raises(ValidationFailed) as raised:
        rules.buckets(datetime(2000, 1, 1, tzinfo=UTC), now, "day")
    assert raised.value.field == "by"


def test_nps_and_shares() -> None:
    assert rules.nps(5, 3, 2) == {"responses": 10, "promoters": 5, "passives": 3, "detractors": 2, "nps": 30.0}
    assert rules.nps(0, 0, 0)["nps"] is None
    assert rules.nps(1, 1, 1)["nps"] == 0.0
    assert rules.nps(2, 0, 1)["nps"] == 33.3
    assert rules.share(1, 3) == "0.3333"
    assert rules.share(1, 0) is None
    assert rules.average(Decimal("10"), 3, 2) == "3.33"
