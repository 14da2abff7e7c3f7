"""The analytics read side: JSON-ready dicts, computed by DuckDB over the operational database.

Every function takes the hub's `Database` (or an analytics `Engine`, or a URL) and keyword filters; `start`
and `end` bound a half-open UTC period [start, end). The console calls these directly; api.py serves them.
Definitions of every figure are in docs/analytics.md.
"""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from omnihub.analytics import rules
from omnihub.analytics.copy import WARMERS
from omnihub.analytics.engine import Engine, Reader, engine_for
from omnihub.core.db import Database
from omnihub.core.money import format_amount, minor_units

if TYPE_CHECKING:  # numpy is imported where CLV runs: a server starts without it
    import numpy as np

Db = Database | Engine | str


def _naive(moment: datetime | None) -> datetime | None:
    return None if moment is None else rules.utc(moment).replace(tzinfo=None)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else rules.utc(moment).isoformat().replace("+00:00", "Z")


def _money(amount: Any, currency: str) -> str:
    return format_amount(Decimal(amount or 0), currency)


def _reader(db: Db) -> Reader:
    return engine_for(db).figures()


def _filters(channel: str | None, location: str | None, params: dict[str, Any], alias: str = "") -> str:
    sql = ""
    if channel:
        sql += f" AND {alias}channel = $channel"
        params["channel"] = channel
    if location:
        sql += f" AND {alias}location = $location"
        params["location"] = location
    return sql


def _period(start: datetime | None, end: datetime, params: dict[str, Any], column: str = "sold_at") -> str:
    params["end"] = _naive(end)
    if start is None:
        return f" AND {column} < $end"
    params["start"] = _naive(start)
    return f" AND {column} >= $start AND {column} < $end"


# ---- summary ---------------------------------------------------------------------------------------------------


def summary(db: Db, *, start: datetime | None = None, end: datetime | None = None, channel: str | None = None,
            location: str | None = None, currency: str | None = None, now: datetime | None = None
            ) -> dict[str, Any]:
    """The dashboard's KPI cards for a period, one entry per currency (never summed across currencies)."""
    r = _reader(db)
    start, end = rules.period(start, end, now or datetime.now(UTC))
    params: dict[str, Any] = {}
    where = _period(start, end, params) + _filters(channel, location, params)
    if currency:
        where += " AND currency = $currency"
        params["currency"] = currency
    # One row per customer and currency of the period with their buyer facts. The copy's sales rows carry those
    # facts and a number for the customer (sources.SALES_WIDE): no join, no hashing of id strings.
    people = ("SELECT currency, ANY_VALUE(first_at) AS first_at, ANY_VALUE(second_at) AS second_at,"
              " ANY_VALUE(multichannel_at) AS multichannel_at FROM p WHERE cno IS NOT NULL GROUP BY currency, cno"
              if r.copy else
              "SELECT pc.currency, h.first_at, h.second_at, h.multichannel_at"
              " FROM (SELECT DISTINCT currency, customer FROM p WHERE customer IS NOT NULL) pc"
              " JOIN {buyers} h ON h.customer = pc.customer")
    sql = f"""
    WITH p AS (SELECT * FROM {{sales}} WHERE TRUE {where}),
    t AS (SELECT currency, COUNT(*) AS orders, SUM(revenue) AS revenue, SUM(units) AS units FROM p GROUP BY currency),
    c AS (SELECT currency, COUNT(*) AS customers, COUNT(*) FILTER (WHERE first_at >= $start) AS new_customers,
                 COUNT(*) FILTER (WHERE second_at < $end) AS repeat_customers,
                 COUNT(*) FILTER (WHERE multichannel_at < $end) AS omnichannel_customers
          FROM ({people}) x GROUP BY currency)
    SELECT t.currency, t.orders, t.revenue, t.units, COALESCE(c.customers, 0), COALESCE(c.new_customers, 0),
           COALESCE(c.repeat_customers, 0), COALESCE(c.omnichannel_customers, 0)
    FROM t LEFT JOIN c ON c.currency = t.currency ORDER BY t.currency"""
    items = []
    for cur, orders, revenue, units, customers, new, repeat, omni in r.rows(sql, params):
        items.append({
            "currency": cur, "orders": orders, "revenue": _money(revenue, cur), "units": int(units or 0),
            "customers": customers, "new_customers": new,
            "average_order_value": rules.average(revenue or 0, orders, minor_units(cur)),
            "repeat_customers": repeat, "repeat_rate": rules.share(repeat, customers),
            "omnichannel_customers": omni, "omnichannel_share": rules.share(omni, customers)})
    return {"from": _iso(start), "to": _iso(end), "channel": channel, "location": location, "items": items,
            "data_as_of": _iso(r.as_of)}


