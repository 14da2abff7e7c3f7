from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.builders import ok, problem
from tests.conftest import make_key

from omnihub.billing.service import DEFAULT_PAYMENT_METHODS, DEFAULT_TAX_RATES
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database


def test_migration_installs_the_defaults(sqlite_template: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{sqlite_template}")
    with engine.connect() as conn:
        methods = conn.execute(sa.text("SELECT code, name, gateway, active FROM payment_methods ORDER BY code")).all()
        rates = conn.execute(sa.text("SELECT tax_class, country, rate FROM tax_rates ORDER BY tax_class")).all()
    engine.dispose()

    assert [tuple(m) for m in methods] == sorted((c, n, g, 1) for c, n, g in DEFAULT_PAYMENT_METHODS)
    assert [(t, c, int(r)) for t, c, r in rates] == sorted((t, c, int(r)) for t, c, r in DEFAULT_TAX_RATES)


def test_spanish_rates_are_there_from_the_start(admin: TestClient) -> None:
    listed = ok(admin.get("/api/v1/tax-rates", params={"country": "ES"}))

    assert listed["items"] == [
        {"tax_class": "reduced", "country": "ES", "rate": "10.00"},
        {"tax_class": "standard", "country": "ES", "rate": "21.00"},
        {"tax_class": "super_reduced", "country": "ES", "rate": "4.00"},
        {"tax_class": "zero", "country": "ES", "rate": "0.00"},
    ]


def test_admin_sets_and_replaces_a_rate(admin: TestClient) -> None:
    created = ok(admin.put("/api/v1/tax-rates/standard/PT", json={"rate": "23.00"}))
    replaced = ok(admin.put("/api/v1/tax-rates/reduced/ES", json={"rate": "5.5"}))
    precise = ok(admin.put("/api/v1/tax-rates/special/US", json={"rate": "8.875"}))

    assert created == {"tax_class": "standard", "country": "PT", "rate": "23.00"}
    assert replaced == {"tax_class": "reduced", "country": "ES", "rate": "5.50"}
    assert precise == {"tax_class": "special", "country": "US", "rate": "8.875"}
    assert ok(admin.get("/api/v1/tax-rates", params={"tax_class": "reduced"}))["items"] == [replaced]


def test_rates_page_by_country_then_class(admin: TestClient) -> None:
    ok(admin.put("/api/v1/tax-rates/standard/PT", json={"rate": "23"}))
    ok(admin.put("/api/v1/tax-rates/standard/FR", json={"rate": "20"}))

    first = ok(admin.get("/api/v1/tax-rates", params={"limit": 3}))
    rest = ok(admin.get("/api/v1/tax-rates", params={"limit": 3, "cursor": first["next_cursor"]}))

    assert [(r["country"], r["tax_class"]) for r in first["items"] + rest["items"]] == [
        ("ES", "reduced"), ("ES", "standard"), ("ES", "super_reduced"), ("ES", "zero"),
        ("FR", "standard"), ("PT", "standard"),
    ]
    assert rest["next_cursor"] is None


def test_bad_rates_are_refused_and_nothing_changes(admin: TestClient) -> None:
    for rate in ("-1", "100.5", "1.00001"):
        assert problem(admin.put("/api/v1/tax-rates/standard/ES", json={"rate": rate}),
                       422, "invalid_tax_rate")["field"] == "rate"
    problem(admin.put("/api/v1/tax-rates/standard/ES", json={"rate": "abc"}), 422, "validation_error")
    problem(admin.put("/api/v1/tax-rates/standard/es", json={"rate": "21"}), 422, "validation_error")
    problem(admin.put("/api/v1/tax-rates/Standard/ES", json={"rate": "21"}), 422, "validation_error")
    problem(admin.put("/api/v1/tax-rates/standard/ES", json={"rate": "21", "extra": 1}), 422, "validation_error")
    problem(admin.get("/api/v1/tax-rates", params={"cursor": "nonsense"}), 422, "invalid_cursor")

    assert ok(admin.get("/api/v1/tax-rates", params={"tax_class": "standard"}))["items"] == [
        {"tax_class": "standard", "country": "ES", "rate": "21.00"}]


def test_only_admins_set_rates(client: TestClient, db: Database, clock: ManualClock) -> None:
    marketer = {"Authorization": f"Bearer {make_key(db, clock, 'marketer')}"}

    problem(client.put("/api/v1/tax-rates/standard/ES", json={"rate": "1"}, headers=marketer),
            403, "role_not_allowed")
    assert len(ok(client.get("/api/v1/tax-rates", headers=marketer))["items"]) == 4
