"""Browser tests: a real `omnihub serve` on a temp database, driven by Playwright through Debian's Chromium.

Without /usr/bin/chromium these tests are skipped with the reason, except where OMNIHUB_TEST_REQUIRE_BROWSER=1
(CI), where they fail. Never `playwright install`: the browser comes from the system's package."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from omnihub.core.clock import SystemClock
from omnihub.core.db import Database
from omnihub.core.migrate import upgrade
from omnihub.core.security import create_api_key
from tests.provider_receiver import Mailbox
from tests.servers import wait_until_up

CHROMIUM = os.environ.get("OMNIHUB_TEST_CHROMIUM", "/usr/bin/chromium")
REQUIRE = os.environ.get("OMNIHUB_TEST_REQUIRE_BROWSER") == "1"
# Under pytest-xdist every browser test runs in one worker (the `browser` group, below); the worker's number still
# moves the ports so a second group can never collide with the first.
_XDIST_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
PORT = int(os.environ.get("OMNIHUB_TEST_CONSOLE_PORT", "18650")) + 10 * _XDIST_WORKER
SECRET = "e2e-secret-key-for-the-console"
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
PRICES = {"TEE-M": "20.00", "MUG": "11.00"}


def _browser_problem() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[dev]')"
    return None


@dataclass
class Shop:
    url: str
    api: httpx.Client
    users: dict[str, tuple[str, str]] = field(default_factory=dict)  # role → (email, password)
    env: dict[str, str] = field(default_factory=dict)  # the server's environment (to run the worker on it)
    mailbox: Mailbox | None = None  # the SMTP server its e-mail goes to

    def order(self, body: dict[str, Any]) -> dict[str, Any]:
        answer = self.api.post("/api/v1/orders", json=body)
        assert answer.status_code == 201, answer.text
        return answer.json()  # type: ignore[no-any-return]


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "omnihub.cli", *args], env=env, capture_output=True, text=True,
                          timeout=120, check=True)
    return done.stdout.strip().splitlines()[-1]


def _seed(api: httpx.Client) -> None:
    def ok(answer: httpx.Response) -> None:
        assert answer.status_code in (200, 201), answer.text

    for code, name, kind, lat, lon, pickup in (("wh", "Getafe DC", "warehouse", 40.35, -3.70, False),
                                               ("sol", "Madrid Sol", "store", 40.4168, -3.7038, True),
                                               ("bcn", "Barcelona Gracia", "store", 41.39, 2.17, True)):
        ok(api.post("/api/v1/locations", json={"code": code, "name": name, "kind": kind, "lat": lat, "lon": lon,
                                               "pickup": pickup}))
    ok(api.post("/api/v1/products", json={"sku": "TEE-M", "name": "Organic Tee M", "category": "apparel"}))
    ok(api.post("/api/v1/products", json={"sku": "MUG", "name": "Stoneware Mug", "category": "home",
                                          "tax_class": "reduced"}))
    for code, kind, locations in (("web", "web", ["wh", "sol", "bcn"]), ("app", "app", ["wh", "sol", "bcn"]),
                                  ("store", "store", ["sol", "bcn"])):
        ok(api.post("/api/v1/channels", json={"code": code, "name": code.title(), "kind": kind, "currency": "EUR",
                                              "country": "ES", "locations": locations, "stock_buffer": 0}))
        ok(api.put(f"/api/v1/channels/{code}/prices", json=[{"sku": s, "amount": a} for s, a in PRICES.items()]))
    for loc, sku, units, safety in (("wh", "TEE-M", 50, 0), ("wh", "MUG", 40, 0), ("sol", "TEE-M", 6, 2),
                                    ("sol", "MUG", 1, 2), ("bcn", "TEE-M", 3, 0)):
        ok(api.put(f"/api/v1/stock/{loc}/{sku}", json={"on_hand": units, "safety_stock": safety}))


def _require_browser() -> None:
    problem = _browser_problem()
    if problem:
        if REQUIRE:
            pytest.fail(problem)
        pytest.skip(problem)


@contextmanager
def _running_shop(url_db: str, port: int) -> Iterator[Shop]:
    """`omnihub serve` on `url_db` (migrated here) with a small Spanish shop and a user per role made with
    `omnihub user create` (its password is the last line it prints). Its e-mail goes to a local SMTP server."""
    mailbox = Mailbox().start()
    env = {**os.environ, "OMNIHUB_DATABASE_URL": url_db, "OMNIHUB_SECRET_KEY": SECRET,
           "OMNIHUB_CONSOLE_TIMEZONE": "Europe/Madrid", "OMNIHUB_SMTP_URL": mailbox.url,
           "OMNIHUB_SUPPORT_EMAIL": "ayuda@tienda.es"}
    upgrade(url_db)
    db = Database(url_db)
    with db.transaction() as conn:
        _, key = create_api_key(conn, SystemClock(), SECRET, role="admin", name="e2e")
    db.dispose()
    server = subprocess.Popen([sys.executable, "-m", "omnihub.cli", "serve", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, timeout=60)
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as api:
            _seed(api)
            shop = Shop(url=url, api=api, env=env, mailbox=mailbox)
            for role, location in (("admin", None), ("associate", "sol"), ("agent", None), ("marketer", None)):
                email = f"{role}@tienda.es"
                args = ["user", "create", "--email", email, "--role", role] + (
                    ["--location", location] if location else [])
                shop.users[role] = (email, _cli(env, *args))
            yield shop
    finally:
        server.terminate()
        server.wait(timeout=15)
        mailbox.stop()


# Package scope, not session: the servers and the browser close when the browser tests end (Playwright's sync
# API keeps an event loop running in the main thread, which would break later tests that call asyncio.run).
@pytest.fixture(scope="package")
def shop() -> Iterator[Shop]:
    """The browser tests' server, on a fresh SQLite file."""
    _require_browser()
    folder = Path(tempfile.mkdtemp(prefix="omnihub-e2e-"))
    try:
        with _running_shop(f"sqlite:///{folder / 'console.db'}", PORT) as running:
            yield running
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="package")
def pg_shop() -> Iterator[Shop]:
    """The same on a fresh PostgreSQL database (one journey runs there too)."""
    _require_browser()
    from tests.conftest import _PG_PROBLEM, PG_ADMIN_URL, REQUIRE_PG, _pg_url

    if _PG_PROBLEM:
        if REQUIRE_PG:
            pytest.fail(_PG_PROBLEM)
        pytest.skip(_PG_PROBLEM)
    import psycopg

    name = f"omnihub_e2e_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        with _running_shop(_pg_url(name), PORT + 1) as running:
            yield running
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield chromium
        chromium.close()


