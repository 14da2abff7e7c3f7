import pytest
from fastapi.testclient import TestClient
from tests.builders import channel, location, ok, product, stock
from tests.conftest import make_key

from omnihub.core.clock import ManualClock
from omnihub.core.db import Database


@pytest.fixture
def shop(admin: TestClient) -> TestClient:
    """A warehouse in Madrid and three stores (Madrid centre, Barcelona, Valencia); web, app, store and marketplace
    channels in EUR; two products with prices; stock in the warehouse and some stores."""
    location(admin, "wh", kind="warehouse", lat=40.3456, lon=-3.6985, pickup=False, name="Getafe DC")
    location(admin, "mad", lat=40.4168, lon=-3.7038, name="Madrid Sol")
    location(admin, "bcn", lat=41.3874, lon=2.1686, name="Barcelona Gracia")
    location(admin, "vlc", lat=39.4699, lon=-0.3763, name="Valencia Centro")
    product(admin, "TEE-M", category="apparel", name="Organic Tee M")
    product(admin, "MUG", category="home", name="Stoneware Mug", tax_class="reduced")
    channel(admin, "web", kind="web", locations=["wh", "mad", "bcn", "vlc"])
    channel(admin, "app", kind="app", locations=["wh", "mad", "bcn", "vlc"])
    channel(admin, "store", kind="store", locations=["mad", "bcn", "vlc"])
    channel(admin, "market", kind="marketplace", locations=["wh"])
    for code in ("web", "app", "store"):
        ok(admin.put(f"/api/v1/channels/{code}/prices", json=[{"sku": "TEE-M", "amount": "20.00"},
                                                             {"sku": "MUG", "amount": "11.00"}]))
    ok(admin.put("/api/v1/channels/market/prices", json=[{"sku": "TEE-M", "amount": "22.00"},
                                                        {"sku": "MUG", "amount": "12.00"}]))
    stock(admin, "wh", "TEE-M", 50)
    stock(admin, "wh", "MUG", 50)
    stock(admin, "mad", "TEE-M", 3)
    stock(admin, "bcn", "TEE-M", 2)
    stock(admin, "bcn", "MUG", 5)
    return admin


@pytest.fixture
def associate(db: Database, clock: ManualClock):
    """Headers for an associate key of a store."""

    def headers(store: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {make_key(db, clock, 'associate', location=store)}"}

    return headers