# ---- time series -----------------------------------------------------------------------------------------------


def timeseries(db: Db, *, metric: str = "revenue", by: str = "day", start: datetime | None = None,
               end: datetime | None = None, split: str | None = None, channel: str | None = None,
               location: str | None = None, now: datetime | None = None) -> dict[str, Any]:
    """One series per currency (revenue) and per channel or location when split, with a point for every bucket
    of the period (zero where nothing sold)."""
    r = _reader(db)
    metric = rules.choose("metric", metric, rules.METRICS, "revenue") or "revenue"
    by = rules.choose("by", by, rules.BUCKETS, "day") or "day"
    split = rules.choose("split", split, rules.SPLITS)
    start, end = rules.period(start, end, now or datetime.now(UTC))
    assert start is not None
    axis = rules.buckets(start, end, by)
    params: dict[str, Any] = {}
    where = _period(start, end, params) + _filters(channel, location, params)
    value = {"revenue": "SUM(revenue)", "orders": "COUNT(*)", "units": "SUM(units)",
             "customers": "COUNT(DISTINCT cno)" if r.copy else "COUNT(DISTINCT customer)"}[metric]
    currency = "currency" if metric == "revenue" else "NULL"
    key = split or "NULL"
    sql = f"""SELECT {currency} AS cur, {key} AS key, CAST(date_trunc('{by}', sold_at) AS DATE) AS bucket, {value}
              FROM {{sales}} s WHERE TRUE {where} GROUP BY ALL"""
    series: dict[tuple[Any, Any], dict[date, Any]] = defaultdict(dict)
    for cur, k, bucket, v in r.rows(sql, params):
        series[(cur, k)][bucket] = v
    out = []
    for (cur, k), values in sorted(series.items(), key=lambda item: (str(item[0][0]), str(item[0][1]))):
        points = []
        for day in axis:
            v = values.get(day, 0)
            points.append({"period": rules.label(day, by) if by in ("month", "year") else day.isoformat(),
                           "value": _money(v, cur) if metric == "revenue" else int(v or 0)})
        out.append({"currency": cur, "channel": k if split == "channel" else None,
                    "location": k if split == "location" else None, "points": points})
    return {"metric": metric, "by": by, "split": split, "from": _iso(start), "to": _iso(end), "channel": channel,
            "location": location, "series": out, "data_as_of": _iso(r.as_of)}


# ---- cohorts ---------------------------------------------------------------------------------------------------


