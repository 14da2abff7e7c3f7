"""A shop (the commerce tests' own) and a local provider receiver per test."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.builders import ok
from tests.integration.commerce.conftest import associate, shop  # noqa: F401  (the fixtures)
from tests.provider_receiver import ProviderReceiver

from omnihub.billing.models import provider_notifications
from omnihub.bootstrap import bootstrap
from omnihub.config import Settings
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.core.outbound import OutboundGuard

STRIPE_KEY = "sk_test_51HubLocal"
STRIPE_WHSEC = "whsec_local_test_secret"


@pytest.fixture
def provider() -> Iterator[ProviderReceiver]:
    receiver = ProviderReceiver().start()
    yield receiver
    receiver.stop()


@contextmanager
def outcome_listener(listener: Callable[..., None]) -> Iterator[None]:
    """`listener` hears every payment outcome while the block runs (a test that makes applying fail)."""
    from omnihub.billing import flow

    flow.register_outcome_listener(listener)
    try:
        yield
    finally:
        flow._listeners.remove(listener)


def drive(db: Database, clock: ManualClock, settings: Settings) -> int:
    """What the worker's payments step does: the due provider calls, after commit."""
    from omnihub.billing.flow import drive as flow_drive

    return flow_drive(db, clock, secret_key=settings.secret_key, guard=OutboundGuard(settings.outbound_allow))


def apply_notifications(api: TestClient) -> int:
    """What the worker's `billing.apply_notifications` job does, run now (tests drive the worker explicitly),
    until nothing is pending. Returns how many it took."""
    state = api.app.state  # type: ignore[attr-defined]
    [job] = [j for j in bootstrap().jobs(state.settings) if j.name == "billing.apply_notifications"]
    total = 0
    while True:
        with state.db.transaction() as conn:
            n = job.run(conn, state.clock, state.settings)
        total += n
        if not n:
            return total


def delivered(api: TestClient, answer: httpx.Response) -> dict[str, Any]:
    """A provider's webhook answered 200 (verified and stored), then applied by the worker's job: what applying
    it did (`duplicate` also when the webhook itself found it stored before)."""
    ack = ok(answer)
    assert ack["outcome"] == ("duplicate" if ack["duplicate"] else "queued"), ack
    provider = answer.request.url.path.split("/")[-2]
    apply_notifications(api)
    state = api.app.state  # type: ignore[attr-defined]
    with state.db.read() as conn:
        row = conn.execute(sa.select(provider_notifications.c.status, provider_notifications.c.result,
                                     provider_notifications.c.error).where(
            provider_notifications.c.provider == provider,
            provider_notifications.c.event_id == ack["event_id"])).one()
    assert row.status == "done", (row.status, row.error)
    return {**row.result, "duplicate": ack["duplicate"] or row.result["duplicate"]}


def stripe_signed(event: dict[str, Any], secret: str = STRIPE_WHSEC, *, at: int | None = None
                  ) -> tuple[bytes, dict[str, str]]:
    """A Stripe webhook as Stripe signs it: `t=<unix>,v1=<HMAC-SHA256(secret, "<t>.<payload>")>`."""
    body = json.dumps(event).encode()
    t = int(time.time()) if at is None else at
    v1 = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return body, {"Stripe-Signature": f"t={t},v1={v1}", "Content-Type": "application/json"}


def intent_event(event_id: str, kind: str, intent: dict[str, Any]) -> dict[str, Any]:
    return {"id": event_id, "object": "event", "type": kind, "api_version": "2024-06-20", "created": 1764770000,
            "livemode": False, "data": {"object": intent}}


def configure_stripe(admin: TestClient, base: str, channel: str = "web", **extra: Any) -> dict[str, Any]:
    answer = admin.put(f"/api/v1/channels/{channel}/payment-providers/stripe", json={
        "secret_key": STRIPE_KEY, "webhook_secret": STRIPE_WHSEC, "api_base": base,
        "publishable_key": "pk_test_local", **extra})
    assert answer.status_code in (200, 201), answer.text
    return answer.json()
