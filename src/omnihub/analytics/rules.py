"""Pure analytics logic: periods and buckets, shares, NPS, and the customer-lifetime-value models.

The CLV models are the published ones, fitted by maximum likelihood with scipy:
- BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way", Marketing Science 24(2)) for how
  many purchases a customer will make: parameters r, alpha (purchase rate, gamma-distributed) and a, b (the
  chance of dropping out after each purchase, beta-distributed). Per customer it needs x (repeat purchases),
  t_x (time of the last purchase, from the first) and T (time since the first purchase).
- Gamma-Gamma (Fader, Hardie & Lee 2005, "RFM and CLV: using iso-value curves", JMR 42(4); the spend model of
  Colombo & Jiang 1999) for how much a purchase is worth: parameters p, q, gamma over the mean value m_x of a
  customer's x repeat purchases.
No I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING

from omnihub.analytics import errors

if TYPE_CHECKING:  # numpy and scipy are imported where the models run: a server starts without them
    import numpy as np

DEFAULT_DAYS = 30
MAX_DAYS = 366 * 20
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)  # periods stay where calendars and clocks make sense
LATEST = datetime(2999, 12, 31, tzinfo=UTC)
BUCKETS = ("day", "week", "month", "year")
METRICS = ("revenue", "orders", "units", "customers")
SPLITS = ("channel", "location")
COHORT_PERIODS = ("month", "year")
# Orders that count as sales: money taken, not cancelled. Drafts and unpaid orders are not sales yet.
SOLD_STATUSES = ("paid", "ready_for_pickup", "partially_shipped", "shipped", "delivered", "collected",
                 "partially_returned", "returned")
SESSION_GAP_MINUTES = 30
# Behavioural events that are answers or message reactions, not a visit: they open no session.
NOT_A_VISIT = ("nps_answered", "survey_answered", "message_opened", "message_clicked")
NPS_EVENT = "nps_answered"
CLV_HORIZON_DAYS = 365


# ---- periods ---------------------------------------------------------------------------------------------------


def utc(moment: datetime) -> datetime:
    """An aware UTC datetime (a naive one is taken as UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def period(start: datetime | None, end: datetime | None, now: datetime, *, default_days: int | None = DEFAULT_DAYS
           ) -> tuple[datetime | None, datetime]:
    """[start, end) in UTC. Without `to` it ends now; without `from` it starts `default_days` before the end (the
    dashboard's default period), or is open (None: all history) when default_days is None."""
    end = utc(end) if end else utc(now)
    if not EARLIEST < end <= LATEST:
        raise errors.invalid_period(f"'to' must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}.", "to")
    if start is not None:
        start = utc(start)
        if not start >= EARLIEST:
            raise errors.invalid_period(f"'from' must be after {EARLIEST:%Y-%m-%d}.", "from")
    elif default_days is not None:
        start = end - timedelta(days=default_days)
    if start is not None:
        if start >= end:
            raise errors.invalid_period("'from' must be before 'to'.", "from")
        if end - start > timedelta(days=MAX_DAYS):
            raise errors.invalid_period(f"A period covers at most {MAX_DAYS} days.", "from")
    return start, end


def choose(field: str, value: str | None, allowed: tuple[str, ...], default: str | None = None) -> str | None:
    if value is None:
        return default
    if value not in allowed:
        raise errors.invalid_choice(field, value, allowed)
    return value


def bucket_start(moment: datetime | date, by: str) -> date:
    """The first day of the bucket a moment falls in (weeks start on Monday, as ISO weeks do)."""
    day = moment.date() if isinstance(moment, datetime) else moment
    if by == "day":
        return day
    if by == "week":
        return day - timedelta(days=day.weekday())
    if by == "month":
        return day.replace(day=1)
    return day.replace(month=1, day=1)


def next_bucket(day: date, by: str) -> date:
    if by == "day":
        return day + timedelta(days=1)
    if by == "week":
        return day + timedelta(days=7)
    if by == "month":
        return date(day.year + (day.month == 12), day.month % 12 + 1, 1)
    return date(day.year + 1, 1, 1)


def buckets(start: datetime, end: datetime, by: str, *, limit: int = 5000) -> list[date]:
    """Every bucket that [start, end) touches, in order (a chart's x axis has no holes)."""
    last = end - timedelta(microseconds=1)
    out = [bucket_start(start, by)]
    while True:
        following = next_bucket(out[-1], by)
        if following > last.date():
            return out
        out.append(following)
        if len(out) > limit:
            raise errors.invalid_period(f"More than {limit} {by} buckets: choose a larger 'by'.", "by")


def periods_between(first: date, later: date, by: str) -> int:
    """How many cohort periods (months or years) `later` is after `first`."""
    if by == "year":
        return later.year - first.year
    return (later.year - first.year) * 12 + later.month - first.month


def label(day: date, by: str) -> str:
    return day.strftime("%Y-%m") if by == "month" else day.strftime("%Y") if by == "year" else day.isoformat()


# ---- numbers ---------------------------------------------------------------------------------------------------


def share(part: int | Decimal, whole: int | Decimal, places: int = 4) -> str | None:
    """part ÷ whole as a decimal string (None when whole is 0)."""
    if not whole:
        return None
    return str((Decimal(part) / Decimal(whole)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN))


def average(amount: Decimal, count: int, currency_places: int) -> str | None:
    """A money average in the currency's minor units (None when nothing to average)."""
    if not count:
        return None
    return str((Decimal(amount) / count).quantize(Decimal(1).scaleb(-currency_places), rounding=ROUND_HALF_EVEN))


def nps(promoters: int, passives: int, detractors: int) -> dict[str, object]:
    """Net Promoter Score: % promoters (9-10) minus % detractors (0-6), from -100 to 100, one decimal."""
    answers = promoters + passives + detractors
    score = None
    if answers:
        score = float((Decimal(100 * (promoters - detractors)) / answers).quantize(Decimal("0.1"),
                                                                                   rounding=ROUND_HALF_EVEN))
    return {"responses": answers, "promoters": promoters, "passives": passives, "detractors": detractors,
            "nps": score}


# ---- BG/NBD ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BgNbd:
    r: float
    alpha: float
    a: float
    b: float


@dataclass(frozen=True)
class GammaGamma:
    p: float
    q: float
    gamma: float


def bgnbd_log_likelihood(params: BgNbd, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Each customer's log-likelihood (FHL 2005, equation 6)."""
    import numpy as np
    from scipy import special

    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    a2 = special.betaln(a, b + x) - special.betaln(a, b) - (r + x) * np.log(alpha + T)
    repeat = x > 0
    a3 = np.full_like(x, -np.inf)
    a3[repeat] = (special.betaln(a + 1, b + x[repeat] - 1) - special.betaln(a, b)
                  - (r + x[repeat]) * np.log(alpha + t_x[repeat]))
    return a1 + np.logaddexp(a2, a3)


LOG_BOUND = 10.0  # parameters stay within e^±10: a small shop's data can push an unbounded fit to 0 or infinity


def _fit(neg_ll, start: list[float]) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Maximise a likelihood over log-parameters (so they stay positive, within bounds): L-BFGS-B, and
    Nelder-Mead from where it stopped when it reports no convergence."""
    import numpy as np
    from scipy import optimize

    bounds = [(-LOG_BOUND, LOG_BOUND)] * len(start)
    begin = np.clip(np.log(start), -LOG_BOUND + 1, LOG_BOUND - 1)
    best = optimize.minimize(neg_ll, begin, method="L-BFGS-B", bounds=bounds)
    if not best.success:
        again = optimize.minimize(neg_ll, best.x, method="Nelder-Mead", bounds=bounds,
                                  options={"maxiter": 2000, "xatol": 1e-6, "fatol": 1e-8})
        best = again if again.fun <= best.fun else best
    return np.exp(best.x)


def fit_bgnbd(x: np.ndarray, t_x: np.ndarray, T: np.ndarray, start: BgNbd | None = None) -> BgNbd:
    """Maximum-likelihood BG/NBD parameters for a set of customers. Customers with the same (x, t_x, T) are
    counted once with a weight, which makes a shop's many one-off buyers cheap to fit. `start`: a previous fit
    (a refreshed copy starts from the last one's optimum and converges in a few steps)."""
    import numpy as np

    rows = np.column_stack([np.asarray(v, dtype=float) for v in (x, t_x, T)])
    unique, weights = np.unique(rows, axis=0, return_counts=True)
    x, t_x, T = unique[:, 0], unique[:, 1], unique[:, 2]

    def neg_ll(log_params: np.ndarray) -> float:
        r, alpha, a, b = np.exp(log_params)
        value = -(weights * bgnbd_log_likelihood(BgNbd(r, alpha, a, b), x, t_x, T)).sum()
        return float(value) if np.isfinite(value) else 1e300

    scale = max(float(T.mean()), 1e-6)
    begin = [start.r, start.alpha, start.a, start.b] if start else [0.5, scale, 1.0, 2.0]
    return BgNbd(*_fit(neg_ll, begin))


def bgnbd_expected(params: BgNbd, t: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Expected purchases in the next `t` time units for customers with history (x, t_x, T) (FHL 2005, eq. 10)."""
    import numpy as np
    from scipy import special

    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
    first = (a + b + x - 1) / (a - 1)
    second = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp
    denominator = 1 + (x > 0) * (a / np.maximum(b + x - 1, 1e-12)) * ((alpha + T) / (alpha + t_x)) ** (r + x)
    return first * second / denominator


def bgnbd_alive(params: BgNbd, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """P(still a customer | x, t_x, T) (FHL 2005, equation 12; 1 for customers with no repeat purchase)."""
    import numpy as np

    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    odds = (x > 0) * (a / np.maximum(b + x - 1, 1e-12)) * ((alpha + T) / (alpha + t_x)) ** (r + x)
    return 1 / (1 + odds)


# ---- Gamma-Gamma -----------------------------------------------------------------------------------------------


def gamma_gamma_log_likelihood(params: GammaGamma, x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Each customer's log-likelihood of the mean value m of x purchases (FHL 2005b, appendix)."""
    import numpy as np
    from scipy import special

    p, q, g = params.p, params.q, params.gamma
    x, m = np.asarray(x, dtype=float), np.asarray(m, dtype=float)
    return (special.gammaln(p * x + q) - special.gammaln(p * x) - special.gammaln(q) + q * np.log(g)
            + (p * x - 1) * np.log(m) + p * x * np.log(x) - (p * x + q) * np.log(g + x * m))


def fit_gamma_gamma(x: np.ndarray, m: np.ndarray, start: GammaGamma | None = None) -> GammaGamma:
    """Maximum-likelihood Gamma-Gamma parameters (customers with x ≥ 1 and m > 0 only); `start` as for BG/NBD."""
    import numpy as np

    x, m = np.asarray(x, dtype=float), np.asarray(m, dtype=float)

    def neg_ll(log_params: np.ndarray) -> float:
        p, q, g = np.exp(log_params)
        value = -gamma_gamma_log_likelihood(GammaGamma(p, q, g), x, m).sum()
        return float(value) if np.isfinite(value) else 1e300

    begin = [start.p, start.q, start.gamma] if start else [1.0, 2.0, max(float(m.mean()), 1e-6)]
    return GammaGamma(*_fit(neg_ll, begin))


def gamma_gamma_expected(params: GammaGamma, x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """E[value of a purchase | x, m]: a weighted mean of the population mean and the customer's own."""
    import numpy as np

    p, q, g = params.p, params.q, params.gamma
    x, m = np.asarray(x, dtype=float), np.asarray(m, dtype=float)
    return p * (g + x * m) / (p * x + q - 1)


def clv_inputs(purchase_days: list[date], day_values: list[Decimal], as_of: date) -> tuple[int, float, float, float]:
    """One customer's (x, t_x, T, m) in weeks from their purchase days (sorted, distinct) and each day's value:
    x = purchase days after the first, m = mean value of those repeat days (0 without any)."""
    first, last = purchase_days[0], purchase_days[-1]
    x = len(purchase_days) - 1
    m = float(sum(day_values[1:], Decimal(0)) / x) if x else 0.0
    return x, (last - first).days / 7, (as_of - first).days / 7, m
