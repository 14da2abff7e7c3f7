from fastapi.testclient import TestClient
from tests.integration.customers.helpers import event, lookup, send, shop, timeline, values, view


def test_anonymous_app_browsing_then_checkout_email_then_store_phone_is_one_person(admin: TestClient) -> None:
    shop(admin)
    browsing = send(
        admin,
        event("page_viewed", {"anonymous_id": "dev-42"}, channel="app", at="2026-01-05T08:00:00Z"),
        event("product_viewed", {"anonymous_id": "dev-42"}, channel="app", at="2026-01-05T08:01:00Z",
              sku="RUN-1", category="Running Shoes"),
    )
    send(admin, event("identified", {"anonymous_id": "dev-42", "email": " Ana@Correo.ES "}, channel="web",
                      at="2026-01-05T08:05:00Z"))

    at_counter = send(admin, event("store_visit", {"email": "ana@correo.es", "phone": "612 345 678"},
                                   channel="store", at="2026-01-05T18:00:00Z"))

    person = browsing["customer_ids"][0]
    assert browsing["customer_ids"] == [person, person]
    assert at_counter["customer_ids"] == [person]
    profile = view(admin, person)
    assert values(profile, "anonymous_id") == ["dev-42"]
    assert values(profile, "email") == ["ana@correo.es"]
    assert values(profile, "phone") == ["+34612345678"]
    assert profile["stats"]["channels"] == ["app", "store", "web"]
    assert [t["type"] for t in timeline(admin, person)["items"]] == [
        "store_visit", "identified", "product_viewed", "page_viewed"]
    assert lookup(admin, phone="+34 612 345 678").json()["id"] == person
    assert [(t["tag"], t["source"]) for t in profile["tags"]] == [("running-shoes", "auto")]
