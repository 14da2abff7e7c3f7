from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from tests.builders import ok, problem
from tests.integration.customers.helpers import customer, event, lookup, send, shop, timeline, values, view

from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.core.errors import DomainError
from omnihub.customers import activity, privacy


def test_last_explicit_choice_wins_by_when_it_was_made(admin: TestClient, db: Database) -> None:
    shop(admin)
    cid = customer(admin, email="ana@correo.es")["id"]
    url = f"/api/v1/customers/{cid}/consents/email_marketing"
    ok(admin.put(url, json={"granted": True, "channel": "web", "at": "2026-01-03T10:00:00Z",
                            "proof": {"form": "checkout", "ip": "203.0.113.7"}}))

    late_arriving_older = ok(admin.put(url, json={"granted": False, "channel": "store",
                                                  "at": "2026-01-02T10:00:00Z"}))
    with db.read() as conn:
        allowed_before = privacy.can_contact(conn, cid, "email_marketing")
    newest = ok(admin.put(url, json={"granted": False, "channel": "store", "at": "2026-01-04T10:00:00Z"}))
    with db.read() as conn:
        allowed_after = privacy.can_contact(conn, cid, "email_marketing")
        sms_never_asked = privacy.can_contact(conn, cid, "sms")

    assert late_arriving_older["email_marketing"]["granted"] is True
    assert late_arriving_older["email_marketing"]["proof"] == {"form": "checkout", "ip": "203.0.113.7"}
    assert allowed_before is True
    assert newest["email_marketing"] == {"granted": False, "channel": "store", "at": "2026-01-04T10:00:00Z",
                                         "proof": None}
    assert allowed_after is False
    assert sms_never_asked is False
    problem(admin.put(f"/api/v1/customers/{cid}/consents/telepathy", json={"granted": True}), 422,
            "validation_error")


def test_consent_follows_a_merge_and_the_latest_choice_of_either_profile_wins(admin: TestClient,
                                                                              db: Database) -> None:
    shop(admin)
    a = customer(admin, email="ana@correo.es")["id"]
    b = customer(admin, phone="612345678")["id"]
    ok(admin.put(f"/api/v1/customers/{a}/consents/sms", json={"granted": False, "at": "2026-01-01T00:00:00Z"}))
    ok(admin.put(f"/api/v1/customers/{b}/consents/sms", json={"granted": True, "at": "2026-01-02T00:00:00Z"}))

    ok(admin.post(f"/api/v1/customers/{a}/merge", json={"other": b}), 201)

    assert view(admin, a)["consents"]["sms"]["granted"] is True
    with db.read() as conn:
        assert privacy.can_contact(conn, b, "sms") is True


def test_export_holds_everything_about_the_person(admin: TestClient) -> None:
    shop(admin)
    cid = customer(admin, name="Ana", email="ana@correo.es")["id"]
    send(admin, event("searched", {"email": "ana@correo.es"}, q="boots"))
    ok(admin.put(f"/api/v1/customers/{cid}/consents/profiling", json={"granted": True}))

    export = ok(admin.get(f"/api/v1/customers/{cid}/export"))

    assert export["customer"]["name"] == "Ana"
    assert values(export["customer"], "email") == ["ana@correo.es"]
    assert [(e["type"], e["properties"]) for e in export["timeline"]] == [("searched", {"q": "boots"})]
    assert [(c["purpose"], c["granted"]) for c in export["consent_log"]] == [("profiling", True)]


