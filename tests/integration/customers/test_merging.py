from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Connection
from tests.builders import ok, problem
from tests.integration.customers.helpers import (
    customer,
    customer_with,
    event,
    lookup,
    send,
    shop,
    timeline,
    values,
    view,
)

from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.core.events import recent_events
from omnihub.customers import activity, participants

VERIFIED_ANA = {"kind": "email", "value": "ana@correo.es", "verified": True}


def _suggestions(api: TestClient, **query: Any) -> list[dict[str, Any]]:
    return ok(api.get("/api/v1/customers/merge-suggestions", params=query))["items"]


def test_one_event_with_two_strong_identifiers_merges_the_profiles(admin: TestClient, clock: ManualClock,
                                                                   db: Database) -> None:
    shop(admin)
    older = customer_with(admin, [VERIFIED_ANA])["id"]
    clock.advance(minutes=5)
    newer = customer(admin, phone="612345678", channel_code="store")["id"]
    send(admin, event("page_viewed", {"phone": "612345678"}, channel="store"))

    result = send(admin, event("identified", [VERIFIED_ANA, {"kind": "phone", "value": "+34612345678"}]))

    assert result["merges"] == 1
    assert result["customer_ids"] == [older]
    survivor = view(admin, newer)
    assert survivor["id"] == older
    assert survivor["merged_ids"] == [newer]
    assert values(survivor, "phone") == ["+34612345678"]
    assert [t["type"] for t in timeline(admin, older)["items"]] == ["identified", "page_viewed"]
    assert lookup(admin, phone="612345678", channel="store").json()["id"] == older
    with db.read() as conn:
        merged = recent_events(conn, type_="customer.merged")
    assert [(e.data["customer_id"], e.data["merged_id"]) for e in merged] == [(older, newer)]


def test_merge_audit_records_what_came_from_where(admin: TestClient) -> None:
    shop(admin)
    ana = customer_with(admin, [VERIFIED_ANA])["id"]
    other = customer(admin, name="Ana García", phone="612345678")["id"]

    send(admin, event("identified", [VERIFIED_ANA, {"kind": "phone", "value": "612345678"}]))

    profile = view(admin, ana)
    assert profile["name"] == "Ana García"
    merge_id = ok(admin.get(f"/api/v1/customers/{ana}/export"))["merges"][0]["id"]
    with_merge = ok(admin.get(f"/api/v1/customers/merges/{merge_id}"))
    assert with_merge["survivor_id"] == ana and with_merge["merged_id"] == other
    assert with_merge["reason"] == "auto"
    assert with_merge["fields"]["name"] == {"value": "Ana García", "from": other, "survivor_before": None,
                                            "merged_before": "Ana García"}
    assert [(i["kind"], i["value"], i["from"]) for i in with_merge["fields"]["identities"]] == [
        ("phone", "+34612345678", other)]


def test_two_different_verified_emails_go_to_the_suggestion_queue_not_a_merge(admin: TestClient) -> None:
    shop(admin)
    ana = customer_with(admin, [VERIFIED_ANA, {"kind": "phone", "value": "612345678"}])["id"]
    bea = customer_with(admin, [{"kind": "email", "value": "bea@correo.es", "verified": True},
                                {"kind": "loyalty", "value": "L-1"}])["id"]

    result = send(admin, event("store_visit", {"phone": "612345678", "loyalty": "L-1"}, channel="store"))

    assert result["merges"] == 0
    assert result["suggestions"] == 1
    assert lookup(admin, loyalty="L-1").json()["id"] == bea
    [suggestion] = _suggestions(admin, status="open")
    assert {suggestion["customer_a"], suggestion["customer_b"]} == {ana, bea}
    assert suggestion["reason"] == "conflict"
    assert suggestion["evidence"]["conflicts"] == ["different_verified_emails"]


