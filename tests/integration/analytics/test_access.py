"""Who may read which report, bad input, and what happens when DuckDB cannot read the database."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.builders import ok, problem
from tests.conftest import make_key
from tests.integration.analytics.conftest import START, Shop, _set_up

from omnihub.analytics import engine, queries
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.core.errors import Unavailable

ROUTES = ("summary", "timeseries", "cohorts", "channels", "omnichannel", "clv", "inventory", "nps")


@pytest.fixture
def small(admin: TestClient, clock: ManualClock, db: Database) -> Shop:
    clock.set(START)
    _set_up(admin)
    shop = Shop(admin, clock, db)
    shop.order("web", "ana@correo.es", [("TEE", 2)])
    shop.later(hours=3)
    shop.order("store", "ana@correo.es", [("MUG", 1)], how="in_store", store="mad")
    shop.order("store", "luis@correo.es", [("CAP", 1)], how="in_store", store="bcn")
    shop.later(hours=3)
    return shop


def _key(db: Database, clock: ManualClock, role: str, **scope: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_key(db, clock, role, **scope)}"}


def test_who_reads_what(small: Shop, client: TestClient, db: Database, clock: ManualClock) -> None:
    marketer = _key(db, clock, "marketer")
    agent = _key(db, clock, "agent")
    store_key = _key(db, clock, "channel", channel="store")
    madrid = _key(db, clock, "associate", location="mad")
    for route in ROUTES:
        ok(client.get(f"/api/v1/analytics/{route}", headers=marketer))
        problem(client.get(f"/api/v1/analytics/{route}", headers=agent), 403, "role_not_allowed")
        problem(client.get(f"/api/v1/analytics/{route}", headers={"Authorization": ""}), 401, "missing_api_key")
    for route in ("omnichannel", "clv", "inventory"):
        problem(client.get(f"/api/v1/analytics/{route}", headers=store_key), 403, "role_not_allowed")
    for route in ("cohorts", "channels", "omnichannel", "clv"):
        problem(client.get(f"/api/v1/analytics/{route}", headers=madrid), 403, "role_not_allowed")

    # A channel key sees its own channel only, whatever it asks for.
    admin_view = ok(client.get("/api/v1/analytics/summary", headers=marketer, params={"channel": "store"}))
    own = ok(client.get("/api/v1/analytics/summary", headers=store_key))
    assert own["items"] == admin_view["items"] and own["channel"] == "store" and own["items"][0]["orders"] == 2
    problem(client.get("/api/v1/analytics/summary", headers=store_key, params={"channel": "web"}), 403,
            "channel_not_allowed")
    assert [i["channel"] for i in ok(client.get("/api/v1/analytics/channels", headers=store_key))["items"]] == [
        "store"]
    # An associate sees its own location only.
    mine = ok(client.get("/api/v1/analytics/summary", headers=madrid))
    in_madrid = sum(1 for o in small.orders if o["lines"][0]["location"] == "mad")  # the store's sale and more
    assert in_madrid >= 1
    assert mine["location"] == "mad" and mine["items"][0]["orders"] == in_madrid
    problem(client.get("/api/v1/analytics/summary", headers=madrid, params={"location": "bcn"}), 403,
            "location_not_allowed")
    stock = ok(client.get("/api/v1/analytics/inventory", headers=madrid))["items"]
    assert stock and {i["location"] for i in stock} == {"mad"}
    series = ok(client.get("/api/v1/analytics/timeseries", headers=madrid, params={"split": "location"}))
    assert [s["location"] for s in series["series"]] == ["mad"]


def test_bad_input_is_a_clear_problem(small: Shop, admin: TestClient) -> None:
    for route, params, field in (
            ("timeseries", {"metric": "profit"}, "metric"), ("timeseries", {"by": "hour"}, "by"),
            ("timeseries", {"split": "region"}, "split"), ("cohorts", {"period": "week"}, "period"),
            ("summary", {"from": "yesterday"}, "from"), ("summary", {"channel": "Web Shop"}, "channel"),
            ("clv", {"top": "0"}, "top"), ("clv", {"top": "501"}, "top"), ("summary", {"currency": "euro"},
                                                                           "currency")):
        body = problem(admin.get(f"/api/v1/analytics/{route}", params=params), 422, "validation_error")
        assert body["field"] == field, (route, params, body)
    body = problem(admin.get("/api/v1/analytics/summary", params={"from": "2026-06-02T00:00:00Z",
                                                                   "to": "2026-06-01T00:00:00Z"}),
                   422, "invalid_period")
    assert body["field"] == "from"
    body = problem(admin.get("/api/v1/analytics/timeseries", params={"from": "2012-01-01T00:00:00Z", "by": "day"}),
                   422, "invalid_period")
    assert body["field"] == "by"


def test_an_empty_shop_has_no_figures_rather_than_zeros_in_a_made_up_currency(admin: TestClient) -> None:
    assert ok(admin.get("/api/v1/analytics/summary"))["items"] == []
    assert ok(admin.get("/api/v1/analytics/clv"))["items"] == []
    assert ok(admin.get("/api/v1/analytics/nps"))["overall"]["nps"] is None


def test_a_database_duckdb_cannot_attach_is_a_503_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(Unavailable) as raised:
        queries.summary("postgresql://postgres@127.0.0.1:5432/omnihub_no_such_database")
    assert raised.value.code == "analytics_unavailable"
    assert "could not attach the postgres database" in raised.value.detail
    with pytest.raises(Unavailable):
        queries.summary("sqlite:///:memory:")


def test_a_missing_scanner_package_is_a_503_not_a_download(small: Shop, admin: TestClient, db: Database,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # A fresh process without the scanner package installed.
    monkeypatch.setattr(engine, "_duck", None)
    monkeypatch.setattr(engine, "_loaded", set())
    monkeypatch.setattr(engine, "_engines", {})
    kind = "postgres" if db.is_postgres else "sqlite"
    monkeypatch.setitem(engine.EXTENSIONS, kind, ("duckdb_extension_not_installed", f"{kind}_scanner"))
    body = problem(admin.get("/api/v1/analytics/summary"), 503, "analytics_unavailable")
    assert "duckdb-extension-not-installed" in body["detail"]
    assert body["reason"]
    # No extension was fetched behind our back.
    monkeypatch.undo()
    assert ok(admin.get("/api/v1/analytics/summary", params={"from": (START - timedelta(days=1)).isoformat()}))


def test_extensions_are_loaded_from_the_pinned_packages_and_never_auto_installed(db: Database) -> None:
    info = engine.check(db)
    import duckdb

    assert info["duckdb"] == duckdb.__version__
    loaded = dict(engine._duck.execute(
        "SELECT extension_name, install_path FROM duckdb_extensions() WHERE loaded").fetchall())
    assert info["scanner"] in loaded
    settings = dict(engine._duck.execute(
        "SELECT name, value FROM duckdb_settings() WHERE name LIKE 'auto%_known_extensions'").fetchall())
    assert settings == {"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"}
    assert engine.extension_path(info["database"]).is_relative_to(
        Path(__import__(engine.EXTENSIONS[info["database"]][0]).__file__).parent)


def test_with_a_max_age_the_figures_come_from_a_copy_until_it_is_rebuilt(small: Shop, db: Database,
                                                                          clock: ManualClock) -> None:
    copy = engine.engine_for(db, max_age=3600)
    first = queries.summary(copy, now=clock.now())
    live = queries.summary(engine.Engine(db.url), now=clock.now())
    assert first["items"] == live["items"]

    small.order("web", "eva@correo.es", [("TEE", 1)])
    small.later(minutes=1)

    assert queries.summary(copy, now=clock.now())["items"] == first["items"]  # the copy, as of data_as_of
    assert queries.summary(engine.Engine(db.url), now=clock.now())["items"][0]["orders"] == 4
    copy.max_age = 1e-9  # too old now: the next request starts a rebuild in the background and answers at once
    queries.summary(copy, now=clock.now())
    assert copy.copy.thread is not None
    copy.copy.thread.join(120)
    assert copy.copy.last_kind == "incremental" and copy.copy.last_error is None
    again = queries.summary(copy, now=clock.now())
    assert again["items"][0]["orders"] == 4
    assert again["data_as_of"] > first["data_as_of"]
    copy.max_age = 0
