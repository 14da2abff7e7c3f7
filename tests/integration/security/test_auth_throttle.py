"""Issue 14: guessing API keys is throttled per client address; legitimate traffic never is."""

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.builders import ok, problem, stock
from tests.conftest import SECRET, make_key
from tests.servers import server_processes, server_thread

from omnihub.app import create_app
from omnihub.config import Settings
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.core.throttle import auth_failures

BAD = {"Authorization": "Bearer ohk_not-a-real-key"}


def _client(settings: Settings, db: Database, clock: ManualClock, address: str = "203.0.113.7") -> TestClient:
    return TestClient(create_app(settings, db=db, clock=clock), raise_server_exceptions=False, client=(address, 4000))


def test_twenty_unknown_keys_from_one_address_then_429_with_retry_after(
        settings: Settings, db: Database, clock: ManualClock, admin_key: str) -> None:
    good = {"Authorization": f"Bearer {admin_key}"}
    with _client(settings, db, clock) as api, _client(settings, db, clock, "198.51.100.9") as neighbour:
        for _ in range(20):
            problem(api.get("/api/v1/products", headers=BAD), 401, "invalid_api_key")

        refused = api.get("/api/v1/products", headers=BAD)
        body = problem(refused, 429, "too_many_auth_failures")
        assert refused.headers["Retry-After"] == "300" and body["field"] == "Authorization"
        # the address is refused before any key is looked at; another address is not affected
        problem(api.get("/api/v1/products", headers=good), 429, "too_many_auth_failures")
        ok(neighbour.get("/api/v1/products", headers=good))
        problem(neighbour.get("/api/v1/products", headers=BAD), 401, "invalid_api_key")

        clock.advance(seconds=299)
        assert api.get("/api/v1/products", headers=good).headers["Retry-After"] == "1"
        clock.advance(seconds=1)
        ok(api.get("/api/v1/products", headers=good))
        problem(api.get("/api/v1/products", headers=BAD), 401, "invalid_api_key")  # a fresh window


def test_the_count_is_shared_by_every_server_process(settings: Settings, db: Database, clock: ManualClock) -> None:
    """Two apps (two processes' worth of memory) over one database add up the same address's failures."""
    with _client(settings, db, clock) as first, _client(settings, db, clock) as second:
        for api in (first, second) * 10:
            problem(api.get("/api/v1/products", headers=BAD), 401, "invalid_api_key")
        problem(first.get("/api/v1/products", headers=BAD), 429, "too_many_auth_failures")
        problem(second.get("/api/v1/products", headers=BAD), 429, "too_many_auth_failures")


def test_failures_spread_over_time_never_block(settings: Settings, db: Database, clock: ManualClock) -> None:
    with _client(settings, db, clock) as api:
        for _ in range(5):
            for _ in range(19):
                problem(api.get("/api/v1/products", headers=BAD), 401, "invalid_api_key")
            clock.advance(seconds=61)


def test_the_limits_are_settings_and_zero_switches_it_off(settings: Settings, db: Database,
                                                         clock: ManualClock) -> None:
    with _client(settings.model_copy(update={"auth_failure_limit": 0}), db, clock) as api:
        for _ in range(40):
            problem(api.get("/api/v1/products", headers=BAD), 401, "invalid_api_key")
    strict = settings.model_copy(update={"auth_failure_limit": 3, "auth_block_seconds": 30})
    with _client(strict, db, clock, "192.0.2.1") as api:
        for _ in range(3):
            problem(api.get("/api/v1/products", headers=BAD), 401, "invalid_api_key")
        assert problem(api.get("/api/v1/products", headers=BAD), 429, "too_many_auth_failures")["retry_after"] == 30


def test_a_sell_out_rush_and_other_refusals_with_good_keys_are_never_throttled(
        shop: TestClient, settings: Settings, db: Database, clock: ManualClock) -> None:
    """Over real HTTP from one address: 60 orders for 3 units (57 times 409 insufficient_stock), requests
    without a key, unknown SKUs and invalid bodies — far beyond the limit of 20, and not one 429."""
    stock(shop, "vlc", "MUG", 3)
    store_key = make_key(db, clock, "channel", channel="store")
    order = {"channel": "store", "lines": [{"sku": "MUG", "quantity": 1}],
             "fulfilment": {"type": "in_store", "location": "vlc"}, "payments": [{"method": "card", "amount": "11.00"}]}

    with server_thread(create_app(settings, db=db, clock=clock)) as url:
        def place(_: int) -> httpx.Response:
            with httpx.Client(headers={"Authorization": f"Bearer {store_key}"}, timeout=60) as http:
                return http.post(f"{url}/api/v1/orders", json=order)

        with ThreadPoolExecutor(8) as pool:
            rush = list(pool.map(place, range(60)))
        with httpx.Client(timeout=60) as http:
            others = [http.get(f"{url}/api/v1/products") for _ in range(25)]  # no key: 401, guesses nothing
            others += [http.get(f"{url}/api/v1/products/NOPE{i}", headers={"Authorization": f"Bearer {store_key}"})
                       for i in range(25)]
            others += [http.post(f"{url}/api/v1/orders", json={"channel": "store"},
                                 headers={"Authorization": f"Bearer {store_key}"}) for _ in range(25)]
            after = http.post(f"{url}/api/v1/orders", json=order, headers={"Authorization": f"Bearer {store_key}"})

    codes = [r.status_code for r in rush]
    assert codes.count(201) == 3 and codes.count(409) == 57
    assert {r.json()["code"] for r in rush if r.status_code == 409} == {"insufficient_stock"}
    assert sorted({r.status_code for r in others}) == [401, 404, 422]
    assert problem(after, 409, "insufficient_stock")
    with db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(auth_failures)).scalar() == 0


def test_two_server_processes_share_the_count(db_url: str, db: Database, clock: ManualClock,
                                             admin_key: str) -> None:
    """Real `omnihub serve` processes: ten unknown keys at each, and both refuse the address after that."""
    if not db_url.startswith("postgresql"):
        pytest.skip("several server processes need PostgreSQL (docs/architecture.md)")
    with server_processes(db_url, SECRET) as (first, second), httpx.Client(timeout=30) as http:
        good = {"Authorization": f"Bearer {admin_key}"}
        assert http.get(f"{first}/api/v1/products", headers=good).status_code == 200
        for _ in range(10):
            for url in (first, second):
                problem(http.get(f"{url}/api/v1/products", headers=BAD), 401, "invalid_api_key")
        for url in (first, second):
            refused = http.get(f"{url}/api/v1/products", headers=BAD)
            problem(refused, 429, "too_many_auth_failures")
            assert int(refused.headers["Retry-After"]) > 0