def test_accepting_a_suggestion_merges_the_pair(admin: TestClient) -> None:
    shop(admin)
    ana = customer_with(admin, [VERIFIED_ANA, {"kind": "phone", "value": "612345678"}])["id"]
    bea = customer_with(admin, [{"kind": "email", "value": "bea@correo.es", "verified": True},
                                {"kind": "loyalty", "value": "L-1"}])["id"]
    send(admin, event("store_visit", {"phone": "612345678", "loyalty": "L-1"}, channel="store"))
    [suggestion] = _suggestions(admin, status="open")

    accepted = ok(admin.post(f"/api/v1/customers/merge-suggestions/{suggestion['id']}/accept"))

    assert accepted["merge_id"] is not None
    assert view(admin, bea)["id"] == ana
    assert values(view(admin, ana), "email") == ["ana@correo.es", "bea@correo.es"]
    assert _suggestions(admin, status="open") == []
    problem(admin.post(f"/api/v1/customers/merge-suggestions/{suggestion['id']}/reject"), 409, "suggestion_closed")


def test_a_rejected_pair_is_not_proposed_again(admin: TestClient) -> None:
    shop(admin)
    ana = customer_with(admin, [VERIFIED_ANA, {"kind": "phone", "value": "612345678"}])["id"]
    bea = customer_with(admin, [{"kind": "email", "value": "bea@correo.es", "verified": True},
                                {"kind": "loyalty", "value": "L-1"}])["id"]
    send(admin, event("store_visit", {"phone": "612345678", "loyalty": "L-1"}, channel="store"))
    [suggestion] = _suggestions(admin)
    assert admin.post(f"/api/v1/customers/merge-suggestions/{suggestion['id']}/reject").status_code == 204

    send(admin, event("store_visit", {"phone": "612345678", "loyalty": "L-1"}, channel="store"))

    assert [s["status"] for s in _suggestions(admin)] == ["rejected"]
    assert view(admin, ana)["id"] == ana
    assert view(admin, bea)["id"] == bea


def test_a_weak_link_only_proposes(admin: TestClient) -> None:
    shop(admin)
    browsing = send(admin, event("page_viewed", {"anonymous_id": "dev-1"}, channel="app"))["customer_ids"][0]
    known = customer(admin, email="ana@correo.es")["id"]

    result = send(admin, event("identified", {"anonymous_id": "dev-1", "email": "ana@correo.es"}))

    assert result["merges"] == 0
    assert result["customer_ids"] == [known]
    [suggestion] = _suggestions(admin)
    assert suggestion["reason"] == "weak_link"
    assert {suggestion["customer_a"], suggestion["customer_b"]} == {browsing, known}


def test_blocked_shared_values_never_join_two_people(admin: TestClient) -> None:
    shop(admin)
    ok(admin.post("/api/v1/customers/blocklist", json={"kind": "phone", "value": "910000001", "channel": "store",
                                                       "note": "store counter phone"}), 201)
    ana = customer(admin, email="ana@correo.es")["id"]
    bea = customer(admin, email="bea@correo.es")["id"]

    send(admin,
         event("store_visit", {"email": "ana@correo.es", "phone": "910000001"}, channel="store"),
         event("store_visit", {"email": "bea@correo.es", "phone": "910000001"}, channel="store"),
         event("store_visit", {"email": "test@test.com", "loyalty": "L-9"}, channel="store"))

    assert view(admin, ana)["id"] == ana and view(admin, bea)["id"] == bea
    assert values(view(admin, ana), "phone") == []
    problem(lookup(admin, email="test@test.com"), 404, "customer_not_found")
    assert [b["value"] for b in ok(admin.get("/api/v1/customers/blocklist"))["items"]] == ["+34910000001"]


def test_manual_merge_keeps_the_named_id(admin: TestClient) -> None:
    shop(admin)
    first = customer(admin, email="ana@correo.es")["id"]
    second = customer(admin, email="ana.garcia@trabajo.es")["id"]

    merge = ok(admin.post(f"/api/v1/customers/{second}/merge", json={"other": first}), 201)

    assert merge["survivor_id"] == second and merge["reason"] == "manual"
    assert lookup(admin, email="ana@correo.es").json()["id"] == second
    problem(admin.post(f"/api/v1/customers/{second}/merge", json={"other": first}), 409, "already_merged")
    problem(admin.post(f"/api/v1/customers/{second}/merge", json={"other": second}), 422, "cannot_merge_self")
    problem(admin.post(f"/api/v1/customers/{second}/merge", json={"other": "cus_nope"}), 404, "customer_not_found")


