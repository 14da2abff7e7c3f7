"""Browser test of the Imports page: a CSV uploaded with its mapping file becomes a job; the job's page follows
the worker live (htmx polling) to its report — counts and the rejected row with its line and reason — and the
report downloads; accessible, in English and Spanish."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import Shop, check_accessibility, log_in, screenshot

MAPPING = """name: e2e-articles
system: e2e-erp
channel: web
entities:
  product:
    fields:
      sku: {column: CODIGO, transforms: [trim, upper]}
      name: DESCRIPCION
      category: {value: imported}
"""
CSV = "CODIGO;DESCRIPCION\ne2e-taza;Taza azul\ne2e-plato;\ne2e-vaso;Vaso\n"


def _worker_once(shop: Shop) -> None:
    subprocess.run([sys.executable, "-m", "omnihub.cli", "worker", "--once"], env=shop.env, capture_output=True,
                   timeout=120, check=True)


def test_an_import_uploaded_followed_live_and_its_report(new_page, shop: Shop, tmp_path: Path) -> None:
    data = tmp_path / "articulos.csv"
    data.write_text(CSV, encoding="utf-8")
    mapping = tmp_path / "articulos.yaml"
    mapping.write_text(MAPPING, encoding="utf-8")

    page = new_page()
    log_in(page, shop, "admin")
    page.get_by_role("navigation", name="Main menu").get_by_role("link", name="Imports").click()
    assert page.get_by_role("heading", name="Imports", exact=True).is_visible()
    check_accessibility(page)
    page.get_by_label("File (.csv, .tsv, .txt or .xlsx)").set_input_files(str(data))
    page.get_by_label("Or a mapping file (YAML)").set_input_files(str(mapping))
    page.get_by_role("button", name="Import", exact=True).click()
    page.wait_for_url("**/imports/imp_*")
    assert "queued" in page.locator("#import-job").inner_text()

    _worker_once(shop)  # the page was not reloaded: its polling shows the result
    page.get_by_role("heading", name="Rejected rows").wait_for()
    rejected = page.get_by_role("table", name="Rejected rows with their line and reason").inner_text()
    assert "articulos.csv\t3\tproduct.name is empty" in rejected
    counts = page.get_by_role("table", name="Rows", exact=True).inner_text()
    assert "3\t2\t0\t1" in counts
    check_accessibility(page)
    screenshot(page, "import-report")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the report (JSON)").click()
    report = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert report["rows"]["imported"] == 2 and report["rejected"][0]["line"] == 3

    page.get_by_role("link", name="Imports").first.click()
    assert "articulos.csv" in page.get_by_role("table", name="Import jobs, newest first").inner_text()

    spanish = new_page(locale="es-ES")
    log_in(spanish, shop, "admin")
    spanish.goto("/imports")
    assert spanish.get_by_role("heading", name="Importaciones", exact=True).is_visible()
    assert spanish.get_by_role("table", name="Importaciones, las más recientes primero").is_visible()
    check_accessibility(spanish)
