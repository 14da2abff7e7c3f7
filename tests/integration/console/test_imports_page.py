"""The imports page: a file uploaded with a new mapping (YAML file) or one used before (by name) becomes a job;
its progress shows while the worker runs it; the report (counts, rejected rows with line and reason) is on its
page and downloads as JSON; a bad mapping or no file is a problem on the page, nothing queued; admins only."""

from __future__ import annotations

import json

from tests.builders import channel
from tests.integration.console.conftest import csrf_of, login, make_user

from omnihub.connectors.imports import jobs

MAPPING = """name: erp-articles
system: erp
channel: web
entities:
  product:
    fields:
      sku: {column: CODIGO, transforms: [trim, upper]}
      name: DESCRIPCION
      category: {value: imported}
"""
CSV = "CODIGO;DESCRIPCION\nmug-1;Taza azul\nmug-2;\nplate-1;Plato llano\n"


def test_upload_progress_and_report(admin, browser_for, db, clock) -> None:
    channel(admin, "web")
    email, password = make_user(db, clock, "admin")
    console = login(browser_for(), email, password)
    page = console.get("/imports")
    assert page.status_code == 200 and "No imports yet." in page.text
    token = csrf_of(page.text)

    queued = console.post("/imports", data={"csrf_token": token, "mapping": ""}, files={
        "file": ("articulos.csv", CSV.encode(), "text/csv"),
        "mapping_file": ("erp.yaml", MAPPING.encode(), "application/yaml")}, follow_redirects=False)
    assert queued.status_code == 303, queued.text[queued.text.find("alert"):][:400]
    job_url = queued.headers["location"]
    waiting = console.get(job_url)
    assert "queued" in waiting.text and 'hx-trigger="every 2s"' in waiting.text  # polls while queued
    assert 'hx-trigger="every 2s"' in console.get("/imports/jobs").text

    assert jobs.run_queued(db, clock) == 1
    done = console.get(job_url + "/progress")
    assert "every 2s" not in done.text  # finished: the polling stops
    assert '<progress id="job-progress" max="3" value="3"' in done.text
    assert "Taza azul" not in done.text and "product.name" in done.text  # the rejected row's reason
    assert '<td class="num">3</td><td class="num">2</td>' in done.text  # read 3, imported 2
    report = console.get(job_url + "/report.json")
    assert report.headers["content-disposition"].startswith("attachment;")
    body = report.json()
    assert body["rows"] == {"read": 3, "imported": 2, "unchanged": 0, "rejected": 1}
    assert body["rejected"][0]["line"] == 3 and body["rejected"][0]["file"] == "articulos.csv"

    # The same mapping again, by its name: every row unchanged or rejected, nothing new.
    listing = console.get("/imports")
    assert '<option value="erp-articles"' in listing.text and job_url in listing.text
    again = console.post("/imports", data={"csrf_token": token, "mapping": "erp-articles"},
                         files={"file": ("articulos.csv", CSV.encode(), "text/csv")}, follow_redirects=False)
    assert again.status_code == 303
    jobs.run_queued(db, clock)
    assert json.loads(console.get(again.headers["location"] + "/report.json").text)["rows"]["unchanged"] == 2

    bad = console.post("/imports", data={"csrf_token": token}, files={
        "file": ("a.csv", CSV.encode(), "text/csv"), "mapping_file": ("m.yaml", b"entities:\n  nope: {}\n", "x")})
    assert bad.status_code == 422 and "invalid_mapping" in bad.text, bad.text[bad.text.find("alert"):][:300]
    nothing = console.post("/imports", data={"csrf_token": token, "mapping": "erp-articles"})
    assert nothing.status_code == 422 and "Choose the file to import." in nothing.text
    assert console.get("/imports").text.count("/imports/imp_") == 2  # nothing else was queued
    forged = console.post("/imports", data={"csrf_token": "nope", "mapping": "erp-articles"},
                          files={"file": ("a.csv", CSV.encode(), "text/csv")})
    assert forged.status_code == 403

    agent_email, agent_password = make_user(db, clock, "agent")
    agent = login(browser_for(), agent_email, agent_password)
    assert agent.get("/imports").status_code == 403
    assert agent.get(job_url + "/report.json").status_code == 403
