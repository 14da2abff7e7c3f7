from datetime import UTC, datetime
from decimal import Decimal

from fastapi.testclient import TestClient
from tests.builders import ok, problem
from tests.conftest import make_key
from tests.integration.customers.helpers import customer, event, lookup, send, shop, timeline, values, view

from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.customers import activity


def test_customer_identities_are_normalised_and_create_is_get_or_create(admin: TestClient) -> None:
    shop(admin)
    created = customer(admin, name="Ana", email=" Ana@Correo.ES ", phone="612 345 678", handle="@Ana_G",
                       network="Instagram", loyalty="l 0042")

    again = customer(admin, email="ana@correo.es", status=200)

    assert again["id"] == created["id"]
    assert sorted((i["kind"], i["value"], i["network"]) for i in created["identities"]) == [
        ("email", "ana@correo.es", None), ("handle", "ana_g", "instagram"), ("loyalty", "L0042", None),
        ("phone", "+34612345678", None)]
    for query in ({"email": "ANA@correo.es"}, {"phone": "+34612345678"}, {"handle": "@ana_g", "network": "instagram"},
                  {"loyalty": "L0042"}):
        assert ok(lookup(admin, **query))["id"] == created["id"]
    problem(lookup(admin, handle="ana_g", network="tiktok"), 404, "customer_not_found")
    problem(lookup(admin, email="a@b.es", phone="600000001"), 422, "lookup_needs_one")


def test_invalid_and_blocked_identities_are_422_and_create_nothing(admin: TestClient) -> None:
    shop(admin)

    bad_phone = problem(admin.post("/api/v1/customers", json={"identities": {"email": "ana@correo.es",
                                                                            "phone": "12"}, "channel": "web"}),
                        422, "invalid_identity")
    blocked = problem(admin.post("/api/v1/customers", json={"identities": {"email": "test@test.com"}}),
                      422, "identity_blocked")

    assert bad_phone["field"] == "identities.phone.value"
    assert blocked["field"] == "identities.email"
    problem(lookup(admin, email="ana@correo.es"), 404, "customer_not_found")


def test_a_batch_over_1000_events_is_refused(admin: TestClient) -> None:
    shop(admin)
    batch = [event("page_viewed", {"anonymous_id": f"d{i}"}) for i in range(1001)]

    body = problem(admin.post("/api/v1/events", json=batch), 422, "batch_too_large")

    assert body["size"] == 1001


def test_one_bad_event_names_its_index_and_nothing_is_stored(admin: TestClient) -> None:
    shop(admin)
    batch = [event("page_viewed", {"email": "ana@correo.es"}), event("page_viewed", {"email": "bea@correo.es"}),
             {"type": "Bad Type!", "channel": "web", "identity": {"email": "cai@correo.es"}}]
    bad_identity = [event("page_viewed", {"email": "ana@correo.es"}), event("searched", {"email": "not-an-email"})]

    wrong_type = problem(admin.post("/api/v1/events", json=batch), 422, "invalid_event")
    wrong_identity = problem(admin.post("/api/v1/events", json=bad_identity), 422, "invalid_identity")
    unknown_channel = problem(admin.post("/api/v1/events", json=[event("searched", {"email": "a@correo.es"},
                                                                       channel="nope")]), 404, "channel_not_found")

    assert wrong_type["field"] == "2.type"
    assert wrong_identity["field"] == "1.identity.email.value"
    assert unknown_channel["field"] == "0.channel"
    problem(lookup(admin, email="ana@correo.es"), 404, "customer_not_found")


def test_custom_event_types_are_kept_and_flagged(admin: TestClient) -> None:
    shop(admin)

    result = send(admin, event("wishlist_added", {"email": "ana@correo.es"}, sku="RUN-1"))

    [item] = timeline(admin, result["customer_ids"][0])["items"]
    assert (item["type"], item["custom"], item["properties"]) == ("wishlist_added", True, {"sku": "RUN-1"})


def test_timeline_pages_newest_first_and_filters_by_type_and_channel(admin: TestClient) -> None:
    shop(admin)
    ana = {"email": "ana@correo.es"}
    result = send(admin, *[
        event("page_viewed" if i % 2 else "searched", ana, channel="app" if i < 3 else "web",
              at=f"2026-01-0{i + 1}T10:00:00Z", n=i)
        for i in range(5)
    ])
    cid = result["customer_ids"][0]

    first = timeline(admin, cid, limit=2)
    second = timeline(admin, cid, limit=2, cursor=first["next_cursor"])
    third = timeline(admin, cid, limit=2, cursor=second["next_cursor"])
    searched = timeline(admin, cid, type="searched")
    on_app = timeline(admin, cid, channel="app")
    searched_on_web = timeline(admin, cid, type="searched", channel="web")

    assert [i["properties"]["n"] for i in first["items"] + second["items"] + third["items"]] == [4, 3, 2, 1, 0]
    assert third["next_cursor"] is None
    assert [i["properties"]["n"] for i in searched["items"]] == [4, 2, 0]
    assert [i["properties"]["n"] for i in on_app["items"]] == [2, 1, 0]
    assert [i["properties"]["n"] for i in searched_on_web["items"]] == [4]


