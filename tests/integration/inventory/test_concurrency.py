"""No oversell under concurrency: many threads, and two server processes, hammer one SKU."""

from concurrent.futures import ThreadPoolExecutor
from itertools import cycle

import httpx
import pytest
from fastapi.testclient import TestClient
from tests.builders import ok, stock
from tests.conftest import SECRET
from tests.servers import server_processes, server_thread

from omnihub.config import Settings
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database

UNITS = {"wh": 20, "s1": 20, "s2": 10}
THREADS = 16
ATTEMPTS_PER_THREAD = 12


ONE_MUG = [{"sku": "MUG", "quantity": 1}]


def hammer(urls: list[str], key: str, lines_of=lambda thread: ONE_MUG) -> list[int]:
    """Each thread keeps reserving one MUG (with `lines_of(thread)` as the request's lines), round-robin over the
    servers; returns every status code."""

    def worker(n: int) -> list[int]:
        statuses = []
        with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=60) as http:
            for _, url in zip(range(ATTEMPTS_PER_THREAD), cycle(urls[n % len(urls):] + urls[:n % len(urls)]),
                              strict=False):
                r = http.post(f"{url}/api/v1/reservations", json={"channel": "web", "lines": lines_of(n)})
                assert r.status_code in (201, 409), r.text
                if r.status_code == 409:
                    assert r.json()["code"] == "insufficient_stock"
                statuses.append(r.status_code)
        return statuses

    with ThreadPoolExecutor(THREADS) as pool:
        return [s for result in pool.map(worker, range(THREADS)) for s in result]


def assert_sold_exactly_the_stock(shop: TestClient, statuses: list[int]) -> None:
    total = sum(UNITS.values())
    assert statuses.count(201) == total  # every unit sold, none twice, no false "sold out"
    assert statuses.count(409) == THREADS * ATTEMPTS_PER_THREAD - total
    levels = ok(shop.get("/api/v1/stock/MUG"))["locations"]
    assert {lvl["location"]: lvl["reserved"] for lvl in levels} == UNITS
    assert ok(shop.post("/api/v1/inventory/check")) == []  # the ledger still balances


def stock_the_shop(shop: TestClient) -> None:
    for loc, units in UNITS.items():
        stock(shop, loc, "MUG", units)


def test_many_threads_never_oversell(shop: TestClient, settings: Settings, db: Database, clock: ManualClock,
                                     admin_key: str) -> None:
    from omnihub.app import create_app

    stock_the_shop(shop)

    with server_thread(create_app(settings, db=db, clock=clock)) as url:
        statuses = hammer([url], admin_key)

    assert_sold_exactly_the_stock(shop, statuses)


def test_one_statement_and_transactional_holds_racing_never_oversell(
        shop: TestClient, settings: Settings, db: Database, clock: ManualClock, admin_key: str) -> None:
    """On PostgreSQL a one-line hold is a single statement and a two-line hold a transaction: half the threads
    take each path, on the same rows."""
    from omnihub.app import create_app

    stock_the_shop(shop)
    stock(shop, "wh", "TEE-M", 1000)
    two_lines = [*ONE_MUG, {"sku": "TEE-M", "quantity": 1}]

    with server_thread(create_app(settings, db=db, clock=clock)) as url:
        statuses = hammer([url], admin_key, lines_of=lambda thread: two_lines if thread % 2 else ONE_MUG)

    assert_sold_exactly_the_stock(shop, statuses)
    tees = ok(shop.get("/api/v1/stock/wh/TEE-M"))["reserved"]
    assert 0 < tees < sum(UNITS.values())  # both kinds of request won units


@pytest.mark.slow
def test_two_server_processes_never_oversell(shop: TestClient, db_url: str, admin_key: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("several server processes on one database is the PostgreSQL deployment")
    stock_the_shop(shop)

    with server_processes(db_url, SECRET, count=2) as urls:
        statuses = hammer(urls, admin_key)

    assert_sold_exactly_the_stock(shop, statuses)


def test_a_ring_fence_holds_under_concurrent_claims_from_other_channels(
        shop: TestClient, settings: Settings, db: Database, clock: ManualClock, admin_key: str) -> None:
    from omnihub.app import create_app

    stock(shop, "s1", "MUG", 30)
    ok(shop.put("/api/v1/stock/s1/MUG/quotas/store", json={"units": 5}))  # the store keeps 5 for walk-ins

    with server_thread(create_app(settings, db=db, clock=clock)) as url:
        statuses = hammer([url], admin_key)

    assert statuses.count(201) == 25  # web got everything but the ring-fenced units
    for _ in range(5):
        ok(shop.post("/api/v1/reservations", json={"channel": "store", "lines": [{"sku": "MUG", "quantity": 1}]}), 201)
    level = ok(shop.get("/api/v1/stock/s1/MUG"))
    assert (level["reserved"], level["ring_fenced"], level["quotas"]) == (30, 0, {"store": 0})
    assert ok(shop.post("/api/v1/inventory/check")) == []


def test_one_idempotency_key_sent_by_many_threads_at_once_reserves_once(
        shop: TestClient, settings: Settings, db: Database, clock: ManualClock, admin_key: str) -> None:
    """A client that retries impatiently, many times in parallel: one effect, every answer the same reservation
    or a clean 'in progress'."""
    from omnihub.app import create_app

    stock(shop, "wh", "MUG", 50)
    body = {"channel": "web", "lines": [{"sku": "MUG", "quantity": 2}]}

    def send(url: str) -> httpx.Response:
        with httpx.Client(headers={"Authorization": f"Bearer {admin_key}", "Idempotency-Key": "retry-storm"},
                          timeout=60) as http:
            return http.post(f"{url}/api/v1/reservations", json=body)

    with server_thread(create_app(settings, db=db, clock=clock)) as url, ThreadPoolExecutor(THREADS) as pool:
        answers = list(pool.map(send, [url] * THREADS))
        settled = send(url)  # after the storm: the first answer, replayed

    created = {r.json()["id"] for r in answers if r.status_code == 201}
    waiting = [r for r in answers if r.status_code == 409]
    assert len(created) == 1 and len(waiting) + sum(r.status_code == 201 for r in answers) == THREADS, [
        (r.status_code, r.text[:300]) for r in answers if r.status_code not in (201, 409)]
    assert all(r.json()["code"] == "idempotency_request_in_progress" for r in waiting)
    assert settled.status_code == 201 and settled.json()["id"] in created
    assert settled.headers["idempotent-replayed"] == "true"
    assert ok(shop.get("/api/v1/stock/wh/MUG"))["reserved"] == 2
