"""The ERP connector through HTTP: orders and returns reach a local ERP (ProviderReceiver) as a contact upsert
and an invoice / credit note in the ERP's codes, once each, through outages; unmapped SKUs are held with the
reason; the CSV journal is the documents."""

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from tests.builders import channel, location, ok, problem, product, stock
from tests.conftest import make_key
from tests.provider_receiver import ProviderReceiver
from typer.testing import CliRunner

from omnihub.config import Settings
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.worker import WorkerStats

TOKEN = "erp-secret-token-1"
MAPPING = """
customer_prefix: "CLI"
customer_digits: 6
guest_customer: "CLI999999"
articles: {TEE-M: "100234", MUG: "100777"}
tax_codes: {21: "G21", 10: "R10"}
payment_methods: {card: "TJ", original: "TJ", bizum: "BZ"}
date_format: "%d/%m/%Y"
series: {invoice: "FV", credit_note: "FR"}
"""
CUSTOMER = {"email": "marta.ruiz@correo.es"}
ADDRESS = {"line1": "Calle Mayor 1", "city": "Madrid", "postal_code": "28013", "country": "ES",
           "lat": 40.4155, "lon": -3.7074}


@pytest.fixture
def erp() -> Iterator[ProviderReceiver]:
    receiver = ProviderReceiver()
    receiver.route("PUT", r"^/erp/api/contacts/[^/]+$", (200, {"ok": True}))
    receiver.route("POST", "/erp/api/invoices", (201, {"id": "F-1"}))
    receiver.route("POST", "/erp/api/credit-notes", (201, {"id": "R-1"}))
    receiver.start()
    yield receiver
    receiver.stop()


@pytest.fixture
def shop(admin: TestClient) -> TestClient:
    location(admin, "wh", kind="warehouse", lat=40.3456, lon=-3.6985, pickup=False, name="Getafe DC")
    product(admin, "TEE-M", category="apparel", name="Organic Tee M")
    product(admin, "MUG", category="home", name="Stoneware Mug", tax_class="reduced")
    channel(admin, "web", kind="web", locations=["wh"])
    ok(admin.put("/api/v1/channels/web/prices", json=[{"sku": "TEE-M", "amount": "20.00"},
                                                      {"sku": "MUG", "amount": "11.00"}]))
    stock(admin, "wh", "TEE-M", 50)
    stock(admin, "wh", "MUG", 50)
    return admin


def configure(api: TestClient, erp: ProviderReceiver, mapping: str = MAPPING) -> dict:
    return ok(api.put("/api/v1/connectors/erp", json={"endpoint": erp.base + "/erp/api", "token": TOKEN,
                                                      "mapping": mapping}))


def order(api: TestClient, *lines: tuple[str, int], total: str, key: str | None = None) -> dict:
    body = {"channel": "web", "customer": CUSTOMER, "lines": [{"sku": s, "quantity": q} for s, q in lines],
            "fulfilment": {"type": "ship", "address": ADDRESS}, "payments": [{"method": "card", "amount": total}]}
    return ok(api.post("/api/v1/orders", json=body, headers={"Idempotency-Key": key} if key else {}), 201)


def documents(api: TestClient, **params: str) -> list[dict]:
    return ok(api.get("/api/v1/connectors/erp/documents", params=params))["items"]


