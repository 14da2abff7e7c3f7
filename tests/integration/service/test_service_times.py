"""`GET /analytics/service`: first-response and resolution times per channel and per team, computed by DuckDB,
checked against the same figures computed in plain Python from the conversations the API shows."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from tests.builders import ok
from tests.conftest import make_key
from tests.integration.service.helpers import conversation, message

from omnihub.core.clock import ManualClock
from omnihub.core.db import Database


def _quantile(values: list[float], q: float) -> float | None:
    """Linear interpolation between the closest ranks (what quantile_cont does)."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _stats(values: list[int], breached: int) -> dict[str, Any]:
    def r(x: float | None) -> float | None:
        return None if x is None else round(x, 1)

    return {"count": len(values), "avg_seconds": r(sum(values) / len(values)) if values else None,
            "median_seconds": r(_quantile([float(v) for v in values], 0.5)),
            "p90_seconds": r(_quantile([float(v) for v in values], 0.9)), "breached": breached}


def _expected(details: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for d in details:
        first_in = next(m["channel"] for m in d["messages"] if m["direction"] == "in")
        groups.setdefault(first_in if key == "channel" else (d["team"] or "(none)"), []).append(d)
    out = []
    for name in sorted(groups):
        items = groups[name]
        fr = [d["sla"]["first_response_seconds"] for d in items if d["sla"]["first_response_seconds"] is not None]
        res = [d["sla"]["resolution_seconds"] for d in items if d["sla"]["resolution_seconds"] is not None]
        out.append({"key": name, "conversations": len(items),
                    "first_response": _stats(fr, sum(1 for d in items if d["sla"]["first_response_breached_at"])),
                    "resolution": _stats(res, sum(1 for d in items if d["sla"]["resolution_breached_at"]))})
    return out


def test_service_times_per_channel_and_team_match_a_plain_computation(
        desk: TestClient, db: Database, clock: ManualClock) -> None:
    rng = random.Random(16)
    start = clock.now()
    ok(desk.post("/api/v1/teams", json={"code": "returns", "name": "Returns"}), 201)
    ids = []
    for i in range(14):
        channel = ["email", "webchat", "phone"][i % 3]
        ids.append(message(desk, channel, {"email": f"c{i}@correo.es"}, f"Hola {i}", subject="Pedido")
                   ["conversation_id"])
        clock.advance(minutes=rng.randint(1, 9))
    for i, cid in enumerate(ids):
        clock.advance(minutes=rng.randint(1, 50))
        if i % 3 == 0 and i % 2 == 0:
            ok(desk.post(f"/api/v1/conversations/{cid}/reply", json={"text": "Hola"}), 202)
        if i % 4 == 1:
            ok(desk.post(f"/api/v1/conversations/{cid}/assign", json={"assignee": "marta", "team": "returns"}))
        if i % 5 != 4:
            clock.advance(minutes=rng.randint(1, 300))
            ok(desk.post(f"/api/v1/conversations/{cid}/resolve"))
    from omnihub.worker import Worker

    worker = Worker(desk.app.state.settings, db, clock, handlers=[])
    clock.advance(hours=30)
    worker.run_jobs()  # flag the breaches of what is still open
    worker.close()
    details = [conversation(desk, cid) for cid in ids]
    period = {"from": (start - timedelta(minutes=1)).isoformat(), "to": clock.now().isoformat()}

    by_channel = ok(desk.get("/api/v1/analytics/service", params=period))
    assert by_channel["by"] == "channel"
    assert by_channel["groups"] == _expected(details, "channel")
    assert by_channel["total"] == {**_expected([{**d, "team": "all"} for d in details], "team")[0], "key": "all"}
    assert [g["key"] for g in by_channel["groups"]] == ["email", "phone", "webchat"]
    assert by_channel["groups"][0]["first_response"]["count"] == 3  # the three email replies
    assert sum(g["resolution"]["breached"] for g in by_channel["groups"]) > 0

    by_team = ok(desk.get("/api/v1/analytics/service", params={**period, "by": "team"}))
    assert by_team["groups"] == _expected(details, "team")
    assert [g["key"] for g in by_team["groups"]] == ["(none)", "returns"]

    later = ok(desk.get("/api/v1/analytics/service", params={"from": clock.now().isoformat()}))
    assert later["groups"] == [] and later["total"]["conversations"] == 0
    agent = make_key(db, clock, "agent")
    assert desk.get("/api/v1/analytics/service", headers={"Authorization": f"Bearer {agent}"}).status_code == 403