def cohorts(db: Db, *, period: str = "month", end: datetime | None = None, channel: str | None = None,
            now: datetime | None = None) -> dict[str, Any]:
    """Customers grouped by the month (or year) of their first purchase, and how many bought again in each later
    period up to `end`."""
    r = _reader(db)
    by = rules.choose("period", period, rules.COHORT_PERIODS, "month") or "month"
    _, end = rules.period(None, end, now or datetime.now(UTC), default_days=None)
    params: dict[str, Any] = {"end": _naive(end)}
    where = _filters(channel, None, params)
    if r.holds_all_sales_before(end):  # the copy's cells: every copied sale is before `end`
        sql = "SELECT cohort, p, customers FROM {cohort_cells} WHERE unit = $by AND channel = $channel"
        params = {"by": by, "channel": channel or ""}
    else:
        sql = f"""
    WITH s AS (SELECT customer, CAST(date_trunc('{by}', sold_at) AS DATE) AS p, channel
               FROM {{sales}} x WHERE customer IS NOT NULL AND sold_at < $end),
    f AS (SELECT customer, MIN(p) AS cohort FROM s WHERE TRUE {where} GROUP BY customer),
    act AS (SELECT DISTINCT customer, p FROM s WHERE TRUE {where})
    SELECT f.cohort, act.p, COUNT(*) FROM act JOIN f ON f.customer = act.customer GROUP BY ALL"""
    counts: dict[date, dict[int, int]] = defaultdict(dict)
    for cohort, when, n in r.rows(sql, params):
        counts[cohort][rules.periods_between(cohort, when, by)] = n
    last = rules.bucket_start(end - timedelta(microseconds=1), by)
    out = []
    for cohort in sorted(counts):
        size = counts[cohort].get(0, 0)
        span = rules.periods_between(cohort, last, by)
        out.append({"cohort": rules.label(cohort, by), "size": size, "periods": [
            {"offset": k, "customers": counts[cohort].get(k, 0), "share": rules.share(counts[cohort].get(k, 0), size)}
            for k in range(span + 1)]})
    return {"period": by, "to": _iso(end), "channel": channel, "cohorts": out, "data_as_of": _iso(r.as_of)}


# ---- channels --------------------------------------------------------------------------------------------------


def channels(db: Db, *, start: datetime | None = None, end: datetime | None = None, channel: str | None = None,
             now: datetime | None = None) -> dict[str, Any]:
    """Per channel (and currency): orders, revenue, AOV, customers, sessions, conversion and the share of its
    orders that started in another channel (a cart opened elsewhere)."""
    r = _reader(db)
    start, end = rules.period(start, end, now or datetime.now(UTC))
    params: dict[str, Any] = {}
    where = _period(start, end, params) + _filters(channel, None, params)
    sql = f"""
    WITH p AS (SELECT * FROM {{sales}} s WHERE TRUE {where}),
    sess AS (SELECT channel, COUNT(*) AS sessions FROM {{session_starts}} WHERE TRUE
             {_period(start, end, params, "seen_at")} GROUP BY channel)
    SELECT p.channel, p.currency, COUNT(*), SUM(revenue), COUNT(DISTINCT {"cno" if r.copy else "customer"}),
           COUNT(*) FILTER (WHERE cart_channel IS NOT NULL AND cart_channel <> p.channel),
           ANY_VALUE(sess.sessions)
    FROM p LEFT JOIN sess ON sess.channel = p.channel GROUP BY p.channel, p.currency ORDER BY p.channel, p.currency"""
    items = []
    for code, cur, orders, revenue, customers, started_elsewhere, sessions in r.rows(sql, params):
        items.append({"channel": code, "currency": cur, "orders": orders, "revenue": _money(revenue, cur),
                      "average_order_value": rules.average(revenue or 0, orders, minor_units(cur)),
                      "customers": customers, "sessions": int(sessions or 0),
                      "conversion": rules.share(orders, sessions or 0),
                      "started_elsewhere": started_elsewhere,
                      "started_elsewhere_share": rules.share(started_elsewhere, orders)})
    return {"from": _iso(start), "to": _iso(end), "items": items, "data_as_of": _iso(r.as_of)}


# ---- omnichannel -----------------------------------------------------------------------------------------------


