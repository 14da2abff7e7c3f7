"""`Idempotency-Key` on `POST /orders`: the answer is kept in the order's own transaction, so a retry — sequential
or in a storm of parallel ones — gets the first answer, byte for byte, and never a second order."""

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import httpx
from fastapi.testclient import TestClient
from tests.builders import ok, problem, stock
from tests.servers import server_thread

from omnihub.config import Settings
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database

CLIENTS = 12


def order_body(quantity: int = 1, *, email: str = "ines.ferrer@correo.es") -> dict[str, Any]:
    return {"channel": "web", "customer": {"email": email}, "lines": [{"sku": "MUG", "quantity": quantity}],
            "fulfilment": {"type": "pickup", "location": "vlc"},
            "payments": [{"method": "card", "amount": str(Decimal("11.00") * quantity)}]}


def post(api: TestClient, body: dict[str, Any], key: str | None) -> Any:
    return api.post("/api/v1/orders", json=body, headers={"Idempotency-Key": key} if key else {})


def web_orders(api: TestClient, email: str = "ines.ferrer@correo.es") -> list[dict[str, Any]]:
    """The buyer's orders (every order here is hers), newest first."""
    found = api.get("/api/v1/customers/lookup", params={"email": email})
    if found.status_code == 404:
        return []
    return ok(api.get(f"/api/v1/customers/{ok(found)['id']}/orders"))["items"]


def test_a_retry_gets_the_first_answer_byte_for_byte_and_no_second_order(shop: TestClient) -> None:
    stock(shop, "vlc", "MUG", 5)

    first = post(shop, order_body(2), "pos-7-0001")
    again = post(shop, order_body(2), "pos-7-0001")

    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    assert again.headers["content-type"] == first.headers["content-type"] == "application/json"
    assert [o["id"] for o in web_orders(shop)] == [first.json()["id"]]
    assert ok(shop.get("/api/v1/stock/vlc/MUG"))["reserved"] == 2


def test_the_same_key_with_another_body_is_refused_and_changes_nothing(shop: TestClient) -> None:
    stock(shop, "vlc", "MUG", 5)
    first = ok(post(shop, order_body(1), "pos-7-0002"), 201)

    reused = problem(post(shop, order_body(3), "pos-7-0002"), 422, "idempotency_key_reused")

    assert reused["field"] == "Idempotency-Key"
    assert [o["id"] for o in web_orders(shop)] == [first["id"]]
    assert ok(shop.get("/api/v1/stock/vlc/MUG"))["reserved"] == 1


def test_a_refusal_is_the_answer_to_its_key_even_after_the_stock_arrives(shop: TestClient) -> None:
    """The key names one attempt: its retry is told what that attempt was told; a new attempt needs a new key."""
    stock(shop, "vlc", "MUG", 0)
    stock(shop, "wh", "MUG", 0)
    stock(shop, "mad", "MUG", 0)
    stock(shop, "bcn", "MUG", 0)
    refused = post(shop, order_body(1), "pos-7-0003")
    stock(shop, "vlc", "MUG", 5)

    retried = post(shop, order_body(1), "pos-7-0003")
    fresh = post(shop, order_body(1), "pos-7-0004")

    assert problem(refused, 409, "insufficient_stock")
    assert retried.status_code == 409 and retried.content == refused.content
    assert retried.headers["idempotent-replayed"] == "true"
    assert fresh.status_code == 201
    assert [o["id"] for o in web_orders(shop)] == [fresh.json()["id"]]


def test_without_a_key_every_post_is_a_new_order(shop: TestClient) -> None:
    stock(shop, "vlc", "MUG", 5)

    ids = {ok(post(shop, order_body(1), None), 201)["id"] for _ in range(2)}

    assert len(ids) == 2 and len(web_orders(shop)) == 2


def test_a_storm_of_parallel_retries_places_one_order_and_answers_each_with_it(
        shop: TestClient, settings: Settings, db: Database, clock: ManualClock, admin_key: str) -> None:
    """A client retrying impatiently on many connections at once: the retries wait for the first and get its
    answer (no 'in progress' to retry again), and the stock moves once."""
    from omnihub.app import create_app

    stock(shop, "vlc", "MUG", 50)
    body = order_body(2)

    def send(_: int) -> httpx.Response:
        with httpx.Client(headers={"Authorization": f"Bearer {admin_key}", "Idempotency-Key": "storm-1"},
                          timeout=60) as http:
            return http.post(f"{url}/api/v1/orders", json=body)

    with server_thread(create_app(settings, db=db, clock=clock)) as url, ThreadPoolExecutor(CLIENTS) as pool:
        answers = list(pool.map(send, range(CLIENTS)))

    assert [r.status_code for r in answers] == [201] * CLIENTS, [(r.status_code, r.text[:300]) for r in answers]
    assert len({r.content for r in answers}) == 1
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in answers) == CLIENTS - 1
    assert [o["id"] for o in web_orders(shop)] == [answers[0].json()["id"]]
    assert ok(shop.get("/api/v1/stock/vlc/MUG"))["reserved"] == 2
    assert ok(shop.get("/api/v1/payments", params={"order": answers[0].json()["id"]}))["paid"] == "22.00"