def test_erase_anonymises_and_the_erased_identifiers_cannot_re_identify(admin: TestClient, db: Database,
                                                                        clock: ManualClock) -> None:
    shop(admin)
    cid = customer(admin, name="Ana", email="ana@correo.es", phone="612345678")["id"]
    send(admin, event("searched", {"email": "ana@correo.es"}, q="boots"))

    erasure = ok(admin.delete(f"/api/v1/customers/{cid}"))
    later = send(admin, event("page_viewed", {"email": "ana@correo.es"}),
                 event("page_viewed", {"phone": "+34612345678", "anonymous_id": "dev-9"}))

    assert (erasure["identities_blocked"], erasure["events_deleted"]) == (2, 1)
    profile = view(admin, cid)
    assert (profile["status"], profile["name"], profile["identities"]) == ("erased", None, [])
    assert timeline(admin, cid)["items"] == []
    assert later["ignored"] == 1 and later["customer_ids"][0] is None
    newcomer = view(admin, later["customer_ids"][1])
    assert newcomer["id"] != cid
    assert values(newcomer, "phone") == [] and values(newcomer, "anonymous_id") == ["dev-9"]
    problem(lookup(admin, email="ana@correo.es"), 404, "customer_not_found")
    problem(admin.post("/api/v1/customers", json={"identities": {"email": "ana@correo.es"}}), 409,
            "identity_erased")
    problem(admin.post(f"/api/v1/customers/{cid}/merge", json={"other": newcomer["id"]}), 409, "customer_erased")
    with db.read() as conn:
        assert privacy.can_contact(conn, cid, "email_marketing") is False
    export = ok(admin.get(f"/api/v1/customers/{cid}/export"))
    assert export["erasures"][0]["id"] == erasure["id"]
    assert "ana@correo.es" not in str(export)


def test_store_credit_is_spent_never_below_zero(admin: TestClient, db: Database, clock: ManualClock) -> None:
    shop(admin)
    cid = customer(admin, email="ana@correo.es")["id"]
    with db.transaction() as conn:
        activity.add_store_credit(conn, clock, cid, Decimal("20.00"), "EUR", "return")
        left = activity.spend_store_credit(conn, clock, cid, Decimal("12.50"), "EUR", reason="order 1")

    with pytest.raises(DomainError) as refused, db.transaction() as conn:
        activity.spend_store_credit(conn, clock, cid, Decimal("7.51"), "EUR", reason="order 2")

    assert left == Decimal("7.50")
    assert refused.value.code == "insufficient_store_credit"
    assert view(admin, cid)["store_credit"] == {"EUR": "7.50"}


def test_a_consent_dated_in_the_future_is_refused_and_cannot_outrank_later_opt_outs(admin: TestClient,
                                                                                    db: Database) -> None:
    """Before: `at` 9999-12-31 was accepted and then won over every later opt-out, silently."""
    shop(admin)
    cid = customer(admin, email="ana@correo.es")["id"]
    url = f"/api/v1/customers/{cid}/consents/email_marketing"

    far = problem(admin.put(url, json={"granted": True, "at": "2100-12-31T23:59:59Z"}), 422, "consent_in_future")
    absurd = problem(admin.put(url, json={"granted": True, "at": "9999-12-31T23:59:59Z"}), 422, "validation_error")
    skewed = ok(admin.put(url, json={"granted": True, "at": "2026-01-05T09:04:00Z"}))  # clock at 09:00
    too_far = problem(admin.put(url, json={"granted": True, "at": "2026-01-05T09:06:00Z"}), 422,
                      "consent_in_future")
    opt_out = ok(admin.put(url, json={"granted": False}))

    assert far["field"] == "at" and too_far["field"] == "at" and absurd["field"] == "at"
    assert skewed["email_marketing"]["granted"] is True
    assert opt_out["email_marketing"]["granted"] is True  # the 09:04 choice is still the latest…
    assert "does not count" in opt_out["email_marketing"]["notice"]  # …and the answer says so
    with db.read() as conn:
        assert privacy.can_contact(conn, cid, "email_marketing") is True


def test_an_older_dated_opt_out_that_loses_to_a_newer_opt_in_says_so(admin: TestClient, db: Database) -> None:
    shop(admin)
    cid = customer(admin, email="ana@correo.es")["id"]
    url = f"/api/v1/customers/{cid}/consents/sms"
    opt_in = ok(admin.put(url, json={"granted": True, "at": "2026-01-03T10:00:00Z"}))
    late = ok(admin.put(url, json={"granted": False, "at": "2026-01-02T10:00:00Z"}))
    counts = ok(admin.put(url, json={"granted": False, "at": "2026-01-04T10:00:00Z"}))

    assert "notice" not in opt_in["sms"] and "notice" not in counts["sms"]
    assert late["sms"]["granted"] is True
    assert late["sms"]["notice"].startswith("This opt-out (dated 2026-01-02T10:00:00+00:00) was recorded but "
                                            "does not count: the opt-in dated 2026-01-03T10:00:00+00:00")
    assert counts["sms"]["granted"] is False