def omnichannel(db: Db, *, start: datetime | None = None, end: datetime | None = None,
                now: datetime | None = None) -> dict[str, Any]:
    """Customers who bought in one channel against those who bought in two or more (over the period; all history
    by default): how many, their spend, AOV and orders per customer, per currency."""
    r = _reader(db)
    start, end = rules.period(start, end, now or datetime.now(UTC), default_days=None)
    params: dict[str, Any] = {}
    where = _period(start, end, params)
    # Over all history the channel count up to `to` is already known per customer (buyers.multichannel_at).
    several = ("SELECT customer, CASE WHEN multichannel_at < $end THEN 2 ELSE 1 END AS n FROM {buyers}"
               if start is None else "SELECT customer, COUNT(DISTINCT channel) AS n FROM p GROUP BY customer")
    sql = f"""
    WITH p AS (SELECT * FROM {{sales}} s WHERE customer IS NOT NULL {where}),
    k AS ({several})
    SELECT p.currency, CASE WHEN k.n >= 2 THEN '2+' ELSE '1' END AS grp, COUNT(DISTINCT p.customer), COUNT(*),
           SUM(p.revenue)
    FROM p JOIN k ON k.customer = p.customer GROUP BY ALL ORDER BY 1, 2"""
    if start is None and r.holds_all_sales_before(end):  # the copy's totals: every copied sale is before `end`
        sql, params = "SELECT currency, grp, customers, orders, spend FROM {omni_totals} ORDER BY 1, 2", {}
    per: dict[str, dict[str, Any]] = {}
    for cur, grp, customers, orders, spend in r.rows(sql, params):
        places = minor_units(cur)
        per.setdefault(cur, {"currency": cur, "groups": {}})["groups"][grp] = {
            "customers": customers, "orders": orders, "spend": _money(spend, cur),
            "average_order_value": rules.average(spend or 0, orders, places),
            "spend_per_customer": rules.average(spend or 0, customers, places),
            "orders_per_customer": rules.share(orders, customers, 2)}
    empty = {"customers": 0, "orders": 0, "spend": None, "average_order_value": None, "spend_per_customer": None,
             "orders_per_customer": None}
    items = []
    for cur in sorted(per):
        groups = per[cur]["groups"]
        items.append({"currency": cur, "one_channel": groups.get("1", empty),
                      "two_or_more_channels": groups.get("2+", empty)})
    return {"from": _iso(start), "to": _iso(end), "items": items, "data_as_of": _iso(r.as_of)}


# ---- customer lifetime value -----------------------------------------------------------------------------------


def clv(db: Db, *, top: int = 20, end: datetime | None = None, now: datetime | None = None) -> dict[str, Any]:
    """Historic CLV (net revenue so far) and predicted 12-month CLV (BG/NBD times Gamma-Gamma) per customer and
    currency; the `top` customers by predicted value. The models are fitted per currency on the shop's own
    customers, as of the start of the day `end` falls in."""

    r = _reader(db)
    _, end = rules.period(None, end, now or datetime.now(UTC), default_days=None)
    as_of = end.date()
    items = [{**item, "top": item["top"][:top]} for item in _clv_items(r, as_of)]
    return {"as_of": as_of.isoformat(), "horizon_days": rules.CLV_HORIZON_DAYS, "items": items,
            "data_as_of": _iso(r.as_of)}


MAX_TOP = 500  # the API's largest `top`: answers are computed for it and cut


def _clv_items(r: Reader, as_of: date) -> list[dict[str, Any]]:
    """Every currency's models, totals and first MAX_TOP customers as of a day. A copy does not change between
    refreshes, so there the result is kept per copy and day (computed once: by the refresh itself for today,
    before the copy is published, or by the first request for another day)."""
    key = ("clv-answer", r.generation, as_of)
    if r.copy and key in r.engine.memo:
        return r.engine.memo[key]  # type: ignore[no-any-return]
    columns = _clv_columns(r, as_of)
    totals = dict(r.rows("SELECT currency, SUM(v) FROM {purchase_days} WHERE day < $as_of GROUP BY currency",
                         {"as_of": as_of}))
    items = []
    currencies = columns["currency"]
    for cur in sorted(set(currencies.tolist())):
        mask = currencies == cur
        items.append(_clv_currency(r.engine, cur, {k: v[mask] for k, v in columns.items()}, totals[cur], MAX_TOP))
    if r.copy:
        r.engine.memo[key] = items
    return items


