"""Order numbers per channel: from a sequence of the channel's own on PostgreSQL (no queueing), from the
channel's counter row on SQLite; a database that numbered with the counter row keeps counting from it."""

from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.builders import channel, ok

from omnihub.core.db import Database

MADRID = {"line1": "Calle de Alcalá 50", "city": "Madrid", "postal_code": "28014", "country": "ES",
          "lat": 40.4189, "lon": -3.6919}


def place(api: TestClient, code: str) -> dict:
    return ok(api.post("/api/v1/orders", json={
        "channel": code, "lines": [{"sku": "MUG", "quantity": 1}], "fulfilment": {"type": "ship", "address": MADRID},
        "payments": [{"method": "card", "amount": "11.00"}]}), 201)


def test_numbering_carries_on_from_the_counter_row(shop: TestClient, db: Database) -> None:
    channel(shop, "legacy-eu", kind="web", locations=["wh"])
    ok(shop.put("/api/v1/channels/legacy-eu/prices", json=[{"sku": "MUG", "amount": "11.00"}]))
    with db.transaction() as conn:  # numbered before: the counter row says 42 comes next
        conn.execute(sa.text("INSERT INTO order_sequences (channel_code, next_number) VALUES ('legacy-eu', 42)"))

    assert [place(shop, "legacy-eu")["number"] for _ in range(2)] == ["LEGACY-EU-000042", "LEGACY-EU-000043"]


def test_parallel_orders_get_distinct_numbers_without_gaps(shop: TestClient) -> None:
    with ThreadPoolExecutor(12) as pool:
        numbers = sorted(pool.map(lambda _: place(shop, "web")["number"], range(12)))
    assert numbers == [f"WEB-{n:06d}" for n in range(1, 13)]