def test_every_order_gives_the_erp_one_contact_and_one_invoice_in_its_codes(
        shop: TestClient, erp: ProviderReceiver, work: Callable[..., WorkerStats], clock: ManualClock) -> None:
    configured = configure(shop, erp)
    assert "token" not in configured and configured["token_set"] is True
    placed = order(shop, ("TEE-M", 2), total="40.00", key="order-1")
    again = order(shop, ("TEE-M", 2), total="40.00", key="order-1")
    assert again["id"] == placed["id"]

    work()

    contacts = erp.calls_to("PUT", r"^/erp/api/contacts/.+$")
    invoices = erp.calls_to("POST", "/erp/api/invoices")
    assert [c.path for c in contacts] == ["/erp/api/contacts/CLI000001"]
    assert len(invoices) == 1
    assert {c.bearer for c in contacts + invoices} == {TOKEN}
    assert contacts[0].json == {"number": "CLI000001", "name": None, "email": "marta.ruiz@correo.es", "phone": None}
    body = invoices[0].json
    assert body == {
        "series": "FV", "number": placed["invoice_number"], "date": clock.now().strftime("%d/%m/%Y"),
        "customer": "CLI000001", "currency": "EUR", "payment_method": "TJ",
        "lines": [{"article": "100234", "description": "Organic Tee M", "quantity": 2, "unit_price": "20.00",
                   "tax_code": "G21", "total": "40.00"}],
        "totals": body["totals"]}
    assert body["totals"]["total"] == "40.00"
    sent = documents(shop, status="sent")
    assert sorted(d["kind"] for d in sent) == ["contact", "invoice"]
    keys = {d["kind"]: d["idempotency_key"] for d in sent}
    assert invoices[0].headers["idempotency-key"] == keys["invoice"]
    assert contacts[0].headers["idempotency-key"] == keys["contact"]

    second = order(shop, ("MUG", 1), total="11.00")
    work()
    work()
    invoices = erp.calls_to("POST", "/erp/api/invoices")
    assert [c.json["number"] for c in invoices] == [placed["invoice_number"], second["invoice_number"]]
    assert invoices[1].json["customer"] == "CLI000001"  # the same customer keeps its number
    assert invoices[1].json["lines"][0]["tax_code"] == "R10"


def test_a_return_gives_the_erp_a_credit_note_naming_the_invoice(
        shop: TestClient, erp: ProviderReceiver, work: Callable[..., WorkerStats], db: Database,
        clock: ManualClock) -> None:
    configure(shop, erp)
    placed = order(shop, ("TEE-M", 2), total="40.00")
    ok(shop.post(f"/api/v1/orders/{placed['id']}/shipments",
                 json={"carrier": "correos", "tracking_number": "PQ123456789ES", "location": "wh"}), 201)
    returned = ok(shop.post("/api/v1/returns", json={
        "order": placed["id"], "lines": [{"sku": "TEE-M", "quantity": 1}], "location": "wh",
        "condition": "resellable", "refund_method": "original"}), 201)

    work()

    notes = erp.calls_to("POST", "/erp/api/credit-notes")
    assert len(notes) == 1
    assert notes[0].json == {
        "series": "FR", "number": returned["credit_note"], "date": clock.now().strftime("%d/%m/%Y"),
        "customer": "CLI000001", "currency": "EUR", "payment_method": "TJ", "corrects": placed["invoice_number"],
        "lines": [{"article": "100234", "description": "Organic Tee M", "quantity": 1, "unit_price": None,
                   "tax_code": "G21", "total": "20.00"}],
        "totals": {"total": "20.00"}}


def test_an_erp_outage_is_retried_later_and_delivered_once(
        shop: TestClient, work: Callable[..., WorkerStats], clock: ManualClock) -> None:
    down = ProviderReceiver()
    down.route("PUT", r"^/erp/api/contacts/[^/]+$", (200, {"ok": True}))
    down.route("POST", "/erp/api/invoices", (201, {"id": "F-1"}), fail_first=2, fail_status=503)
    down.start()
    try:
        configure(shop, down)
        order(shop, ("TEE-M", 1), total="20.00")
        work()
        pending = documents(shop, kind="invoice")[0]
        assert (pending["status"], pending["attempts"]) == ("pending", 1)
        assert "503" in pending["last_error"]
        work()  # not due yet: backoff
        assert len(down.calls_to("POST", "/erp/api/invoices")) == 1
        clock.advance(seconds=31)
        work()
        clock.advance(seconds=61)
        work()
        clock.advance(seconds=3600)
        work()
        calls = down.calls_to("POST", "/erp/api/invoices")
        assert len(calls) == 3  # two refused, one accepted, nothing after
        assert len({c.headers["idempotency-key"] for c in calls}) == 1
        sent = documents(shop, kind="invoice")[0]
        assert (sent["status"], sent["attempts"]) == ("sent", 3)
    finally:
        down.stop()