def _clv_columns(r: Reader, as_of: date) -> dict[str, np.ndarray]:
    params: dict[str, Any] = {"as_of": as_of}
    # Per customer: purchase days (x = days after the first), first and last, value; m = mean value of the repeat
    # days. Computed in DuckDB: Python only sees one row per customer, as arrays.
    sql = """
    WITH d AS (SELECT * FROM {purchase_days} WHERE day < $as_of)
    SELECT currency, customer, COUNT(*) - 1 AS x, date_diff('day', MIN(day), MAX(day)) / 7.0 AS t_x,
           date_diff('day', MIN(day), $as_of) / 7.0 AS big_t,
           CASE WHEN COUNT(*) > 1 THEN CAST((SUM(v) - arg_min(v, day)) / (COUNT(*) - 1) AS DOUBLE) ELSE 0 END AS m,
           CAST(SUM(v) AS VARCHAR) AS historic, SUM(n) AS orders, MIN(day) AS first, MAX(day) AS last
    FROM d GROUP BY currency, customer ORDER BY currency, customer"""
    return r.engine.arrays(r.sql(sql), params)


def customer_predictions(db: Db, *, now: datetime | None = None) -> dict[str, Any]:
    """Every customer's predicted 12-month CLV per currency, as of the start of today (the models of `clv`), for
    rooms that act on it (automation's segments). `unfitted`: the currencies with no model, and why."""
    r = _reader(db)
    as_of = (now or datetime.now(UTC)).date()
    columns = _clv_columns(r, as_of)
    items: list[tuple[str, str, Decimal, float]] = []
    unfitted: dict[str, str] = {}
    currencies = columns["currency"]
    for cur in sorted(set(currencies.tolist())):
        mask = currencies == cur
        c = {k: v[mask] for k, v in columns.items()}
        model, _, alive, predicted = _predict(r.engine, cur, c)
        if predicted is None:
            unfitted[cur] = str(model.get("reason") or "no model")
            continue
        items.extend((str(customer), cur, Decimal(_money(Decimal(repr(float(value))), cur)), round(float(p), 4))
                     for customer, value, p in zip(c["customer"], predicted, alive, strict=True))
    return {"as_of": as_of.isoformat(), "horizon_days": rules.CLV_HORIZON_DAYS, "items": items,
            "unfitted": unfitted, "data_as_of": _iso(r.as_of)}


def _warm_clv(r: Reader) -> None:
    """Run by each refresh before its copy answers: today's CLV (the dashboard's), models fitted once per copy."""
    _clv_items(r, datetime.now(UTC).date())


WARMERS.append(_warm_clv)


def _predict(e: Engine, cur: str, c: dict[str, np.ndarray]) -> tuple[dict[str, Any], Any, Any, Any]:
    """One currency's fitted models and, per customer, predicted purchases, probability alive and predicted CLV
    (None when the models could not be fitted: the model says why)."""
    import numpy as np

    x, t_x, T, m = (c[k].astype(float) for k in ("x", "t_x", "big_t", "m"))
    model = _fitted(e, cur, x, t_x, T, m)
    horizon = rules.CLV_HORIZON_DAYS / 7
    predicted = purchases = alive = None
    if model["fitted"]:
        bg = rules.BgNbd(**model["bgnbd"])
        gg = rules.GammaGamma(**model["gamma_gamma"])
        purchases = rules.bgnbd_expected(bg, horizon, x, t_x, T)
        alive = rules.bgnbd_alive(bg, x, t_x, T)
        predicted = purchases * rules.gamma_gamma_expected(gg, x, np.maximum(m, 0))
        if not (np.isfinite(predicted).all() and np.isfinite(alive).all()):
            model = {**model, "fitted": False, "reason": "the fitted parameters give no finite prediction"}
            predicted = purchases = alive = None
    return model, purchases, alive, predicted