def test_a_key_whose_answer_was_lost_is_never_carried_out_again(
        shop: TestClient, db: Database, clock: ManualClock, admin_key: str) -> None:
    """A key's row without an answer means its effect committed (the row is written in the effect's
    transaction) and the process died before the answer was kept: a clean 409 'in progress' for a few seconds,
    then 409 `idempotency_answer_lost` naming what it did — never a second order (the old middleware took the
    key over after a minute and placed the order again)."""
    from omnihub.core.idempotency import idempotency_keys

    stock(shop, "vlc", "MUG", 5)
    payload = json.dumps(order_body(1)).encode()
    with db.transaction() as conn:
        conn.execute(idempotency_keys.insert().values(
            scope=hashlib.sha256(f"Bearer {admin_key}".encode()).hexdigest(), key="pos-7-0005",
            request_hash=hashlib.sha256(b"/api/v1/orders\n" + payload).hexdigest(), created_at=clock.now(),
            effect={"method": "POST", "path": "/api/v1/orders",
                    "events": [{"type": "order.created", "event_id": "evt_1", "id": "ord_1"}]}))

    def retry() -> Any:
        return shop.post("/api/v1/orders", content=payload,
                         headers={"Idempotency-Key": "pos-7-0005", "Content-Type": "application/json"})

    waiting = retry()
    clock.advance(seconds=61)
    lost = problem(retry(), 409, "idempotency_answer_lost")

    assert problem(waiting, 409, "idempotency_request_in_progress")["field"] == "Idempotency-Key"
    assert waiting.headers["retry-after"] == "1"
    assert lost["events"] == [{"type": "order.created", "event_id": "evt_1", "id": "ord_1"}]
    assert lost["request"] == {"method": "POST", "path": "/api/v1/orders"}
    assert web_orders(shop) == []
    assert ok(shop.get("/api/v1/stock/vlc/MUG"))["reserved"] == 0


def cart_with_a_mug(api: TestClient) -> str:
    cart = ok(api.post("/api/v1/carts", json={"channel": "web", "identity": {"email": "ines.ferrer@correo.es"}}),
              201)
    ok(api.put(f"/api/v1/carts/{cart['id']}/lines", json=[{"sku": "MUG", "quantity": 1}]))
    return cart["id"]


CHECKOUT = {"fulfilment": {"type": "pickup", "location": "vlc"}, "payments": [{"method": "card", "amount": "11.00"}]}


def test_a_retried_checkout_gets_the_first_answer(shop: TestClient) -> None:
    stock(shop, "vlc", "MUG", 5)
    cart_id = cart_with_a_mug(shop)

    first = shop.post(f"/api/v1/carts/{cart_id}/checkout", json=CHECKOUT, headers={"Idempotency-Key": "web-c-1"})
    again = shop.post(f"/api/v1/carts/{cart_id}/checkout", json=CHECKOUT, headers={"Idempotency-Key": "web-c-1"})
    other = shop.post(f"/api/v1/carts/{cart_id}/checkout", json=CHECKOUT, headers={"Idempotency-Key": "web-c-2"})

    assert first.status_code == again.status_code == 201 and again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert problem(other, 409, "cart_not_open")
    assert [o["id"] for o in web_orders(shop)] == [first.json()["id"]]


def test_parallel_checkouts_of_one_cart_make_one_order(
        shop: TestClient, settings: Settings, db: Database, clock: ManualClock, admin_key: str) -> None:
    """Retries of one key get its answer; other keys (another tab, another device) are told the cart is
    closed — never a second order from one cart."""
    from omnihub.app import create_app

    stock(shop, "vlc", "MUG", 50)
    cart_id = cart_with_a_mug(shop)

    def send(n: int) -> httpx.Response:
        with httpx.Client(headers={"Authorization": f"Bearer {admin_key}",
                                   "Idempotency-Key": "tab-1" if n % 2 else f"tab-{n}"}, timeout=60) as http:
            return http.post(f"{url}/api/v1/carts/{cart_id}/checkout", json=CHECKOUT)

    with server_thread(create_app(settings, db=db, clock=clock)) as url, ThreadPoolExecutor(CLIENTS) as pool:
        answers = list(pool.map(send, range(CLIENTS)))

    created = {r.json()["id"] for r in answers if r.status_code == 201}
    refused = [r for r in answers if r.status_code != 201]
    assert len(created) == 1, [(r.status_code, r.text[:200]) for r in answers]
    assert all(r.status_code == 409 and r.json()["code"] == "cart_not_open" for r in refused), \
        [(r.status_code, r.text[:200]) for r in refused]
    assert [o["id"] for o in web_orders(shop)] == list(created)
    assert ok(shop.get("/api/v1/stock/vlc/MUG"))["reserved"] == 1