def test_purchases_feed_the_360_aggregates_and_the_timeline(admin: TestClient, db: Database,
                                                            clock: ManualClock) -> None:
    shop(admin)
    cid = customer(admin, email="ana@correo.es")["id"]

    with db.transaction() as conn:
        activity.record_purchase(conn, clock, cid, "web", Decimal("30.00"), datetime(2026, 1, 1, tzinfo=UTC),
                                 order_id="ord_1", currency="EUR", categories=["Boots"])
        activity.record_purchase(conn, clock, cid, "store", Decimal("50.00"), datetime(2026, 1, 3, tzinfo=UTC),
                                 order_id="ord_2", currency="EUR")
        activity.record_purchase(conn, clock, cid, "store", Decimal("10.00"), datetime(2026, 1, 5, tzinfo=UTC),
                                 order_id="ord_3", currency="EUR")

    stats = view(admin, cid)["stats"]
    assert stats["orders_count"] == 3
    assert stats["lifetime_value"] == "90.00"
    assert stats["average_ticket"] == "30.00"
    assert stats["first_order_at"].startswith("2026-01-01T00:00:00")
    assert stats["last_order_at"].startswith("2026-01-05T00:00:00")
    assert stats["purchase_frequency_days"] == 2.0
    assert stats["channels"] == ["store", "web"]
    assert stats["preferred_channel"] == "store"
    assert [i["properties"]["order_id"] for i in timeline(admin, cid, type="order_placed")["items"]] == [
        "ord_3", "ord_2", "ord_1"]
    tags = view(admin, cid)["tags"]
    assert [(t["tag"], t["source"]) for t in tags] == [("boots", "auto")] and tags[0]["score"] > 0


def test_interest_tags_decay_with_time_and_manual_tags_stay(admin: TestClient, clock: ManualClock) -> None:
    shop(admin)
    cid = send(admin, event("product_viewed", {"email": "ana@correo.es"}, category="Boots",
                            at=clock.now().isoformat()))["customer_ids"][0]
    assert admin.put(f"/api/v1/customers/{cid}/tags/vip").status_code == 204
    fresh = view(admin, cid)["tags"]

    clock.advance(days=30)
    halved = view(admin, cid)["tags"]
    clock.advance(days=60)
    faded = view(admin, cid)["tags"]

    assert fresh == [{"tag": "vip", "source": "manual", "score": None},
                     {"tag": "boots", "source": "auto", "score": 1.0}]
    assert halved[1] == {"tag": "boots", "source": "auto", "score": 0.5}
    assert faded == [{"tag": "vip", "source": "manual", "score": None}]
    assert admin.delete(f"/api/v1/customers/{cid}/tags/vip").status_code == 204
    assert view(admin, cid)["tags"] == []
    problem(admin.delete(f"/api/v1/customers/{cid}/tags/vip"), 404, "tag_not_found")


def test_roles_read_and_write_what_they_may(admin: TestClient, db: Database, clock: ManualClock) -> None:
    shop(admin)
    cid = customer(admin, email="ana@correo.es")["id"]
    agent = {"Authorization": f"Bearer {make_key(db, clock, 'agent')}"}
    app_key = {"Authorization": f"Bearer {make_key(db, clock, 'channel', channel='app')}"}

    assert admin.get(f"/api/v1/customers/{cid}", headers=agent).status_code == 200
    problem(admin.post(f"/api/v1/customers/{cid}/merge", json={"other": cid}, headers=agent), 403,
            "role_not_allowed")
    assert admin.post("/api/v1/events", headers=app_key,
                      json=[event("page_viewed", {"email": "ana@correo.es"}, channel="app")]).status_code == 200
    other_channel = problem(admin.post("/api/v1/events", headers=app_key, json=[
        event("page_viewed", {"email": "ana@correo.es"}, channel="app"),
        event("page_viewed", {"email": "ana@correo.es"}, channel="web")]), 403, "channel_not_allowed")
    assert other_channel["field"] == "1.channel"
    assert ok(admin.get("/api/v1/customers/lookup", params={"email": "ana@correo.es"}, headers=app_key))["id"] == cid
    problem(admin.get(f"/api/v1/customers/{cid}", headers=app_key), 403, "role_not_allowed")
    assert values(view(admin, cid), "email") == ["ana@correo.es"]
    assert view(admin, cid)["stats"]["events_count"] == 1