def test_an_unmapped_sku_is_held_with_the_reason_until_the_mapping_covers_it(
        shop: TestClient, erp: ProviderReceiver, work: Callable[..., WorkerStats]) -> None:
    configure(shop, erp, MAPPING.replace(', MUG: "100777"', ""))
    order(shop, ("MUG", 1), total="11.00")
    work()

    held = documents(shop, status="held")
    assert [(d["kind"], d["reason"], d["payload"]) for d in held] == [("invoice", "unmapped SKU 'MUG'", None)]
    assert erp.calls_to("POST", "/erp/api/invoices") == []
    assert len(erp.calls_to("PUT", r"^/erp/api/contacts/.+$")) == 1

    assert configure(shop, erp)["remapped"] == 1
    work()
    assert [c.json["lines"][0]["article"] for c in erp.calls_to("POST", "/erp/api/invoices")] == ["100777"]
    assert documents(shop, status="held") == []


def test_a_bad_mapping_names_the_key_and_changes_nothing(admin: TestClient, erp: ProviderReceiver) -> None:
    shop = admin
    body = problem(shop.put("/api/v1/connectors/erp", json={
        "endpoint": erp.base + "/erp/api", "token": TOKEN, "mapping": MAPPING + "warehouse: x\n"}), 422,
        "invalid_erp_mapping")
    assert "warehouse" in body["detail"]
    problem(shop.get("/api/v1/connectors/erp"), 404, "erp_not_configured")
    problem(shop.put("/api/v1/connectors/erp", json={"endpoint": "http://10.1.2.3/erp", "token": TOKEN,
                                                     "mapping": MAPPING}), 422, "erp_endpoint_not_allowed")


def test_only_admins_configure_the_erp(admin: TestClient, erp: ProviderReceiver, db: Database,
                                       clock: ManualClock) -> None:
    shop = admin
    marketer = {"Authorization": f"Bearer {make_key(db, clock, 'marketer')}"}
    assert shop.put("/api/v1/connectors/erp", headers=marketer, json={
        "endpoint": erp.base, "token": TOKEN, "mapping": MAPPING}).status_code == 403
    assert shop.get("/api/v1/connectors/erp/documents", headers=marketer).status_code == 403


def test_the_csv_journal_is_the_documents(shop: TestClient, erp: ProviderReceiver,
                                          work: Callable[..., WorkerStats], settings: Settings,
                                          clock: ManualClock, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from omnihub.cli import app
    from omnihub.config import get_settings

    configure(shop, erp)
    order(shop, ("TEE-M", 2), ("MUG", 1), total="51.00")
    order(shop, ("MUG", 3), total="33.00")
    work()
    monkeypatch.setenv("OMNIHUB_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("OMNIHUB_SECRET_KEY", settings.secret_key)
    get_settings.cache_clear()
    day = clock.now().date().isoformat()
    out = tmp_path / "journal.csv"
    try:
        result = CliRunner().invoke(app, ["export", "erp", "--from", day, "--to", day, "--out", str(out)])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output

    rows = out.read_text().splitlines()
    expected = [(c.json["number"], line["article"], str(line["quantity"]), line["tax_code"], line["total"],
                 c.json["date"]) for c in erp.calls_to("POST", "/erp/api/invoices") for line in c.json["lines"]]
    got = [tuple(r.split(",")[i] for i in (3, 8, 10, 12, 13, 0)) for r in rows[1:]]
    assert got == expected and len(got) == 3
    assert CliRunner().invoke(app, ["export", "erp", "--from", "2026-13-01", "--to", day]).exit_code == 2


def test_two_senders_at_once_send_each_document_once(shop: TestClient, erp: ProviderReceiver, settings: Settings,
                                                     db: Database, clock: ManualClock) -> None:
    import threading

    from omnihub.connectors.erp.sender import send_due
    from omnihub.worker import Worker

    configure(shop, erp)
    for _ in range(4):
        order(shop, ("TEE-M", 1), total="20.00")
    worker = Worker(settings, db, clock)
    worker.dispatch()  # recorded, not sent
    assert len(documents(shop, status="pending")) == 8
    start = threading.Barrier(2)

    def sender() -> None:
        start.wait()
        send_due(db, clock, secret_key=settings.secret_key, outbound_allow=settings.outbound_allow, limit=3)
        send_due(db, clock, secret_key=settings.secret_key, outbound_allow=settings.outbound_allow, limit=3)

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    worker.close()

    keys = [c.headers["idempotency-key"] for c in erp.calls]
    assert len(keys) == 8 and len(set(keys)) == 8
    assert len(documents(shop, status="sent")) == 8