def test_undo_restores_both_profiles_and_what_belonged_to_each(admin: TestClient, db: Database,
                                                                clock: ManualClock) -> None:
    shop(admin)
    ana = customer(admin, name="Ana", email="ana@correo.es")["id"]
    clock.advance(minutes=1)
    other = customer(admin, name="Ana G", phone="612345678", channel_code="store")["id"]
    send(admin, event("page_viewed", {"email": "ana@correo.es"}),
         event("store_visit", {"phone": "612345678"}, channel="store"))
    ok(admin.put(f"/api/v1/customers/{other}/consents/sms", json={"granted": True, "channel": "store"}))
    admin.put(f"/api/v1/customers/{other}/tags/vip")
    with db.transaction() as conn:
        activity.add_store_credit(conn, clock, other, 15, "EUR", "return")
    merge = ok(admin.post(f"/api/v1/customers/{ana}/merge", json={"other": other}), 201)
    send(admin, event("searched", {"phone": "612345678"}, channel="store", q="boots"))
    assert view(admin, ana)["store_credit"] == {"EUR": "15.00"}

    undone = ok(admin.post(f"/api/v1/customers/merges/{merge['id']}/undo"))

    assert undone == {"merge_id": merge["id"], "survivor_id": ana, "restored_id": other}
    restored = view(admin, other)
    assert restored["id"] == other and restored["name"] == "Ana G"
    assert values(restored, "phone") == ["+34612345678"]
    assert restored["consents"]["sms"]["granted"] is True
    assert [t["tag"] for t in restored["tags"]] == ["vip"]
    assert restored["store_credit"] == {"EUR": "15.00"}
    assert [t["type"] for t in timeline(admin, other)["items"]] == ["store_visit"]
    survivor = view(admin, ana)
    assert values(survivor, "phone") == [] and survivor["merged_ids"] == []
    assert survivor["store_credit"] == {} and survivor["consents"] == {}
    assert [t["type"] for t in timeline(admin, ana)["items"]] == ["searched", "page_viewed"]
    assert lookup(admin, phone="612345678", channel="store").json()["id"] == other
    problem(admin.post(f"/api/v1/customers/merges/{merge['id']}/undo"), 409, "merge_not_undoable")


class _Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    def on_merge(self, conn: Connection, survivor_id: str, absorbed_ids: list[str]) -> None:
        conn.execute(sa.select(1))  # runs inside the merge transaction
        self.calls.append(("merge", survivor_id, *absorbed_ids))

    def on_unmerge(self, conn: Connection, survivor_id: str, restored_id: str, absorbed_ids: list[str]) -> None:
        self.calls.append(("unmerge", survivor_id, restored_id))


def test_other_rooms_rows_follow_merges_through_the_extension_point(admin: TestClient) -> None:
    shop(admin)
    recorder = _Recorder()
    participants.register_merge_participant("recorder", recorder)
    try:
        a = customer(admin, email="ana@correo.es")["id"]
        b = customer(admin, email="ana2@correo.es")["id"]
        merge = ok(admin.post(f"/api/v1/customers/{a}/merge", json={"other": b}), 201)
        ok(admin.post(f"/api/v1/customers/merges/{merge['id']}/undo"))
    finally:
        participants.unregister_merge_participant("recorder")

    assert recorder.calls == [("merge", a, b), ("unmerge", a, b)]


def test_merged_ids_keep_resolving_through_chains(admin: TestClient) -> None:
    shop(admin)
    a = customer(admin, email="a@correo.es")["id"]
    b = customer(admin, email="b@correo.es")["id"]
    c = customer(admin, email="c@correo.es")["id"]
    ok(admin.post(f"/api/v1/customers/{b}/merge", json={"other": c}), 201)

    ok(admin.post(f"/api/v1/customers/{a}/merge", json={"other": b}), 201)

    assert view(admin, c)["id"] == a
    assert view(admin, a)["merged_ids"] == sorted([b, c])
    assert values(view(admin, a), "email") == ["a@correo.es", "b@correo.es", "c@correo.es"]
