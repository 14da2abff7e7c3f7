"""Every analytics figure, through HTTP, equals the same figure computed in plain Python over the same rows
(tests/integration/analytics/reference.py) — on SQLite and on PostgreSQL, over a history with discounts,
returns refunded several ways, two currencies, unpaid and cancelled orders, an anonymous sale, a cart started in
another channel and a merged customer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from tests.builders import ok
from tests.integration.analytics.conftest import START, Shop
from tests.integration.analytics.reference import Rows, expected_purchases, expected_spend

from omnihub.core.clock import ManualClock
from omnihub.core.db import Database

ALL = {"from": "2026-05-01T00:00:00Z"}


def figures(answer: dict) -> dict:
    """An answer without the moment its rows were read."""
    return {k: v for k, v in answer.items() if k != "data_as_of"}


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def test_summary_per_currency_net_of_returns_and_discounts(history: Shop, admin: TestClient, db: Database,
                                                             clock: ManualClock) -> None:
    ref = Rows(db)
    now = clock.now()
    everything = figures(ok(admin.get("/api/v1/analytics/summary", params=ALL)))
    assert everything == ref.summary(datetime(2026, 5, 1, tzinfo=UTC), now)
    assert [i["currency"] for i in everything["items"]] == ["EUR", "GBP"]
    eur = everything["items"][0]
    assert eur["orders"] == sum(1 for s in ref.sales if s["currency"] == "EUR")
    # The default period is the last 30 days.
    assert figures(ok(admin.get("/api/v1/analytics/summary"))) == ref.summary(now - timedelta(days=30), now)
    middle = (START + timedelta(days=40), START + timedelta(days=75))
    for params in ({"channel": "web"}, {"channel": "store"}, {"location": "mad"}, {"location": "wh"},
                   {"currency": "GBP"}):
        got = ok(admin.get("/api/v1/analytics/summary", params={"from": _iso(middle[0]), "to": _iso(middle[1]),
                                                                **params}))
        assert figures(got) == ref.summary(*middle, **params), params


def test_the_merged_person_counts_once(history: Shop, admin: TestClient, db: Database) -> None:
    ref = Rows(db)
    [(absorbed, survivor)] = ref.aliases.items()
    everything = ok(admin.get("/api/v1/analytics/summary", params=ALL))
    raw_people = {(o["currency"], o["customer_id"]) for o in ref.orders if o["status"] in
                  ("shipped", "collected", "partially_returned", "returned") and o["customer_id"]}
    people = {(c, ref.person(p)) for c, p in raw_people}
    assert sum(i["customers"] for i in everything["items"]) == len(people)
    top = ok(admin.get("/api/v1/analytics/clv", params={"top": 500}))
    ids = {row["customer_id"] for item in top["items"] for row in item["top"]}
    assert survivor in ids and absorbed not in ids


def test_timeseries(history: Shop, admin: TestClient, db: Database, clock: ManualClock) -> None:
    ref = Rows(db)
    start, end = START + timedelta(days=3, hours=5), clock.now()
    shapes = (("revenue", None), ("orders", "channel"), ("units", "location"), ("customers", None),
              ("revenue", "channel"))
    for by, metric, split in ((by, m, s) for by in ("day", "week", "month", "year") for m, s in shapes):
        params = {"metric": metric, "by": by, "from": _iso(start), "to": _iso(end)}
        if split:
            params["split"] = split
        got = ok(admin.get("/api/v1/analytics/timeseries", params=params))
        assert got["series"] == ref.timeseries(metric, by, start, end, split), params


def test_cohorts_channels_and_omnichannel(history: Shop, admin: TestClient, db: Database,
                                          clock: ManualClock) -> None:
    ref = Rows(db)
    now = clock.now()
    for period in ("month", "year"):
        got = ok(admin.get("/api/v1/analytics/cohorts", params={"period": period}))
        assert got["cohorts"] == ref.cohorts(period, now), period
    start = START
    got = ok(admin.get("/api/v1/analytics/channels", params={"from": _iso(start)}))
    assert got["items"] == ref.channels(start, now)
    store = next(i for i in got["items"] if i["channel"] == "store")
    assert store["started_elsewhere"] == 1  # the app cart sold at the counter
    assert all(i["sessions"] for i in got["items"] if i["channel"] in ("web", "app"))
    got = ok(admin.get("/api/v1/analytics/omnichannel"))
    assert got["items"] == ref.omnichannel(now)
    assert got["items"][0]["one_channel"]["customers"] and got["items"][0]["two_or_more_channels"]["customers"]


def test_clv_historic_and_predicted(history: Shop, admin: TestClient, db: Database, clock: ManualClock) -> None:
    ref = Rows(db)
    got = ok(admin.get("/api/v1/analytics/clv", params={"top": 500}))
    as_of = clock.now().date()
    assert got["as_of"] == as_of.isoformat()
    inputs = ref.clv_inputs(as_of)
    fitted = 0
    for item in got["items"]:
        cur = item["currency"]
        mine = {k[1]: v for k, v in inputs.items() if k[0] == cur}
        assert item["customers"] == len(mine) == len(item["top"])
        assert item["historic_clv"] == str(sum((Decimal(v["historic"]) for v in mine.values()), Decimal(0)))
        model = item["model"]
        for row in item["top"]:
            expect = mine[row["customer_id"]]
            assert (row["historic_clv"], row["orders"], row["first_order_on"], row["last_order_on"]) == (
                expect["historic"], expect["orders"], expect["first"], expect["last"])
            if model["fitted"]:
                purchases = expected_purchases(model["bgnbd"], 365 / 7, expect["x"], expect["t_x"], expect["T"])
                spend = expected_spend(model["gamma_gamma"], expect["x"], max(expect["m"], 0))
                assert row["predicted_purchases"] == pytest.approx(purchases, abs=1e-4)
                assert Decimal(row["predicted_clv"]) == pytest.approx(Decimal(str(purchases * spend)),
                                                                      abs=Decimal("0.01"))
        if model["fitted"]:
            fitted += 1
            values = [Decimal(r["predicted_clv"]) for r in item["top"]]
            assert values == sorted(values, reverse=True)
        else:
            assert all(r["predicted_clv"] is None for r in item["top"])
    assert fitted >= 1  # the EUR shop has enough returning customers to fit the models


def test_inventory_and_nps(history: Shop, admin: TestClient, db: Database, clock: ManualClock) -> None:
    ref = Rows(db)
    start, end = START + timedelta(days=20), clock.now()
    got = ok(admin.get("/api/v1/analytics/inventory", params={"from": _iso(start), "to": _iso(end)}))
    assert got["items"] == ref.inventory(start, end)
    tee_mad = next(i for i in got["items"] if (i["sku"], i["location"]) == ("TEE", "mad"))
    assert tee_mad["stock_out_days"] == 1.5
    mad = ok(admin.get("/api/v1/analytics/inventory", params={"from": _iso(start), "location": "mad"}))
    assert {i["location"] for i in mad["items"]} == {"mad"}
    got = ok(admin.get("/api/v1/analytics/nps", params={"from": _iso(START)}))
    assert figures(got) == ref.nps(START, end)
    assert got["overall"]["responses"] > 0 and got["locations"]
