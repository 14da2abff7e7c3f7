"""Every timestamp the API gives is UTC and says so with `Z`, on both databases and across rooms."""

import re
from typing import Any

from fastapi.testclient import TestClient
from tests.builders import channel, location, ok, product, stock

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")


def _timestamps(value: Any, path: str = "") -> list[tuple[str, str]]:
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in _timestamps(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [t for i, v in enumerate(value) for t in _timestamps(v, f"{path}[{i}]")]
    return [(path, value)] if isinstance(value, str) and TIMESTAMP.match(value) else []


def test_products_stock_reservations_orders_and_customers_give_utc_timestamps_with_z(admin: TestClient) -> None:
    location(admin, "wh", kind="warehouse", pickup=False)
    product(admin, "TEE-M", category="apparel")
    channel(admin, "web", locations=["wh"])
    ok(admin.put("/api/v1/channels/web/prices", json=[{"sku": "TEE-M", "amount": "20.00"}]))
    stock(admin, "wh", "TEE-M", 10)
    reservation = ok(admin.post("/api/v1/reservations", json={"channel": "web", "lines": [
        {"sku": "TEE-M", "quantity": 1}]}), 201)
    order = ok(admin.post("/api/v1/orders", json={
        "channel": "web", "customer": {"email": "marta.ruiz@correo.es"}, "lines": [{"sku": "TEE-M", "quantity": 1}],
        "fulfilment": {"type": "ship", "address": {"line1": "Calle Mayor 1", "city": "Madrid",
                                                   "postal_code": "28013", "country": "ES"}},
        "payments": [{"method": "card", "amount": "20.00"}]}), 201)

    answers = {
        "product": admin.get("/api/v1/products/TEE-M"),
        "products": admin.get("/api/v1/products"),
        "stock": admin.get("/api/v1/stock/wh/TEE-M"),
        "ledger": admin.get("/api/v1/stock/wh/TEE-M/ledger"),
        "reservation": admin.get(f"/api/v1/reservations/{reservation['id']}"),
        "order": admin.get(f"/api/v1/orders/{order['id']}"),
        "customer": admin.get(f"/api/v1/customers/{order['customer_id']}"),
        "timeline": admin.get(f"/api/v1/customers/{order['customer_id']}/timeline"),
    }
    for name, response in answers.items():
        found = _timestamps(ok(response))
        assert found, f"{name}: no timestamp to check"
        wrong = [(path, value) for path, value in found if not value.endswith("Z")]
        assert not wrong, f"{name}: {wrong}"
