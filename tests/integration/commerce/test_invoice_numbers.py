"""An order paid in full gets the next number of its channel's invoice series, stored on the invoice and on
the order alike, and the number keeps its spelling past the sixth digit."""

import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.builders import ok, stock
from tests.integration.commerce.test_order_idempotency import order_body

from omnihub.billing.models import document_series
from omnihub.core.db import Database


def place(api: TestClient) -> dict:
    return ok(api.post("/api/v1/orders", json=order_body(1)), 201)


def test_invoice_numbers_follow_the_series_and_grow_past_six_digits(shop: TestClient, db: Database) -> None:
    stock(shop, "vlc", "MUG", 5)
    first = place(shop)
    with db.transaction() as conn:
        conn.execute(sa.update(document_series).where(document_series.c.series == "INV-WEB")
                     .values(next_number=999_999))

    last_of_six, seventh = place(shop), place(shop)

    assert [o["invoice_number"] for o in (first, last_of_six, seventh)] == \
        ["INV-WEB-000001", "INV-WEB-999999", "INV-WEB-1000000"]
    for order in (first, last_of_six, seventh):
        assert ok(shop.get(f"/api/v1/orders/{order['id']}"))["invoice_number"] == order["invoice_number"]
        invoices = ok(shop.get("/api/v1/invoices", params={"order": order["id"]}))["items"]
        assert [(i["number"], i["series"], i["sequence"]) for i in invoices] == \
            [(order["invoice_number"], "INV-WEB", int(order["invoice_number"].rsplit("-", 1)[1]))]
