import pytest
from fastapi.testclient import TestClient
from tests.builders import channel, location, ok, product


@pytest.fixture
def shop(admin: TestClient) -> TestClient:
    """A warehouse and two stores; web sells from all three, marketplace from the warehouse, store from s1.
    Both products are priced in every channel (a product without a price is not available there)."""
    location(admin, "wh", kind="warehouse", lat=40.30, lon=-3.70, pickup=False)
    location(admin, "s1", lat=40.42, lon=-3.70)
    location(admin, "s2", lat=41.39, lon=2.17)
    product(admin, "TEE-M", category="apparel")
    product(admin, "MUG", category="home")
    channel(admin, "web", kind="web", locations=["wh", "s1", "s2"])
    channel(admin, "market", kind="marketplace", locations=["wh"], stock_buffer=2)
    channel(admin, "store", kind="store", locations=["s1"])
    for code in ("web", "market", "store"):
        ok(admin.put(f"/api/v1/channels/{code}/prices", json=[{"sku": "TEE-M", "amount": "20.00"},
                                                             {"sku": "MUG", "amount": "11.00"}]))
    return admin
