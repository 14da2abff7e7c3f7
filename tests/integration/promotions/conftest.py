from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.builders import channel, ok


@pytest.fixture
def shop(admin: TestClient) -> TestClient:
    """A web shop and a store selling in EUR, and a Japanese web shop selling in JPY."""
    channel(admin, "web", kind="web")
    channel(admin, "store", kind="store")
    channel(admin, "jp", kind="web", currency="JPY", country="JP")
    return admin


def create(api: TestClient, **body: Any) -> dict[str, Any]:
    return ok(api.post("/api/v1/promotions", json=body), 201)


def evaluate(api: TestClient, *, channel: str = "web", codes: list[str] | None = None, shipping: str = "0",
             **extra: Any) -> Any:
    body = {"channel": channel, "codes": codes or [], "shipping": shipping,
            "lines": extra.pop("lines", [{"sku": "SHOE", "category": "shoes", "quantity": 1, "unit_price": "60.00"},
                                         {"sku": "MUG", "category": "home", "quantity": 2, "unit_price": "20.00"}]),
            **extra}
    return api.post("/api/v1/promotions/evaluate", json=body)
