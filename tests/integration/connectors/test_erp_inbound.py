"""ERP stock and price updates inbound, through HTTP on both engines: lines in the ERP's own field names and
codes, translated by the ERP mapping (article code → SKU, warehouse code → location), applied as ledger
entries carrying the ERP's reference (stock) or channel prices (catalog); unknown codes are reported per line
with nothing of that line applied; the same document again changes nothing; the file path does the same."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.builders import channel, location, ok, problem, product, stock
from typer.testing import CliRunner

from omnihub.config import Settings
from omnihub.core.db import Database

MAPPING = """
customer_prefix: "CLI"
guest_customer: "CLI999999"
articles: {TEE-M: "100234", MUG: "100777", SCARF: "100900"}
tax_codes: {21: "G21"}
payment_methods: {card: "TJ"}
date_format: "%d/%m/%Y"
series: {invoice: "FV", credit_note: "FR"}
warehouses: {"01": wh, "02": store}
inbound:
  stock: {article: CODART, warehouse: CODALM, on_hand: EXISTENCIAS, reference: DOCUMENTO}
  prices: {article: CODART, price: PVP, reference: TARIFA, channel: web, decimal: ","}
"""


@pytest.fixture
def shop(admin: TestClient) -> TestClient:
    location(admin, "wh", kind="warehouse", pickup=False)
    location(admin, "store")
    for sku in ("TEE-M", "MUG"):
        product(admin, sku, category="apparel")
    channel(admin, "web", locations=["wh", "store"])
    ok(admin.put("/api/v1/channels/web/prices", json=[{"sku": "TEE-M", "amount": "20.00"},
                                                      {"sku": "MUG", "amount": "11.00"}]))
    stock(admin, "wh", "TEE-M", 10)
    ok(admin.put("/api/v1/connectors/erp", json={"endpoint": "http://127.0.0.1:9/erp", "token": "t",
                                                 "mapping": MAPPING}))
    return admin


def level(api: TestClient, where: str, sku: str) -> int:
    return ok(api.get(f"/api/v1/stock/{where}/{sku}"))["on_hand"]


def ledger(api: TestClient, where: str, sku: str) -> list[dict]:
    return ok(api.get(f"/api/v1/stock/{where}/{sku}/ledger"))["items"]


def prices(api: TestClient) -> dict[str, str]:
    return {p["sku"]: p["amount"] for p in ok(api.get("/api/v1/channels/web/prices"))["items"]}


def test_an_erp_stock_document_becomes_ledger_entries_with_its_reference_once(shop: TestClient, db: Database) -> None:
    document = [
        {"CODART": "100234", "CODALM": "01", "EXISTENCIAS": "7", "DOCUMENTO": "REG-2026-0042"},
        {"CODART": "100777", "CODALM": "02", "EXISTENCIAS": 12, "DOCUMENTO": "REG-2026-0042"},
        {"CODART": "999999", "CODALM": "01", "EXISTENCIAS": "3", "DOCUMENTO": "REG-2026-0042"},
        {"CODART": "100777", "CODALM": "77", "EXISTENCIAS": "3", "DOCUMENTO": "REG-2026-0042"},
        {"CODART": "100900", "CODALM": "01", "EXISTENCIAS": "3", "DOCUMENTO": "REG-2026-0042"},
        {"CODART": "100777", "CODALM": "01", "EXISTENCIAS": "2,5", "DOCUMENTO": "REG-2026-0042"},
        {"CODART": "100777", "CODALM": "01", "DOCUMENTO": "REG-2026-0042"},
    ]
    out = ok(shop.post("/api/v1/connectors/erp/stock", json=document, headers={"Idempotency-Key": "erp-doc-42"}))
    assert out["counts"] == {"applied": 2, "unchanged": 0, "rejected": 5}
    by_line = {line["line"]: line for line in out["lines"]}
    assert (by_line[1]["outcome"], by_line[1]["sku"], by_line[1]["location"]) == ("applied", "TEE-M", "wh")
    assert by_line[3]["reason"] == "unknown article code '999999'"
    assert by_line[4]["reason"] == "unknown warehouse code '77'"
    assert "SCARF" in by_line[5]["reason"]  # mapped, but not in the catalog: nothing of the line applied
    assert "2,5" in by_line[6]["reason"] and "EXISTENCIAS" in by_line[7]["reason"]
    assert level(shop, "wh", "TEE-M") == 7 and level(shop, "store", "MUG") == 12
    entry = ledger(shop, "wh", "TEE-M")[0]
    assert (entry["kind"], entry["on_hand_delta"], entry["reference"]) == ("adjustment", -3, "erp:REG-2026-0042")
    assert ledger(shop, "store", "MUG")[0]["reference"] == "erp:REG-2026-0042"
    with db.read() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM idempotency_keys WHERE key = 'erp-doc-42'")).scalar() == 1
        assert conn.execute(sa.text("SELECT count(*) FROM stock_levels WHERE sku = 'MUG' AND location_code = 'wh'")
                            ).scalar() == 0  # the rejected lines left nothing behind

    # The same document again (a new request, no key): nothing changes, every applied line says so.
    again = ok(shop.post("/api/v1/connectors/erp/stock", json=document))
    assert again["counts"] == {"applied": 0, "unchanged": 2, "rejected": 5}
    assert len(ledger(shop, "wh", "TEE-M")) == 2  # the initial count and the ERP's, no third
    # The same reference with another figure is refused, not applied over the first.
    changed = ok(shop.post("/api/v1/connectors/erp/stock", json=[{**document[0], "EXISTENCIAS": "1"}]))
    assert changed["lines"][0]["outcome"] == "rejected" and "on_hand=7" in changed["lines"][0]["reason"]
    assert level(shop, "wh", "TEE-M") == 7
    # A new document is a new count.
    ok(shop.post("/api/v1/connectors/erp/stock", json=[{**document[0], "EXISTENCIAS": "9",
                                                         "DOCUMENTO": "REG-2026-0043"}]))
    assert level(shop, "wh", "TEE-M") == 9


def test_erp_prices_reach_the_mapped_channel_line_by_line(shop: TestClient) -> None:
    out = ok(shop.post("/api/v1/connectors/erp/prices", json=[
        {"CODART": "100234", "PVP": "1.234,50", "TARIFA": "T-2026"},
        {"CODART": "100777", "PVP": "abc", "TARIFA": "T-2026"},
        {"CODART": "123", "PVP": "1,00", "TARIFA": "T-2026"}]))
    assert out["counts"] == {"applied": 1, "unchanged": 0, "rejected": 2}
    assert prices(shop) == {"TEE-M": "1234.50", "MUG": "11.00"}
    again = ok(shop.post("/api/v1/connectors/erp/prices", json=[
        {"CODART": "100234", "PVP": "1.234,50", "TARIFA": "T-2026"}]))
    assert again["counts"]["unchanged"] == 1


def test_bad_erp_input_is_a_problem_and_changes_nothing(shop: TestClient, admin_key: str) -> None:
    problem(shop.post("/api/v1/connectors/erp/stock", json={"CODART": "1"}), 422, "validation_error")
    problem(shop.post("/api/v1/connectors/erp/stock", json=[]), 422, "validation_error")
    problem(shop.post("/api/v1/connectors/erp/stock", json=[{"CODART": "x" * 201}]), 422, "validation_error")
    problem(shop.post("/api/v1/connectors/erp/stock", json=[{"a": 1}] * 1001), 422, "validation_error")
    assert level(shop, "wh", "TEE-M") == 10
    bare = MAPPING.split("warehouses:")[0]
    ok(shop.put("/api/v1/connectors/erp", json={"endpoint": "http://127.0.0.1:9/erp", "token": "t",
                                                "mapping": bare}))
    problem(shop.post("/api/v1/connectors/erp/stock", json=[{"CODART": "100234"}]), 422, "erp_inbound_not_mapped")
    bad = problem(shop.put("/api/v1/connectors/erp", json={
        "endpoint": "http://127.0.0.1:9/erp", "token": "t",
        "mapping": MAPPING.replace("on_hand: EXISTENCIAS", "on_hand: EXISTENCIAS, delta: MOV")}),
        422, "invalid_erp_mapping")
    assert bad["field"] == "mapping.inbound.stock.on_hand"


def test_the_erps_file_goes_through_the_same_mapping(shop: TestClient, settings: Settings, tmp_path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from omnihub.cli import app
    from omnihub.config import get_settings

    data = tmp_path / "existencias.csv"
    data.write_text("\ufeffCODART;CODALM;EXISTENCIAS;DOCUMENTO\n100234;01;4;INV-9\n\n555;01;1;INV-9\n",
                    encoding="utf-8")
    report = tmp_path / "report.json"
    monkeypatch.setenv("OMNIHUB_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("OMNIHUB_SECRET_KEY", settings.secret_key)
    get_settings.cache_clear()
    try:
        dry = CliRunner().invoke(app, ["import-erp", "stock", str(data), "--dry-run"])
        assert dry.exit_code == 0, dry.output
        assert level(shop, "wh", "TEE-M") == 10
        result = CliRunner().invoke(app, ["import-erp", "stock", str(data), "--report", str(report)])
        again = CliRunner().invoke(app, ["import-erp", "stock", str(data)])
        assert CliRunner().invoke(app, ["import-erp", "colours", str(data)]).exit_code == 2
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "1 applied, 0 unchanged, 1 rejected" in result.output
    assert "line 4: unknown article code '555'" in result.output
    assert "0 applied, 1 unchanged, 1 rejected" in again.output
    assert level(shop, "wh", "TEE-M") == 4
    assert ledger(shop, "wh", "TEE-M")[0]["reference"] == "erp:INV-9"
    assert json.loads(report.read_text())["counts"] == {"applied": 1, "unchanged": 0, "rejected": 1}


def test_erp_price_lists_set_each_line_in_its_lists_channel(shop: TestClient) -> None:
    """An ERP with several price lists (tarifas): `price_list` names the line's field, `price_lists` turns its
    code into the hub channel. The same reference and article in two lists are two lines, each remembered."""
    channel(shop, "store", locations=["store"])
    lists = MAPPING.replace('reference: TARIFA, channel: web, decimal: ","',
                            'reference: DOC, price_list: TARIFA, decimal: ","').replace(
        "inbound:", 'price_lists: {"PVP1": web, "PVP2": store}\ninbound:')
    ok(shop.put("/api/v1/connectors/erp", json={"endpoint": "http://127.0.0.1:9/erp", "token": "t",
                                                "mapping": lists}))
    document = [{"CODART": "100234", "PVP": "19,95", "TARIFA": "PVP1", "DOC": "T-2027"},
                {"CODART": "100234", "PVP": "17,50", "TARIFA": "PVP2", "DOC": "T-2027"},
                {"CODART": "100777", "PVP": "9,00", "TARIFA": "PVP9", "DOC": "T-2027"}]
    out = ok(shop.post("/api/v1/connectors/erp/prices", json=document))
    assert out["counts"] == {"applied": 2, "unchanged": 0, "rejected": 1}
    assert [(ln["outcome"], ln.get("channel")) for ln in out["lines"][:2]] == [("applied", "web"),
                                                                                ("applied", "store")]
    assert out["lines"][2]["reason"] == "unknown price list code 'PVP9'"
    assert prices(shop)["TEE-M"] == "19.95"
    store = {p["sku"]: p["amount"] for p in ok(shop.get("/api/v1/channels/store/prices"))["items"]}
    assert store["TEE-M"] == "17.50"
    again = ok(shop.post("/api/v1/connectors/erp/prices", json=document[:2]))
    assert again["counts"] == {"applied": 0, "unchanged": 2, "rejected": 0}

    both = problem(shop.put("/api/v1/connectors/erp", json={
        "endpoint": "http://127.0.0.1:9/erp", "token": "t",
        "mapping": lists.replace("price_list: TARIFA", "price_list: TARIFA, channel: web")}),
        422, "invalid_erp_mapping")
    assert both["field"] == "mapping.inbound.prices.channel"
    no_table = problem(shop.put("/api/v1/connectors/erp", json={
        "endpoint": "http://127.0.0.1:9/erp", "token": "t",
        "mapping": lists.replace('price_lists: {"PVP1": web, "PVP2": store}\n', "")}), 422, "invalid_erp_mapping")
    assert no_table["field"] == "mapping.price_lists"
