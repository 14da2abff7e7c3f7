"""Ad audiences: people collected by an `audience` step, exported hashed (SHA-256 of the normalised e-mail and
E.164 phone) in Meta's and Google's columns, consent-filtered, in full or as adds and removes since the last export."""

from __future__ import annotations

import hashlib

from fastapi.testclient import TestClient
from tests.builders import ok, problem
from tests.integration.automation.conftest import consent
from tests.integration.automation.test_rules_and_guards import person, visit

from omnihub.core.clock import ManualClock
from omnihub.core.db import Database


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def test_audience_exports_are_hashed_consent_filtered_and_delta(
        shop: TestClient, db: Database, clock: ManualClock, work) -> None:
    ok(shop.post("/api/v1/automations", json={
        "name": "Retargeting", "trigger": {"event": "store_visit"}, "conditions": [],
        "steps": [{"action": "audience", "audience": "retargeting"}], "active": True}), 201)
    yes = person(shop, "Yes@Correo.es", "+34600000011", "ads_audiences")
    person(shop, "no@correo.es", "+34600000012")  # never agreed to ads audiences
    for phone in ("+34600000011", "+34600000012"):
        visit(shop, db, clock, phone)
    work()
    assert ok(shop.get("/api/v1/audiences")) == [{"name": "retargeting", "members": 2}]

    meta = ok(shop.post("/api/v1/audiences/retargeting/exports", json={"format": "meta"}), 201)
    assert meta["adds"] == [{"EMAIL": sha("yes@correo.es"), "PHONE": sha("34600000011")}]
    assert meta["adds_csv"].splitlines() == ["EMAIL,PHONE", f"{sha('yes@correo.es')},{sha('34600000011')}"]
    google = ok(shop.post("/api/v1/audiences/retargeting/exports", json={"format": "google", "mode": "delta"}), 201)
    assert google["adds"] == [{"Email": sha("yes@correo.es"), "Phone": sha("+34600000011")}]

    late = person(shop, "late@correo.es", "+34600000013", "ads_audiences")
    visit(shop, db, clock, "+34600000013")
    work()
    consent(shop, yes, "ads_audiences", granted=False)
    delta = ok(shop.post("/api/v1/audiences/retargeting/exports", json={"format": "meta", "mode": "delta"}), 201)
    assert delta["adds"] == [{"EMAIL": sha("late@correo.es"), "PHONE": sha("34600000013")}]
    assert delta["removes"] == [{"EMAIL": sha("yes@correo.es"), "PHONE": sha("34600000011")}]
    assert late
    history = ok(shop.get("/api/v1/audiences/retargeting/exports"))
    assert [(h["format"], h["mode"], h["added"], h["removed"]) for h in history] == [
        ("meta", "delta", 1, 1), ("google", "delta", 1, 0), ("meta", "full", 1, 0)]
    problem(shop.post("/api/v1/audiences/nobody/exports", json={"format": "meta"}), 404, "audience_not_found")
    assert shop.post("/api/v1/audiences/retargeting/exports", json={"format": "tiktok"}).status_code == 422
