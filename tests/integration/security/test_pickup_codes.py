"""Issue 14: pickup codes are for those who hand goods over, and cannot be guessed at the counter."""

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import httpx
from fastapi.testclient import TestClient
from tests.builders import ok, problem
from tests.servers import server_thread

from omnihub.app import create_app
from omnihub.config import Settings
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database


def ready_order(shop: TestClient, associate_headers: dict[str, str]) -> tuple[dict[str, Any], str]:
    order = ok(shop.post("/api/v1/orders", json={
        "channel": "web", "customer": {"email": "ana.garcia@correo.es", "phone": "+34 600 111 222"},
        "lines": [{"sku": "TEE-M", "quantity": 1}], "fulfilment": {"type": "pickup", "location": "mad"},
        "payments": [{"method": "card", "amount": "20.00"}]}), 201)
    ready = ok(shop.post(f"/api/v1/orders/{order['id']}/ready", headers=associate_headers))
    return ready, ready["pickup"]["code"]


def wrong(code: str) -> str:
    return "000000" if code != "000000" else "111111"


def test_agents_and_marketers_read_the_message_log_without_pickup_codes(shop: TestClient, associate, key) -> None:
    order, code = ready_order(shop, associate("mad"))
    params = {"reference": order["id"]}

    for role in ("agent", "marketer"):
        sent = ok(shop.get("/api/v1/outbox/messages", params=params, headers=key(role)))["items"]
        assert {m["kind"] for m in sent} == {"email", "sms"}
        assert all(code not in m["body"] and "Pickup code: ••••••" in m["body"] for m in sent), sent
    as_admin = ok(shop.get("/api/v1/outbox/messages", params=params))["items"]
    assert all(code in m["body"] for m in as_admin)  # the back office still sees what was sent
    problem(shop.get("/api/v1/outbox/messages", headers=associate("mad")), 403, "role_not_allowed")
    problem(shop.get("/api/v1/outbox/messages", headers=key("channel", channel="web")), 403, "role_not_allowed")


def test_five_wrong_codes_lock_collection_until_it_unlocks_or_an_admin_lifts_it(
        shop: TestClient, associate, clock: ManualClock) -> None:
    mad = associate("mad")
    order, code = ready_order(shop, mad)
    url = f"/api/v1/orders/{order['id']}/collect"

    left = [problem(shop.post(url, json={"code": wrong(code)}, headers=mad), 422, "wrong_pickup_code")["attempts_left"]
            for _ in range(5)]
    assert left == [4, 3, 2, 1, 0]

    locked = shop.post(url, json={"code": code}, headers=mad)  # even the right code waits now
    body = problem(locked, 409, "pickup_locked")
    assert locked.headers["Retry-After"] == "900"
    assert datetime.fromisoformat(body["locked_until"]) == clock.now() + timedelta(seconds=900)
    assert ok(shop.get(f"/api/v1/orders/{order['id']}"))["pickup"]["locked_until"] is not None
    assert ok(shop.get(f"/api/v1/orders/{order['id']}"))["status"] == "ready_for_pickup"
    assert ok(shop.get("/api/v1/stock/mad/TEE-M"))["on_hand"] == 3

    clock.advance(seconds=899)
    assert shop.post(url, json={"code": code}, headers=mad).headers["Retry-After"] == "1"
    clock.advance(seconds=1)  # the lock ran out: a fresh count of five
    assert problem(shop.post(url, json={"code": wrong(code)}, headers=mad), 422,
                   "wrong_pickup_code")["attempts_left"] == 4
    collected = ok(shop.post(url, json={"code": code}, headers=mad))
    assert collected["status"] == "collected"


def test_only_an_admin_lifts_a_pickup_lock(shop: TestClient, associate) -> None:
    mad = associate("mad")
    order, code = ready_order(shop, mad)
    url = f"/api/v1/orders/{order['id']}/collect"
    for _ in range(5):
        problem(shop.post(url, json={"code": wrong(code)}, headers=mad), 422, "wrong_pickup_code")
    problem(shop.post(url, json={"code": code}, headers=mad), 409, "pickup_locked")

    problem(shop.delete(f"/api/v1/orders/{order['id']}/pickup/lock", headers=mad), 403, "role_not_allowed")
    unlocked = ok(shop.delete(f"/api/v1/orders/{order['id']}/pickup/lock"))

    assert unlocked["pickup"]["locked_until"] is None
    assert ok(shop.post(url, json={"code": code}, headers=mad))["status"] == "collected"


def test_parallel_wrong_codes_are_counted_one_by_one_and_compare_at_most_five(
        shop: TestClient, associate, settings: Settings, db: Database, clock: ManualClock) -> None:
    mad = associate("mad")
    order, code = ready_order(shop, mad)

    with server_thread(create_app(settings, db=db, clock=clock)) as url:
        def attempt(_: int) -> httpx.Response:
            with httpx.Client(headers=mad, timeout=60) as http:
                return http.post(f"{url}/api/v1/orders/{order['id']}/collect", json={"code": wrong(code)})

        with ThreadPoolExecutor(12) as pool:
            answers = list(pool.map(attempt, range(40)))

    codes = sorted((r.status_code, r.json()["code"]) for r in answers)
    assert codes.count((422, "wrong_pickup_code")) == 5
    assert codes.count((409, "pickup_locked")) == 35
    assert all(r.headers.get("Retry-After") for r in answers if r.status_code == 409)
    assert ok(shop.get(f"/api/v1/orders/{order['id']}"))["status"] == "ready_for_pickup"


def test_the_limits_are_settings(shop: TestClient, associate, settings: Settings, db: Database,
                                 clock: ManualClock, admin_key: str) -> None:
    mad = associate("mad")
    order, code = ready_order(shop, mad)
    strict = settings.model_copy(update={"pickup_max_wrong_codes": 2, "pickup_lock_seconds": 60})
    with TestClient(create_app(strict, db=db, clock=clock), raise_server_exceptions=False) as api:
        url = f"/api/v1/orders/{order['id']}/collect"
        problem(api.post(url, json={"code": wrong(code)}, headers=mad), 422, "wrong_pickup_code")
        problem(api.post(url, json={"code": wrong(code)}, headers=mad), 422, "wrong_pickup_code")
        locked = api.post(url, json={"code": code}, headers=mad)
        problem(locked, 409, "pickup_locked")
        assert locked.headers["Retry-After"] == "60"
