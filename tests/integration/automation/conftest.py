"""A shop (the commerce tests' one), the local SMTP mailbox and Twilio receiver, and a worker whose settings send
through them."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from tests.integration.commerce.conftest import associate, shop  # noqa: F401  (fixtures)
from tests.provider_receiver import Call, Mailbox, ProviderReceiver

from omnihub.config import Settings
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.worker import Worker

SID, TOKEN = "AC" + "c" * 32, "twilio-token"
SMS_PATH = f"/2010-04-01/Accounts/{SID}/Messages.json"


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox().start()
    yield box
    box.stop()


@pytest.fixture
def twilio() -> Iterator[ProviderReceiver]:
    receiver = ProviderReceiver().start()

    def created(call: Call) -> tuple[int, dict[str, str]]:
        return 201, {"sid": f"SM{len(receiver.calls):032d}", "status": "queued", "to": call.form["To"]}

    receiver.route("POST", SMS_PATH, created)
    yield receiver
    receiver.stop()


@pytest.fixture
def work(settings: Settings, db: Database, clock: ManualClock, mailbox: Mailbox, twilio: ProviderReceiver
         ) -> Iterator[Callable[[], None]]:
    """Run the worker until nothing is left to do now (events dispatched, due runs moved, messages delivered)."""
    worker_settings = settings.model_copy(update={
        "smtp_url": mailbox.url, "sms_account_sid": SID, "sms_auth_token": TOKEN, "sms_from": "+34910000000",
        "sms_api_base": twilio.base, "public_url": "http://hub.test",
        "automation_timezone": "Europe/Madrid"})
    worker = Worker(worker_settings, db, clock)
    yield lambda: worker.drain(max_steps=50)
    worker.close()


def consent(api: TestClient, customer_id: str, purpose: str, granted: bool = True) -> None:
    response = api.put(f"/api/v1/customers/{customer_id}/consents/{purpose}", json={"granted": granted})
    assert response.status_code == 200, response.text
