"""Logging in to the console: passwords, sessions that really end, CSRF, throttling, roles, languages."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from tests.builders import location
from tests.integration.console.conftest import csrf_of, login, make_user

from omnihub.console.models import console_sessions, console_users


@pytest.mark.parametrize(("role", "home", "menu", "hidden"), [
    ("admin", "/dashboard", ["/dashboard", "/counter", "/webhooks"], []),
    ("associate", "/counter", ["/counter", "/orders", "/inventory"], ["/webhooks", "/dashboard", "/catalog", "/inbox"]),
    ("agent", "/inbox", ["/inbox", "/orders", "/customers", "/catalog", "/reply-templates"],
     ["/counter", "/webhooks", "/inventory"]),
    ("marketer", "/dashboard", ["/dashboard", "/customers"], ["/counter", "/orders", "/webhooks", "/inbox"]),
])
def test_each_role_logs_in_to_its_home_page_with_its_own_menu(admin, browser_for, db, clock, role, home, menu,
                                                               hidden) -> None:
    location(admin, "sol")
    email, password = make_user(db, clock, role, location="sol" if role == "associate" else None)
    client = browser_for()

    answer = client.post("/login", data={"email": email.upper(), "password": password,
                                         "csrf_token": csrf_of(client.get("/login").text)}, follow_redirects=False)

    assert answer.status_code == 303 and answer.headers["location"] == home
    cookie = answer.headers["set-cookie"]
    assert "omnihub_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    page = client.get(home)
    assert page.status_code == 200
    for link in menu:
        assert f'href="{link}"' in page.text
    for link in hidden:
        assert f'href="{link}"' not in page.text


def test_a_wrong_password_is_refused_without_a_session(browser_for, db, clock) -> None:
    email, _ = make_user(db, clock, "admin")
    client = browser_for()

    answer = client.post("/login", data={"email": email, "password": "not-the-password",
                                         "csrf_token": csrf_of(client.get("/login").text)}, follow_redirects=False)

    assert answer.status_code == 401
    assert "The e-mail or the password is wrong." in answer.text and "invalid_credentials" in answer.text
    assert "omnihub_session" not in answer.headers.get("set-cookie", "")
    assert client.get("/orders", follow_redirects=False).headers["location"] == "/login?next=%2Forders"


def test_a_login_without_the_forms_csrf_token_is_refused(browser_for, db, clock) -> None:
    email, password = make_user(db, clock, "admin")
    client = browser_for()
    client.get("/login")

    answer = client.post("/login", data={"email": email, "password": password, "csrf_token": "forged"},
                         follow_redirects=False)

    assert answer.status_code == 403 and "csrf_failed" in answer.text


def test_a_logged_in_form_without_its_csrf_token_changes_nothing(browser_for, db, clock) -> None:
    email, password = make_user(db, clock, "admin")
    client = login(browser_for(), email, password)

    answer = client.post("/profile/language", data={"locale": "es"}, follow_redirects=False)
    forged = client.post("/profile/language", data={"locale": "es", "csrf_token": "x" * 43}, follow_redirects=False)

    assert answer.status_code == 403 and forged.status_code == 403 and "csrf_failed" in answer.text
    with db.read() as conn:
        assert conn.execute(sa.select(console_users.c.locale)).scalar() is None


def test_failed_logins_are_throttled_per_email_even_with_the_right_password_then_lift(browser_for, db, clock
                                                                                       ) -> None:
    email, password = make_user(db, clock, "admin")
    client = browser_for()
    for _ in range(5):
        wrong = client.post("/login", data={"email": email, "password": "wrong-password",
                                            "csrf_token": csrf_of(client.get("/login").text)})
        assert wrong.status_code == 401

    throttled = client.post("/login", data={"email": email, "password": password,
                                            "csrf_token": csrf_of(client.get("/login").text)}, follow_redirects=False)
    assert throttled.status_code == 429 and "login_throttled" in throttled.text
    assert int(throttled.headers["retry-after"]) == 15 * 60

    clock.advance(minutes=16)
    login(client, email, password)


def test_throttling_holds_per_address_across_emails(admin, browser_for, db, clock, settings) -> None:
    settings.console_login_max_per_address = 3
    email, password = make_user(db, clock, "agent")
    client = browser_for()
    for i in range(3):
        client.post("/login", data={"email": f"nobody{i}@shop.es", "password": "wrong-password",
                                    "csrf_token": csrf_of(client.get("/login").text)})

    answer = client.post("/login", data={"email": email, "password": password,
                                         "csrf_token": csrf_of(client.get("/login").text)}, follow_redirects=False)

    assert answer.status_code == 429


def test_logout_ends_the_session_on_the_server(browser_for, db, clock) -> None:
    email, password = make_user(db, clock, "admin")
    client = login(browser_for(), email, password)
    cookie = client.cookies.get("omnihub_session")

    out = client.post("/logout", data={"csrf_token": csrf_of(client.get("/profile").text)}, follow_redirects=False)

    assert out.status_code == 303 and out.headers["location"] == "/login"
    replay = browser_for()
    replay.cookies.set("omnihub_session", cookie)
    assert replay.get("/profile", follow_redirects=False).status_code == 303
    with db.read() as conn:
        assert conn.execute(sa.select(console_sessions.c.ended_at)).scalar() is not None


def test_a_session_expires_after_idling_and_a_tampered_cookie_is_ignored(browser_for, db, clock) -> None:
    email, password = make_user(db, clock, "admin")
    client = login(browser_for(), email, password)
    assert client.get("/profile").status_code == 200

    tampered = browser_for()
    cookie = client.cookies.get("omnihub_session")
    # the signature's last two hex digits changed (one cookie in 256 ends with "00": "00" would change nothing)
    tampered.cookies.set("omnihub_session", cookie[:-2] + ("11" if cookie.endswith("00") else "00"))
    assert tampered.get("/profile", follow_redirects=False).status_code == 303

    clock.advance(minutes=121)
    assert client.get("/profile", follow_redirects=False).headers["location"] == "/login?next=%2Fprofile"


def test_changing_the_password_needs_the_current_one_and_ends_other_sessions(browser_for, db, clock) -> None:
    email, password = make_user(db, clock, "agent")
    here, elsewhere = login(browser_for(), email, password), login(browser_for(), email, password)
    token = csrf_of(here.get("/profile").text)

    wrong = here.post("/profile/password", data={"csrf_token": token, "current_password": "nope-nope-nope",
                                                 "new_password": "a-new-long-password", "confirm_password":
                                                 "a-new-long-password"})
    assert wrong.status_code == 422 and "The current password is wrong." in wrong.text
    assert 'aria-invalid="true" aria-describedby="f-current_password-error"' in wrong.text

    short = here.post("/profile/password", data={"csrf_token": token, "current_password": password,
                                                 "new_password": "short", "confirm_password": "short"})
    assert short.status_code == 422 and "weak_password" in short.text

    done = here.post("/profile/password", data={"csrf_token": token, "current_password": password,
                                                "new_password": "a-new-long-password",
                                                "confirm_password": "a-new-long-password"}, follow_redirects=False)
    assert done.status_code == 303
    assert here.get("/profile").status_code == 200
    assert elsewhere.get("/profile", follow_redirects=False).status_code == 303
    login(browser_for(), email, "a-new-long-password")


def test_the_language_follows_the_browser_until_the_person_picks_one(browser_for, db, clock) -> None:
    email, password = make_user(db, clock, "admin")
    client = login(browser_for(), email, password, **{"accept-language": "es-ES,es;q=0.9"})

    spanish = client.get("/profile", headers={"accept-language": "es-ES,es;q=0.9"})
    assert '<html lang="es">' in spanish.text and "Cerrar sesión" in spanish.text
    client.post("/profile/language", data={"locale": "en", "csrf_token": csrf_of(spanish.text)})
    english = client.get("/profile", headers={"accept-language": "es-ES,es;q=0.9"})
    assert '<html lang="en">' in english.text and "Log out" in english.text


def test_the_login_page_never_redirects_off_site(browser_for, db, clock) -> None:
    email, password = make_user(db, clock, "admin")
    client = browser_for()
    token = csrf_of(client.get("/login?next=//evil.example/x").text)

    answer = client.post("/login", data={"email": email, "password": password, "csrf_token": token,
                                         "next": "//evil.example/x"}, follow_redirects=False)

    assert answer.headers["location"] == "/dashboard"


def test_the_api_and_its_docs_are_unchanged(client) -> None:
    assert client.get("/api/v1/orders/x").headers["content-type"].startswith("application/problem+json")
    assert client.get("/openapi.json").status_code == 200 and client.get("/docs").status_code == 200
    assert not [p for p in client.get("/openapi.json").json()["paths"] if not p.startswith("/api/v1")]


def test_sessions_are_rows_with_a_hashed_token(browser_for, db, clock) -> None:
    email, password = make_user(db, clock, "admin")
    client = login(browser_for(), email, password)
    raw = client.cookies.get("omnihub_session").rpartition(".")[0]

    with db.read() as conn:
        row = conn.execute(sa.select(console_sessions)).one()
    assert row.token_hash != raw and raw not in row.token_hash
    assert row.expires_at.replace(tzinfo=None) == (clock.now() + timedelta(hours=12)).replace(tzinfo=None)


def test_the_worker_job_forgets_ended_sessions_and_old_failures_but_keeps_live_ones(browser_for, db, clock,
                                                                                     settings) -> None:
    from omnihub.bootstrap import bootstrap
    from omnihub.console.models import console_login_failures

    email, password = make_user(db, clock, "admin")
    gone = login(browser_for(), email, password)
    gone.post("/logout", data={"csrf_token": csrf_of(gone.get("/profile").text)})
    failed = browser_for()
    failed.post("/login", data={"email": email, "password": "wrong-password",
                                "csrf_token": csrf_of(failed.get("/login").text)})
    clock.advance(days=2)
    live = login(browser_for(), email, password)
    (job,) = [j for j in bootstrap().jobs(settings) if j.name == "console.purge_sessions"]

    with db.transaction() as conn:
        removed = job.run(conn, clock, settings)

    # the ended session and the failure counted for the address (the good login cleared the e-mail's)
    assert removed == 2
    with db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(console_sessions)).scalar() == 1
        assert conn.execute(sa.select(sa.func.count()).select_from(console_login_failures)).scalar() == 0
    assert live.get("/profile").status_code == 200


def test_the_consoles_assets_are_served_from_the_package_beside_the_api_docs_assets(client) -> None:
    for path in ("/static/console/console.css", "/static/console/console.js", "/static/console/vendor/htmx.min.js",
                 "/static/console/vendor/chart.umd.min.js"):
        assert client.get(path).status_code == 200, path
    assert client.get("/docs").status_code == 200
