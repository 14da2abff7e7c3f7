"""SLAs (policies, due times, the breach job, the inbox's `breaching` filter, recorded times), teams with
round-robin assignment among available agents (parallel on PostgreSQL: evenly spread, never double-assigned),
agents' availability and tags."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from tests.builders import ok, problem
from tests.conftest import make_key
from tests.integration.service.helpers import conversation, conversations, events_of, message

from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.worker import Worker


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_policies_due_times_breaches_once_and_recorded_times(admin: TestClient, db: Database, clock: ManualClock,
                                                             worker: Worker) -> None:
    items = {p["priority"]: p for p in ok(admin.get("/api/v1/sla-policies"))["items"]}
    assert items["urgent"]["first_response_minutes"] == 30 and items["urgent"]["default"] is True
    assert ok(admin.put("/api/v1/sla-policies/normal", json={"first_response_minutes": 10,
                                                              "resolution_minutes": 60}), 201)["default"] is False
    second = ok(admin.put("/api/v1/sla-policies/normal", json={"first_response_minutes": 15,
                                                                "resolution_minutes": 60}))
    assert second["first_response_minutes"] == 15
    problem(admin.put("/api/v1/sla-policies/normal", json={"first_response_minutes": 90, "resolution_minutes": 60}),
            422, "invalid_sla_policy")
    assert admin.put("/api/v1/sla-policies/vip", json={"first_response_minutes": 1,
                                                        "resolution_minutes": 2}).status_code == 422
    agent = make_key(db, clock, "agent")
    assert admin.get("/api/v1/sla-policies", headers={"Authorization": f"Bearer {agent}"}).status_code == 200
    assert admin.put("/api/v1/sla-policies/high", json={"first_response_minutes": 1, "resolution_minutes": 2},
                     headers={"Authorization": f"Bearer {agent}"}).status_code == 403
    ok(admin.put("/api/v1/sla-policies/normal", json={"first_response_minutes": 10, "resolution_minutes": 60}))
    opened = clock.now()
    late = message(admin, "webchat", {"email": "luis@correo.es"}, "Hola")["conversation_id"]
    quick = message(admin, "webchat", {"email": "eva@correo.es"}, "Buenas")["conversation_id"]
    sla = conversation(admin, late)["sla"]
    assert _at(sla["first_response_due_at"]) == opened + timedelta(minutes=10)
    assert _at(sla["resolution_due_at"]) == opened + timedelta(minutes=60)
    assert {c["id"] for c in conversations(admin, breaching="breached")} == set()

    clock.advance(minutes=4)
    ok(admin.post(f"/api/v1/conversations/{quick}/notes", json={"text": "mirando"}), 201)  # a note is no response
    assert conversation(admin, quick)["sla"]["first_response_seconds"] is None
    ok(admin.post(f"/api/v1/conversations/{quick}/resolve"))
    done = conversation(admin, quick)["sla"]
    assert done["resolution_seconds"] == 240 and done["first_response_seconds"] is None

    clock.advance(minutes=3)  # 7 minutes in: 3 left on the first response
    assert {c["id"] for c in conversations(admin, breaching="soon", within_minutes=5)} == {late}
    assert {c["id"] for c in conversations(admin, breaching="soon", within_minutes=1)} == set()
    clock.advance(minutes=4)
    assert {c["id"] for c in conversations(admin, breaching="breached")} == {late}
    worker.run_jobs()
    worker.run_jobs()  # again: nothing new to flag
    assert [(e["conversation_id"], e["target"]) for e in events_of(db, "conversation.breached")] == [
        (late, "first_response")]
    assert conversation(admin, late)["sla"]["first_response_breached_at"] is not None

    clock.advance(minutes=60)
    worker.run_jobs()
    worker.run_jobs()
    assert sorted((e["conversation_id"], e["target"]) for e in events_of(db, "conversation.breached")) == [
        (late, "first_response"), (late, "resolution")]  # the resolved one never breaches
    assert {c["id"] for c in conversations(admin, breaching="breached")} == {late}
    ok(admin.post(f"/api/v1/conversations/{late}/resolve"))
    assert conversations(admin, breaching="breached") == []  # resolved: off the list
    assert conversation(admin, late)["sla"]["resolution_seconds"] == 71 * 60

    clock.advance(minutes=5)  # the customer writes again: a new resolution cycle, which may breach again
    message(admin, "webchat", {"email": "luis@correo.es"}, "Otra cosa")
    again = conversation(admin, late)["sla"]
    assert again["resolution_breached_at"] is None and again["resolution_seconds"] is None
    assert _at(again["resolution_due_at"]) == clock.now() + timedelta(minutes=60)


def test_a_reply_records_the_first_response_and_sms_needs_a_provider(desk: TestClient, clock: ManualClock) -> None:
    cid = message(desk, "email", {"email": "ana@correo.es"}, "Hola", subject="Pedido")["conversation_id"]
    clock.advance(minutes=7)
    ok(desk.post(f"/api/v1/conversations/{cid}/reply", json={"text": "Hola Ana"}), 202)
    seen = conversation(desk, cid)
    assert seen["sla"]["first_response_seconds"] == 420 and seen["first_response_at"] is not None
    by_sms = message(desk, "sms", {"phone": "+34612345678"}, "Hola")["conversation_id"]
    problem(desk.post(f"/api/v1/conversations/{by_sms}/reply", json={"text": "Hola"}), 409, "channel_not_configured")


def _team_with_agents(admin: TestClient, db: Database, clock: ManualClock, n: int) -> list[str]:
    ok(admin.post("/api/v1/teams", json={"code": "returns", "name": "Devoluciones"}), 201)
    agents = [make_key(db, clock, "agent") for _ in range(n)]
    ids = []
    for raw in agents:
        me = ok(admin.put("/api/v1/agents/me/availability", json={"available": True},
                          headers={"Authorization": f"Bearer {raw}"}))["agent"]
        ok(admin.put(f"/api/v1/teams/returns/members/{me}"), 201)
        ids.append(me)
    return ids


def test_teams_and_round_robin_among_available_agents(admin: TestClient, db: Database, clock: ManualClock) -> None:
    a, b, c = _team_with_agents(admin, db, clock, 3)
    assert ok(admin.put(f"/api/v1/teams/returns/members/{a}"))["code"] == "returns"  # already in: 200
    problem(admin.put("/api/v1/teams/returns/members/key_nobody"), 422, "unknown_agent")
    problem(admin.post("/api/v1/teams", json={"code": "returns", "name": "x"}), 409, "team_exists")
    team = ok(admin.get("/api/v1/teams/returns"))
    assert sorted(m["agent"] for m in team["members"]) == sorted([a, b, c])
    ok(admin.put(f"/api/v1/agents/{b}/availability", json={"available": False}))  # an admin sets anyone's

    ids = [message(admin, "webchat", {"email": f"p{i}@correo.es"}, "Hola")["conversation_id"] for i in range(4)]
    given = [ok(admin.post(f"/api/v1/conversations/{cid}/assign", json={"assignee": "auto", "team": "returns"})
                )["assignee"] for cid in ids]
    assert b not in given and Counter(given) == {a: 2, c: 2}
    assert given[0] != given[1] and given[1] != given[2]  # turns, not the same agent twice in a row
    again = ok(admin.post(f"/api/v1/conversations/{ids[0]}/assign", json={"assignee": "auto"}))
    assert again["assignee"] == given[0] and again["team"] == "returns"  # already has one of the team's agents
    assert {x["id"] for x in conversations(admin, team="returns")} == set(ids)
    assert conversations(admin, team="none") == []

    ok(admin.put(f"/api/v1/agents/{a}/availability", json={"available": False}))
    ok(admin.put(f"/api/v1/agents/{c}/availability", json={"available": False}))
    other = message(admin, "webchat", {"email": "q@correo.es"}, "Hola")["conversation_id"]
    problem(admin.post(f"/api/v1/conversations/{other}/assign", json={"assignee": "auto", "team": "returns"}),
            409, "no_agent_available")
    problem(admin.post(f"/api/v1/conversations/{other}/assign", json={"assignee": "auto"}), 422, "team_required")
    assert [x["agent"] for x in ok(admin.get("/api/v1/agents", params={"team": "returns"}))["items"]] == sorted(
        [a, b, c])

    assert admin.delete(f"/api/v1/teams/returns/members/{a}").status_code == 204
    assert admin.delete("/api/v1/teams/returns").status_code == 204
    assert conversation(admin, ids[0])["team"] is None and conversation(admin, ids[0])["assignee"] == given[0]

    # an agent sets only their own availability
    raw = make_key(db, clock, "agent")
    other = make_key(db, clock, "agent")
    auth = {"Authorization": f"Bearer {raw}"}
    me = ok(admin.put("/api/v1/agents/me/availability", json={"available": True}, headers=auth))
    other_id = ok(admin.put("/api/v1/agents/me/availability", json={"available": True},
                            headers={"Authorization": f"Bearer {other}"}))["agent"]
    assert me["agent"].startswith("key_") and me["available"] is True
    problem(admin.put(f"/api/v1/agents/{other_id}/availability", json={"available": False}, headers=auth),
            403, "not_your_availability")
    assert ok(admin.put("/api/v1/agents/user:usr_1/availability", json={"available": True}))["agent"] == "user:usr_1"




@pytest.mark.postgres
def test_parallel_auto_assignments_spread_evenly_and_never_double_assign(admin: TestClient, db: Database,
                                                                          clock: ManualClock) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the race is PostgreSQL's (SQLite serialises writers)")
    agents = _team_with_agents(admin, db, clock, 3)
    ids = [message(admin, "webchat", {"email": f"r{i}@correo.es"}, "Hola")["conversation_id"] for i in range(12)]
    results: list[tuple[str, str]] = []
    lock = threading.Lock()

    def assign(cid: str) -> None:
        response = admin.post(f"/api/v1/conversations/{cid}/assign", json={"assignee": "auto", "team": "returns"})
        with lock:
            results.append((cid, response.json()["assignee"]))

    threads = [threading.Thread(target=assign, args=(cid,)) for cid in ids + ids[:6]]  # 6 asked twice at once
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final = {cid: conversation(admin, cid)["assignee"] for cid in ids}
    assert all(final[cid] == who for cid, who in results)  # a second request got the first one's agent
    assert Counter(final.values()) == {a: 4 for a in agents}
    assigned = [e["conversation_id"] for e in events_of(db, "conversation.assigned")]
    assert sorted(assigned) == sorted(ids)  # each assigned once


def test_tags(admin: TestClient) -> None:
    cid = message(admin, "webchat", {"email": "t@correo.es"}, "Hola")["conversation_id"]
    other = message(admin, "webchat", {"email": "u@correo.es"}, "Hola")["conversation_id"]
    assert ok(admin.post(f"/api/v1/conversations/{cid}/tags", json={"add": ["vip", "refund"]}))["tags"] == [
        "refund", "vip"]
    assert ok(admin.post(f"/api/v1/conversations/{cid}/tags", json={"add": ["vip"], "remove": ["refund"]})
              )["tags"] == ["vip"]
    assert admin.post(f"/api/v1/conversations/{cid}/tags", json={"add": ["No Spaces"]}).status_code == 422
    assert conversation(admin, cid)["tags"] == ["vip"]
    assert [c["id"] for c in conversations(admin, tag="vip")] == [cid]
    assert {c["id"]: c["tags"] for c in conversations(admin)} == {cid: ["vip"], other: []}