@pytest.fixture
def new_page_on(browser: Any) -> Iterator[Any]:
    """`new_page_on(shop)(locale=…, width=…)`: pages in fresh contexts (own cookies) on that shop's server;
    `locale` sets the browser's Accept-Language. CSP is bypassed only so axe-core can be injected."""
    contexts = []

    def on(shop: Shop) -> Any:
        def make(locale: str = "en-GB", width: int = 1280, height: int = 860) -> Any:
            context = browser.new_context(base_url=shop.url, locale=locale,
                                          viewport={"width": width, "height": height}, bypass_csp=True)
            context.set_default_timeout(15_000)
            contexts.append(context)
            return context.new_page()

        return make

    yield on
    for context in contexts:
        context.close()


@pytest.fixture
def new_page(new_page_on: Any, shop: Shop) -> Any:
    return new_page_on(shop)


def log_in(page: Any, shop: Shop, role: str) -> None:
    email, password = shop.users[role]
    page.goto("/login")
    page.locator("#f-email").fill(email)
    page.locator("#f-password").fill(password)
    page.locator("#f-password").press("Enter")
    page.wait_for_load_state()


def check_accessibility(page: Any) -> None:
    """axe-core on the page as it is: no serious or critical violation."""
    page.evaluate(AXE.read_text(encoding="utf-8"))
    violations = page.evaluate("""async () => (await axe.run(document, {resultTypes: ['violations']}))
        .violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                               targets: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))""")
    bad = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert not bad, f"{page.url}: {bad}"


def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Keep the browser tests together in one xdist worker (`--dist loadgroup`): they share one server and one
    Chromium per package, which would otherwise start once per worker."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.xdist_group("browser"))