def _clv_currency(e: Engine, cur: str, c: dict[str, np.ndarray], historic_total: Any, top: int) -> dict[str, Any]:
    """One currency's models, predictions and top customers."""
    import numpy as np

    x = c["x"]
    model, purchases, alive, predicted = _predict(e, cur, c)
    historic = c["historic"]
    # Highest predicted value first (historic when there is no model), then customer id: a stable order.
    key = predicted if predicted is not None else historic.astype(float)
    order = np.lexsort((c["customer"], -np.round(key, 6)))[:top]
    rows = []
    for i in order:
        rows.append({
            "customer_id": str(c["customer"][i]), "orders": int(c["orders"][i]),
            "first_order_on": c["first"][i].isoformat() if hasattr(c["first"][i], "isoformat")
            else str(c["first"][i])[:10],
            "last_order_on": c["last"][i].isoformat() if hasattr(c["last"][i], "isoformat")
            else str(c["last"][i])[:10],
            "historic_clv": _money(Decimal(historic[i]), cur),
            "predicted_purchases": None if purchases is None else round(float(purchases[i]), 4),
            "probability_alive": None if alive is None else round(float(alive[i]), 4),
            "predicted_clv": None if predicted is None else _money(Decimal(repr(float(predicted[i]))), cur)})
    total_pred = None if predicted is None else _money(Decimal(repr(float(predicted.sum()))), cur)
    return {"currency": cur, "customers": len(x), "historic_clv": _money(historic_total, cur),
            "predicted_clv": total_pred, "model": model, "top": rows}


MIN_REPEAT_CUSTOMERS = 5


def _fitted(e: Engine, cur: str, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, m: np.ndarray) -> dict[str, Any]:
    """Fit both models, or say why not. A fit is kept by the engine and reused for identical inputs (the same
    customers as of the same day); a copy's answers are kept whole (_clv_items), so a copy fits once."""

    digest = hashlib.sha256(b"".join(a.tobytes() for a in (x, t_x, T, m))).hexdigest()
    kept = e.memo.get(("clv", cur))
    if kept and kept[0] == digest:
        return kept[1]  # type: ignore[no-any-return]
    repeat = (x > 0) & (m > 0)
    if len(x) < MIN_REPEAT_CUSTOMERS * 2 or int(repeat.sum()) < MIN_REPEAT_CUSTOMERS:
        model: dict[str, Any] = {"fitted": False, "customers": len(x), "reason": (
            f"needs at least {MIN_REPEAT_CUSTOMERS * 2} customers, {MIN_REPEAT_CUSTOMERS} of them with a repeat "
            "purchase")}
    else:
        # A copy's refresh starts from the previous fit of this currency (same shop, a few more days of data).
        before = kept[1] if kept and e.max_age > 0 and kept[1].get("fitted") else None
        bg = rules.fit_bgnbd(x, t_x, T, rules.BgNbd(**before["bgnbd"]) if before else None)
        gg = rules.fit_gamma_gamma(x[repeat], m[repeat],
                                   rules.GammaGamma(**before["gamma_gamma"]) if before else None)
        model = {"fitted": True, "customers": len(x), "repeat_customers": int(repeat.sum()), "time_unit": "week",
                 "bgnbd": {"r": float(bg.r), "alpha": float(bg.alpha), "a": float(bg.a), "b": float(bg.b)},
                 "gamma_gamma": {"p": float(gg.p), "q": float(gg.q), "gamma": float(gg.gamma)}}
    e.memo[("clv", cur)] = (digest, model, time.monotonic())
    return model


# ---- inventory -------------------------------------------------------------------------------------------------


