"""Reconciliation against Stripe's PaymentIntents list on the local receiver (`omnihub payments reconcile`), and
the ECB reference rates kept as data for reporting, with each currency's minor units."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.conftest import SECRET
from tests.integration.payments.conftest import STRIPE_KEY, configure_stripe, delivered
from tests.integration.payments.test_stripe import authorised, notify, stripe_routes, web_order
from tests.provider_receiver import Call, ProviderReceiver

from omnihub.billing import rates
from omnihub.billing.reconcile import reconcile
from omnihub.config import Settings
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.core.errors import NotFound, ValidationFailed
from omnihub.core.money import parse_amount
from omnihub.core.outbound import OutboundGuard

# The ECB's two CSV layouts (values typed for the test, in the ECB's format).
DAILY = "Date, USD, JPY, KWD, GBP, \n03 December 2026, 1.0512, 158.27, 0.3231, 0.8342, \n"
HISTORY = "Date,USD,JPY,KWD,GBP,\n2026-12-02,1.0498,157.90,0.3226,0.8350,\n2026-12-01,1.0475,N/A,0.3219,0.8361,\n"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # one engine: PostgreSQL runs test_stripe and the races
def test_reconcile_reports_what_differs(shop: TestClient, provider: ProviderReceiver, db: Database,
                                        clock: ManualClock, settings: Settings, db_url: str) -> None:
    stripe_routes(provider)
    configure_stripe(shop, provider.base)
    paid, waiting = web_order(shop), web_order(shop)
    delivered(shop, notify(shop, authorised(provider.intents["pi_0001"])))  # type: ignore[attr-defined]

    def listing(call: Call) -> tuple[int, Any]:
        intents = list(provider.intents.values())  # type: ignore[attr-defined]
        intents[1] = {**intents[1], "status": "requires_capture", "amount_capturable": 2000}  # paid, hub not told
        extra = {"id": "pi_9999", "object": "payment_intent", "amount": 500, "currency": "eur", "status": "succeeded",
                 "amount_received": 500, "metadata": {}, "created": 1764770000}
        return 200, {"object": "list", "url": "/v1/payment_intents", "has_more": False,
                     "data": [{**intents[0], "status": "requires_capture", "amount_capturable": 2000}, intents[1],
                              extra]}

    provider.route("GET", "/v1/payment_intents", listing)
    since, until = clock.now() - timedelta(hours=1), clock.now() + timedelta(hours=1)
    report = reconcile(db, secret_key=settings.secret_key, guard=OutboundGuard(settings.outbound_allow),
                       provider="stripe", channel="web", since=since, until=until)
    [call] = provider.calls_to("GET", "/v1/payment_intents")
    assert call.headers["authorization"] == f"Bearer {STRIPE_KEY}"
    assert call.query["created[gte]"] == [str(int(since.timestamp()))] and call.query["limit"] == ["100"]
    assert report["clean"] is False and (report["hub"], report["provider_count"]) == (2, 3)
    assert [m["reference"] for m in report["missing_in_hub"]] == ["pi_9999"]
    assert report["status_differs"] == [{"reference": "pi_0002", "hub": "started", "provider": "requires_capture",
                                         "payment_id": report["status_differs"][0]["payment_id"],
                                         "order_id": waiting["id"]}]
    assert report["missing_at_provider"] == [] and paid["id"] != waiting["id"]

    # The command itself: its JSON on stdout, exit 1 on differences.
    env = {"OMNIHUB_DATABASE_URL": db_url, "OMNIHUB_SECRET_KEY": SECRET, "OMNIHUB_OUTBOUND_ALLOW": "127.0.0.1",
           "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    run = subprocess.run([sys.executable, "-m", "omnihub.cli", "payments", "reconcile", "--provider", "stripe",
                          "--channel", "web", "--from", since.isoformat(), "--to", until.isoformat()],
                         env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stderr
    assert [m["reference"] for m in json.loads(run.stdout)["missing_in_hub"]] == ["pi_9999"]


def test_ecb_rates_are_data_for_reports(db: Database) -> None:
    with db.transaction() as conn:
        assert rates.import_ecb(conn, DAILY) == 4
        assert rates.import_ecb(conn, HISTORY) == 7  # N/A skipped
    with db.read() as conn:
        assert rates.convert_for_report(conn, Decimal("105.12"), "USD", "EUR", date(2026, 12, 3)) == Decimal("100.00")
        assert rates.convert_for_report(conn, Decimal("100.00"), "EUR", "JPY", date(2026, 12, 3)) == Decimal("15827")
        assert rates.convert_for_report(conn, Decimal("100.00"), "EUR", "KWD", date(2026, 12, 2)) == Decimal("32.260")
        # JPY had no rate on the 1st: the latest before it is used — there is none, so it says so.
        with pytest.raises(NotFound) as missing:
            rates.convert_for_report(conn, Decimal(1), "JPY", "EUR", date(2026, 12, 1))
        assert missing.value.code == "exchange_rate_missing"
    with pytest.raises(ValidationFailed):
        rates.parse_ecb_csv("when,USD\n2026-12-01,1.0\n")


def test_amounts_keep_each_currencys_minor_units() -> None:
    assert parse_amount("1500", "JPY") == Decimal("1500")
    assert parse_amount("12.345", "KWD") == Decimal("12.345")
    for bad, currency in (("10.5", "JPY"), ("1.2345", "KWD"), ("1.234", "EUR")):
        with pytest.raises(ValidationFailed):
            parse_amount(bad, currency)
