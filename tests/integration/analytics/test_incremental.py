"""The copy mode (OMNIHUB_ANALYTICS_MAX_AGE_SECONDS > 0): answers come from the DuckDB copy and its pre-aggregated
tables, and after new orders, a refund, a cancellation, a merge, new events and stock changes an *incremental*
refresh (only the changed rows read) gives the same figures as plain Python over the database; undoing a merge
(which moves orders back without moving any watermark) makes the refresh a full rebuild, with the same result."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from tests.builders import ok, stock
from tests.integration.analytics.conftest import START, Shop
from tests.integration.analytics.reference import Rows, expected_purchases

from omnihub.analytics import engine
from omnihub.config import Settings
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database, normalise_url


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def same_as_plain_python(admin: TestClient, db: Database, clock: ManualClock) -> None:
    """Every report through HTTP (answered by the copy) equals the independent computation."""
    ref = Rows(db)
    now = clock.now()
    since = datetime(2026, 5, 1, tzinfo=UTC)

    def get(route: str, **params: str) -> dict:
        return ok(admin.get(f"/api/v1/analytics/{route}", params=params))

    def figures(answer: dict) -> dict:
        return {k: v for k, v in answer.items() if k != "data_as_of"}

    assert figures(get("summary", **{"from": _iso(since)})) == ref.summary(since, now)
    assert figures(get("summary")) == ref.summary(now - timedelta(days=30), now)
    middle = (START + timedelta(days=40), START + timedelta(days=75))
    assert figures(get("summary", **{"from": _iso(middle[0]), "to": _iso(middle[1]), "channel": "web"})) == \
        ref.summary(*middle, channel="web")
    for metric, split in (("revenue", "channel"), ("customers", None)):
        params = {"metric": metric, "by": "week", "from": _iso(since), "to": _iso(now)}
        if split:
            params["split"] = split
        assert get("timeseries", **params)["series"] == ref.timeseries(metric, "week", since, now, split)
    for period in ("month", "year"):
        assert get("cohorts", period=period)["cohorts"] == ref.cohorts(period, now), period
    # A period ending before the latest sale cannot use the pre-aggregated cells: the general query answers.
    assert get("cohorts", period="month", to=_iso(middle[1]))["cohorts"] == ref.cohorts("month", middle[1])
    assert get("channels", **{"from": _iso(START)})["items"] == ref.channels(START, now)
    assert get("omnichannel")["items"] == ref.omnichannel(now)
    assert get("omnichannel", to=_iso(middle[1]))["items"] == ref.omnichannel(middle[1])
    assert get("inventory", **{"from": _iso(START + timedelta(days=20))})["items"] == \
        ref.inventory(START + timedelta(days=20), now)
    assert figures(get("nps", **{"from": _iso(START)})) == ref.nps(START, now)
    clv = get("clv", top="500")
    inputs = ref.clv_inputs(now.date())
    for item in clv["items"]:
        mine = {k[1]: v for k, v in inputs.items() if k[0] == item["currency"]}
        assert item["customers"] == len(mine) == len(item["top"])
        for row in item["top"]:
            expect = mine[row["customer_id"]]
            assert (row["historic_clv"], row["orders"], row["first_order_on"], row["last_order_on"]) == (
                expect["historic"], expect["orders"], expect["first"], expect["last"])
            if item["model"]["fitted"]:
                purchases = expected_purchases(item["model"]["bgnbd"], 365 / 7, expect["x"], expect["t_x"],
                                               expect["T"])
                assert row["predicted_purchases"] == pytest.approx(purchases, abs=1e-4)
    assert get("clv", top="3")["items"][0]["top"] == clv["items"][0]["top"][:3]


def test_an_incremental_refresh_gives_the_figures_of_plain_python(history: Shop, admin: TestClient, db: Database,
                                                                  clock: ManualClock, settings: Settings,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    copy_engine = engine.Engine(db.url, max_age=3600)
    monkeypatch.setitem(engine._engines, normalise_url(db.url), copy_engine)
    monkeypatch.setattr(settings, "analytics_max_age_seconds", 3600)
    same_as_plain_python(admin, db, clock)
    copy = copy_engine.copy
    assert copy.last_kind == "full"
    first_copy = copy.current[0]

    # New orders (a new customer, a regular in a new channel), a paid order that is then cancelled, a refund.
    regular = next(o for o in history.orders if o["customer_id"] and o["channel"] == "web")
    history.later(hours=2)
    fresh = history.order("web", "nueva@correo.es", [("TEE", 2)])
    history.order("uk", "new.buyer@mail.co.uk", [("MUG", 1)])
    history.order("app", "cliente0@correo.es", [("CAP", 1)], how="pickup", store="bcn")
    doomed = history.order("app", "cliente3@correo.es", [("MUG", 3)])
    history.ship(fresh)
    history.later(hours=1)
    history.give_back(fresh, [("TEE", 1)])
    history.events([{"type": "page_viewed", "channel": "app", "at": clock.now().isoformat(),
                     "identity": {"email": "nueva@correo.es"}, "properties": {}},
                    {"type": "nps_answered", "channel": "store", "at": clock.now().isoformat(),
                     "identity": {"email": "nueva@correo.es"}, "properties": {"score": 3, "location": "bcn"}}])
    stock(admin, "bcn", "MUG", 7)
    with copy.lock:
        assert copy.refresh() == "incremental"
    history.later(minutes=30)
    same_as_plain_python(admin, db, clock)

    # The cancelled sale leaves the copy; two profiles become one person (orders move without updated_at).
    history.later(hours=1)
    ok(admin.post(f"/api/v1/orders/{doomed['id']}/cancel"))
    other = next(o["customer_id"] for o in history.orders if o["customer_id"] not in (None, regular["customer_id"])
                 and o["channel"] == "store")
    merge = ok(admin.post(f"/api/v1/customers/{regular['customer_id']}/merge", json={"other": other}), 201)
    with copy.lock:
        assert copy.refresh() == "incremental"
    history.later(minutes=30)
    same_as_plain_python(admin, db, clock)
    assert copy.current[0] != first_copy

    # Undoing the merge moves orders back with no watermark to see it: the refresh reads everything again.
    ok(admin.post(f"/api/v1/customers/merges/{merge['id']}/undo"))
    with copy.lock:
        assert copy.refresh() == "full"
    same_as_plain_python(admin, db, clock)
