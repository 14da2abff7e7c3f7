"""The console's segments, audiences and campaign-results pages: a marketer counts a rule live, creates the
segment (a bad value shows the field and saves nothing), reads its members; exports an audience and downloads the
file again; reads per-rule results. An associate may open none of them."""

from __future__ import annotations

import csv
import io

from tests.builders import location, ok
from tests.integration.console.conftest import csrf_of, login, make_user

from omnihub.automation.models import automation_audience_members


def test_a_marketer_builds_a_segment_exports_an_audience_and_reads_results(
        admin, browser_for, db, clock) -> None:
    location(admin, "sol")
    customer = ok(admin.post("/api/v1/customers", json={"name": "Ana", "identities": [
        {"kind": "email", "value": "ana.seg@correo.es"}, {"kind": "phone", "value": "+34600000071"}]}), 201)["id"]
    ok(admin.put(f"/api/v1/customers/{customer}/consents/ads_audiences", json={"granted": True}))
    email, password = make_user(db, clock, "marketer")
    page = login(browser_for(), email, password)
    token = csrf_of(page.get("/segments").text)

    form = {"csrf_token": token, "name": "Españoles", "match": "all", "field_0": "customer.country", "op_0": "==",
            "value_0": "es"}
    counted = page.post("/segments/count", data=form)
    assert counted.status_code == 200 and "Matching now: 1" in counted.text and customer in counted.text
    refused = page.post("/segments", data={**form, "value_0": "Spain", "action": "create"})
    assert refused.status_code == 422 and "conditions.0.value" in refused.text
    assert "Españoles" not in refused.text.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    made = page.post("/segments", data={**form, "action": "create"}, follow_redirects=False)
    assert made.status_code == 303
    detail = page.get(made.headers["location"]).text
    assert "Segment created." in detail and customer in detail
    assert "Españoles" in page.get("/segments").text

    with db.transaction() as conn:
        conn.execute(automation_audience_members.insert(), dict(audience="vips", customer_id=customer,
                                                                added_at=clock.now()))
    assert "vips" in page.get("/audiences").text
    exported = page.post("/audiences/vips/exports", data={"csrf_token": token, "format": "google", "mode": "full"},
                         follow_redirects=False)
    assert exported.status_code == 303
    history = page.get(exported.headers["location"]).text
    assert "Export recorded." in history and "adds.csv" in history
    export_id = ok(admin.get("/api/v1/audiences/vips/exports"))[0]["id"]
    download = page.get(f"/audiences/vips/exports/{export_id}/adds.csv")
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert download.headers["content-type"].startswith("text/csv") and len(rows) == 1
    assert set(rows[0]) == {"Email", "Phone"} and len(rows[0]["Email"]) == 64  # SHA-256, never the address
    assert "ana.seg@correo.es" not in download.text

    results = page.get("/campaigns").text
    assert "Abandoned cart e-mail" in results and "Total" in results

    associate = login(browser_for(), *make_user(db, clock, "associate", location="sol"))
    for path in ("/segments", "/audiences", "/campaigns"):
        assert associate.get(path).status_code == 403