def inventory(db: Db, *, start: datetime | None = None, end: datetime | None = None, location: str | None = None,
              sku: str | None = None, limit: int = 500, now: datetime | None = None) -> dict[str, Any]:
    """Per SKU and location over the period, from the stock ledger: units sold, time-weighted average on hand,
    turnover (sold ÷ average on hand), days of cover (on hand now ÷ average daily sales) and stock-out days (time
    spent with nothing on hand)."""
    r = _reader(db)
    start, end = rules.period(start, end, now or datetime.now(UTC))
    assert start is not None
    params: dict[str, Any] = {"start": _naive(start), "end": _naive(end), "limit": limit}
    where = ""
    if location:
        where += " AND location_code = $location"
        params["location"] = location
    if sku:
        where += " AND sku = $sku"
        params["sku"] = sku
    days = (end - start).total_seconds() / 86400
    sql = f"""
    WITH g AS (SELECT * FROM {{ledger}} WHERE valid_to >= $start AND valid_from < $end {where}),
    seg AS (SELECT location_code, sku, on_hand_after,
                   epoch(LEAST(valid_to, $end) - GREATEST(valid_from, $start)) / 86400.0 AS d
            FROM g),
    held AS (SELECT location_code, sku, SUM(on_hand_after * d) AS unit_days,
                    SUM(d) FILTER (WHERE on_hand_after = 0) AS out_days
             FROM seg WHERE d > 0 GROUP BY ALL),
    sold AS (SELECT location_code, sku, -SUM(on_hand_delta) AS sold FROM g
             WHERE kind = 'sale' AND valid_from >= $start GROUP BY ALL)
    SELECT l.location_code, l.sku, l.on_hand, COALESCE(sold.sold, 0), COALESCE(held.unit_days, 0),
           COALESCE(held.out_days, 0)
    FROM {{levels}} l LEFT JOIN held USING (location_code, sku) LEFT JOIN sold USING (location_code, sku)
    WHERE TRUE {where} ORDER BY l.sku, l.location_code LIMIT $limit"""
    items = []
    for loc, code, on_hand, sold, unit_days, out_days in r.rows(sql, params):
        average = unit_days / days
        rate = sold / days
        items.append({"sku": code, "location": loc, "on_hand": on_hand, "sold": int(sold),
                      "average_on_hand": round(average, 2),
                      "turnover": round(sold / average, 4) if average else None,
                      "days_of_cover": round(on_hand / rate, 1) if rate else None,
                      "stock_out_days": round(out_days, 2)})
    return {"from": _iso(start), "to": _iso(end), "days": round(days, 4), "items": items,
            "data_as_of": _iso(r.as_of)}


# ---- NPS -------------------------------------------------------------------------------------------------------


def nps(db: Db, *, start: datetime | None = None, end: datetime | None = None, channel: str | None = None,
        location: str | None = None, now: datetime | None = None) -> dict[str, Any]:
    """Net Promoter Score from `nps_answered` events (`score` 0-10, `location` for a store), overall, per channel
    and per store."""
    r = _reader(db)
    start, end = rules.period(start, end, now or datetime.now(UTC))
    params: dict[str, Any] = {}
    where = _period(start, end, params, "answered_at") + _filters(channel, location, params)
    sql = f"""
    SELECT channel, location, COUNT(*) FILTER (WHERE score >= 9), COUNT(*) FILTER (WHERE score BETWEEN 7 AND 8),
           COUNT(*) FILTER (WHERE score <= 6) FROM {{nps_answers}} WHERE TRUE {where} GROUP BY ALL"""
    overall = [0, 0, 0]
    per_channel: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    per_store: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for chan, loc, pro, pas, det in r.rows(sql, params):
        for bucket in (overall, per_channel[chan], *([per_store[loc]] if loc else [])):
            bucket[0] += pro
            bucket[1] += pas
            bucket[2] += det
    return {"from": _iso(start), "to": _iso(end), "overall": rules.nps(*overall),
            "channels": [{"channel": k, **rules.nps(*v)} for k, v in sorted(per_channel.items())],
            "locations": [{"location": k, **rules.nps(*v)} for k, v in sorted(per_store.items())],
            "data_as_of": _iso(r.as_of)}
