"""The inbox and reply-template pages through the console: queues and filters, the thread with the customer's 360
panel, the agent's actions (reply with a template, note, assign, snooze, resolve) with CSRF and roles checked on
the server, the API's refusals shown on the page, the live thread fragment, and the templates editor."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.builders import channel, location, ok
from tests.integration.console.conftest import csrf_of, login, make_user

from omnihub.config import Settings
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """E-mail replies need an SMTP server configured (the worker, which sends them, does not run here)."""
    return settings.model_copy(update={"smtp_url": "smtp://127.0.0.1:2525", "support_email": "support@tienda.es"})


def _message(api: TestClient, text: str, *, email: str = "ana@correo.es", name: str = "Ana García",
             channel_: str = "email", **extra: Any) -> dict[str, Any]:
    identity = {"email": email} if channel_ == "email" else extra.pop("identity")
    return ok(api.post("/api/v1/messages", json={"channel": channel_, "identity": identity, "text": text,
                                                 "name": name, **extra}), 201)


def _agent(db: Database, clock: ManualClock, browser_for: Any, role: str = "agent") -> TestClient:
    email, password = make_user(db, clock, role)
    return login(browser_for(), email, password)


def _conversation(api: TestClient, cid: str) -> dict[str, Any]:
    return ok(api.get(f"/api/v1/conversations/{cid}"))


def test_queues_list_the_conversation_with_its_badge_priority_and_reason_and_filters_narrow_them(
        admin, browser_for, db, clock) -> None:
    cid = _message(admin, "Quiero un reembolso, el pedido no ha llegado")["conversation_id"]
    _message(admin, "Hello, a question about sizes", email="bob@mail.com", name="Bob Stone")
    agent = _agent(db, clock, browser_for)

    home = agent.get("/", follow_redirects=False)
    unassigned = agent.get("/inbox", params={"queue": "unassigned"})
    mine = agent.get("/inbox")
    searched = agent.get("/inbox", params={"queue": "open", "q": "REEMBOLSO"})
    by_priority = agent.get("/inbox", params={"queue": "open", "priority": "high"})
    by_channel = agent.get("/inbox", params={"queue": "open", "channel": "whatsapp"})
    wrong = agent.get("/inbox", params={"queue": "open", "priority": "extreme"})

    assert home.headers["location"] == "/inbox"
    assert unassigned.status_code == 200
    row = re.search(rf'<tr data-conversation="{cid}".*?</tr>', unassigned.text, re.S).group(0)
    assert "Ana García" in row and 'class="badge ch-email">E-mail' in row
    assert "high" in row and "refund asked" in row and "<time datetime=" in row
    assert "Bob Stone" in unassigned.text
    assert 'aria-current="page">Unassigned' in unassigned.text
    assert "No conversations here." in mine.text  # nothing assigned to this agent yet
    assert "Ana García" in searched.text and "Bob Stone" not in searched.text
    assert "Ana García" in by_priority.text and "Bob Stone" not in by_priority.text
    assert "No conversations here." in by_channel.text
    assert wrong.status_code == 422 and "invalid_priority" in wrong.text


def test_the_inbox_pages_through_conversations(admin, browser_for, db, clock) -> None:
    from omnihub.console.routes import inbox

    for i in range(3):
        _message(admin, f"Pregunta {i}", email=f"c{i}@correo.es", name=f"Cliente {i}")
        clock.advance(minutes=1)
    agent = _agent(db, clock, browser_for)
    original, inbox.PAGE_SIZE = inbox.PAGE_SIZE, 2
    try:
        first = agent.get("/inbox", params={"queue": "open"})
        cursor = re.search(r"cursor=([^\"&]+)", first.text).group(1)
        second = agent.get("/inbox", params={"queue": "open", "cursor": cursor})
    finally:
        inbox.PAGE_SIZE = original

    assert "Cliente 2" in first.text and "Cliente 1" in first.text and "Cliente 0" not in first.text
    assert "Cliente 0" in second.text and "Cliente 2" not in second.text


def test_the_thread_shows_messages_and_the_360_panel_and_a_template_reply_is_queued(
        admin, browser_for, db, clock) -> None:
    cid = _message(admin, "¿Dónde está mi pedido?")["conversation_id"]
    ok(admin.post("/api/v1/reply-templates", json={"code": "hola", "name": "Saludo",
                                                    "body": "Hola {{ customer.first_name }}, lo miramos ya."}), 201)
    agent = _agent(db, clock, browser_for)

    page = agent.get(f"/inbox/{cid}")
    answer = agent.post(f"/inbox/{cid}/reply", data={"csrf_token": csrf_of(page.text), "template": "hola",
                                                     "channel": "email", "text": ""}, follow_redirects=False)
    after = agent.get(answer.headers["location"])
    out = [m for m in _conversation(admin, cid)["messages"] if m["direction"] == "out"]

    assert page.status_code == 200
    assert "¿Dónde está mi pedido?" in page.text and "ana@correo.es" in page.text  # thread and identities
    assert '<option value="hola">Saludo (hola)</option>' in page.text
    assert '<option value="email" selected>E-mail</option>' in page.text
    assert 'hx-get="/inbox/' in page.text and 'hx-trigger="every 3s"' in page.text
    assert answer.status_code == 303 and answer.headers["location"] == f"/inbox/{cid}?done=reply"
    assert [(m["channel"], m["text"], m["status"], m["template"]) for m in out] == [
        ("email", "Hola Ana, lo miramos ya.", "queued", "hola")]
    assert out[0]["author"].startswith("user:")
    assert "Reply queued" in after.text and "Hola Ana, lo miramos ya." in after.text


def test_a_reply_with_a_forged_csrf_token_or_from_a_refused_role_changes_nothing(admin, browser_for, db,
                                                                                  clock) -> None:
    cid = _message(admin, "Hola")["conversation_id"]
    location(admin, "sol")
    agent = _agent(db, clock, browser_for)
    forged = agent.post(f"/inbox/{cid}/reply", data={"csrf_token": "forged", "text": "Hola Ana"})
    refused = {}
    for role in ("associate", "marketer"):
        email, password = make_user(db, clock, role, location="sol" if role == "associate" else None)
        person = login(browser_for(), email, password)
        token = csrf_of(person.get("/profile").text)
        refused[role] = (person.get("/inbox").status_code, person.get(f"/inbox/{cid}").status_code,
                         person.post(f"/inbox/{cid}/reply", data={"csrf_token": token, "text": "x"}).status_code,
                         person.get("/reply-templates").status_code)

    assert forged.status_code == 403 and "csrf_failed" in forged.text
    assert refused == {"associate": (403, 403, 403, 403), "marketer": (403, 403, 403, 403)}
    assert [m["direction"] for m in _conversation(admin, cid)["messages"]] == ["in"]


def test_the_apis_refusals_show_on_the_page_whatsapp_window_and_missing_variables(admin, browser_for, db,
                                                                                  clock) -> None:
    channel(admin, "wa", kind="social")
    ok(admin.put("/api/v1/connectors/meta/wa", json={
        "app_secret": "s3cret", "verify_token": "v-wa", "access_token": "EAAG-wa",
        "phone_number_id": "106540352242922", "api_base": "http://127.0.0.1:9/v21.0"}), 201)
    cid = _message(admin, "Hola", channel_="whatsapp", identity={"phone": "+34612345678"})["conversation_id"]
    ok(admin.post("/api/v1/reply-templates", json={"code": "envio", "name": "Envío",
                                                    "body": "Tu envío: {{ order.tracking_url }}"}), 201)
    clock.advance(hours=25)  # before logging in: a session idles out sooner
    agent = _agent(db, clock, browser_for)
    token = csrf_of(agent.get(f"/inbox/{cid}").text)

    closed = agent.post(f"/inbox/{cid}/reply", data={"csrf_token": token, "text": "¿Sigues ahí?"})
    missing = agent.post(f"/inbox/{cid}/reply", data={"csrf_token": token, "template": "envio",
                                                      "channel": "whatsapp"})
    empty = agent.post(f"/inbox/{cid}/reply", data={"csrf_token": token, "text": "  "})
    bad_lines = agent.post(f"/inbox/{cid}/reply", data={"csrf_token": token, "template": "envio",
                                                        "variables": "no equals sign"})

    assert closed.status_code == 409 and "whatsapp_window_closed" in closed.text
    assert "¿Sigues ahí?" in closed.text  # the text is kept in the form
    assert missing.status_code == 422 and "variables" in missing.text
    assert empty.status_code == 422 and "Write a reply or choose a template." in empty.text
    assert bad_lines.status_code == 422 and "Line 1: write name=value." in bad_lines.text
    assert [m["direction"] for m in _conversation(admin, cid)["messages"]] == ["in"]


def test_assign_note_snooze_and_resolve_from_the_thread(admin, browser_for, db, clock) -> None:
    cid = _message(admin, "Hola")["conversation_id"]
    agent = _agent(db, clock, browser_for)
    other_email, _ = make_user(db, clock, "agent", email="marta@shop.es")
    token = csrf_of(agent.get(f"/inbox/{cid}").text)

    def post(action: str, **data: str) -> Any:
        return agent.post(f"/inbox/{cid}/{action}", data={"csrf_token": token, **data}, follow_redirects=False)

    assert post("assign", assignee="me").status_code == 303
    mine = agent.get("/inbox", params={"queue": "mine"})
    assert post("notes", note="Llamar mañana").status_code == 303
    page = agent.get(f"/inbox/{cid}")
    marta = re.search(r'<option value="(user:[^"]+)">marta@shop\.es</option>', page.text).group(1)
    assert post("assign", assignee=marta).status_code == 303
    stranger = post("assign", assignee="user:nobody")
    past = post("snooze", until="2020-01-01T09:00")
    garbled = post("snooze", until="tomorrow")
    assert post("snooze", until="2026-12-31T09:00").status_code == 303
    snoozed = agent.get("/inbox", params={"queue": "snoozed"})
    assert post("resolve").status_code == 303
    again = post("resolve")

    conv = _conversation(admin, cid)
    assert f'data-conversation="{cid}"' in mine.text
    assert "Llamar mañana" in page.text and "Note by agent-hq@shop.es" in page.text
    assert conv["assignee"] == marta and other_email == "marta@shop.es"
    assert stranger.status_code == 422 and "invalid_assignee" in stranger.text
    assert past.status_code == 422 and "invalid_snooze" in past.text
    assert garbled.status_code == 422 and "invalid_until" in garbled.text
    assert f'data-conversation="{cid}"' in snoozed.text
    assert conv["status"] == "resolved"
    assert again.status_code == 409 and "conversation_resolved" in again.text
    assert [m["text"] for m in conv["messages"] if m["direction"] == "note"] == ["Llamar mañana"]


def test_the_thread_fragment_answers_204_until_a_message_arrives(admin, browser_for, db, clock) -> None:
    cid = _message(admin, "Hola")["conversation_id"]
    agent = _agent(db, clock, browser_for)
    version = re.search(r'data-version="([0-9a-f]+)"', agent.get(f"/inbox/{cid}").text).group(1)

    unchanged = agent.get(f"/inbox/{cid}/thread", params={"v": version}, headers={"HX-Request": "true"})
    _message(admin, "¿Hay alguien?")
    changed = agent.get(f"/inbox/{cid}/thread", params={"v": version}, headers={"HX-Request": "true"})

    assert unchanged.status_code == 204
    assert changed.status_code == 200 and "¿Hay alguien?" in changed.text
    assert f'data-version="{version}"' not in changed.text and "<html" not in changed.text


def test_the_thread_fragment_without_a_session_asks_htmx_to_log_in(admin, client) -> None:
    cid = _message(admin, "Hola")["conversation_id"]
    client.headers.pop("Authorization")
    answer = client.get(f"/inbox/{cid}/thread", headers={"HX-Request": "true"}, follow_redirects=False)
    assert answer.status_code == 401 and answer.headers["HX-Redirect"].startswith("/login?next=")


def test_admins_create_edit_and_delete_templates_and_agents_only_read_them(admin, browser_for, db, clock) -> None:
    boss = _agent(db, clock, browser_for, role="admin")
    token = csrf_of(boss.get("/reply-templates/new").text)
    created = boss.post("/reply-templates", data={
        "csrf_token": token, "code": "retraso", "name": "Retraso", "subject": "Tu pedido {{ order.number }}",
        "body": "Hola {{ customer.first_name }}, tu pedido {{ order.number }} va con retraso.",
        "whatsapp_name": "order_delay", "whatsapp_language": "es",
        "whatsapp_parameters": "{{ customer.first_name }}\n{{ order.number }}"}, follow_redirects=False)
    duplicate = boss.post("/reply-templates", data={"csrf_token": token, "code": "retraso", "name": "x",
                                                    "body": "y"})
    broken = boss.post("/reply-templates/retraso", data={"csrf_token": token, "name": "Retraso",
                                                         "body": "Hola {{ customer.first_name "})
    saved = boss.post("/reply-templates/retraso", data={"csrf_token": token, "name": "Retraso 2",
                                                        "body": "Hola {{ customer.first_name }}."},
                      follow_redirects=False)
    stored = ok(admin.get("/api/v1/reply-templates/retraso"))
    agent = _agent(db, clock, browser_for)
    listing = agent.get("/reply-templates")
    view = agent.get("/reply-templates/retraso")
    agent_token = csrf_of(view.text)
    agent_save = agent.post("/reply-templates/retraso", data={"csrf_token": agent_token, "name": "Mine",
                                                              "body": "x"})
    agent_new = agent.get("/reply-templates/new")
    deleted = boss.post("/reply-templates/retraso/delete", data={"csrf_token": token}, follow_redirects=False)

    assert created.status_code == 303 and created.headers["location"] == "/reply-templates/retraso?done=created"
    assert duplicate.status_code == 409 and "template_exists" in duplicate.text
    assert broken.status_code == 422 and "Hola {{ customer.first_name " in broken.text
    assert saved.status_code == 303
    assert stored["name"] == "Retraso 2" and stored["whatsapp"] is None and stored["subject"] is None
    assert "retraso" in listing.text and "Retraso 2" in listing.text and "New template" not in listing.text
    assert "<fieldset disabled>" in view.text and "Save template" not in view.text
    assert agent_save.status_code == 403 and agent_new.status_code == 403
    assert deleted.status_code == 303 and admin.get("/api/v1/reply-templates/retraso").status_code == 404


def test_the_sla_tabs_show_conversations_about_to_breach_then_breached(admin, browser_for, db, clock) -> None:
    cid = _message(admin, "Quiero un reembolso, el pedido no ha llegado")["conversation_id"]  # high: 1 h to respond
    agent = _agent(db, clock, browser_for)
    row = f'data-conversation="{cid}"'

    early = (agent.get("/inbox", params={"queue": "breaching"}), agent.get("/inbox", params={"queue": "breached"}))
    clock.advance(seconds=40 * 60)
    soon = (agent.get("/inbox", params={"queue": "breaching"}), agent.get("/inbox", params={"queue": "breached"}))
    clock.advance(seconds=30 * 60)
    late = (agent.get("/inbox", params={"queue": "breaching"}), agent.get("/inbox", params={"queue": "breached"}))

    assert [row in page.text for page in (*early, *soon, *late)] == [False, False, True, False, False, True]
    assert all(page.status_code == 200 for page in (*early, *soon, *late))


def test_my_teams_tab_shows_the_open_conversations_of_the_teams_the_agent_belongs_to(
        admin, browser_for, db, clock) -> None:
    returns = _message(admin, "Una devolución, por favor")["conversation_id"]
    other = _message(admin, "A question about sizes", email="bob@mail.com", name="Bob Stone")["conversation_id"]
    email, password = make_user(db, clock, "agent")
    agent = login(browser_for(), email, password)
    with db.read() as conn:
        from omnihub.console import queries as console_queries

        user_id = next(u["id"] for u in console_queries.list_users(conn) if u["email"] == email)
    ok(admin.post("/api/v1/teams", json={"code": "returns", "name": "Devoluciones"}), 201)
    ok(admin.put(f"/api/v1/teams/returns/members/user:{user_id}"), 201)
    ok(admin.post(f"/api/v1/conversations/{returns}/assign", json={"assignee": None, "team": "returns"}))

    mine = agent.get("/inbox", params={"queue": "teams"})
    outsider = login(browser_for(), *make_user(db, clock, "agent", email="outsider@shop.es"))
    theirs = outsider.get("/inbox", params={"queue": "teams"})

    assert mine.status_code == 200 and f'data-conversation="{returns}"' in mine.text
    assert f'data-conversation="{other}"' not in mine.text
    assert f'data-conversation="{returns}"' not in theirs.text  # not a member of any team
