"""The SMS provider in Twilio's Messages API format, against a local receiver that checks each call as Twilio
documents it (path with the Account SID, Basic auth, form fields) and answers as Twilio does."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from tests.provider_receiver import Call, ProviderReceiver

from omnihub.config import Settings
from omnihub.core.outbound import OutboundGuard
from omnihub.messaging.sms import SmsFailed, TwilioSms, sms_provider

SID, TOKEN = "AC" + "a" * 32, "token-not-logged"
PATH = f"/2010-04-01/Accounts/{SID}/Messages.json"


def created(call: Call) -> tuple[int, dict[str, str]]:
    return 201, {"sid": "SM" + "1" * 32, "status": "queued", "to": call.form["To"], "body": call.form["Body"]}


@pytest.fixture
def twilio() -> Iterator[ProviderReceiver]:
    receiver = ProviderReceiver().start()
    yield receiver
    receiver.stop()


def provider(twilio: ProviderReceiver, sender: str = "+34910000000") -> TwilioSms:
    return TwilioSms(SID, TOKEN, sender, OutboundGuard("127.0.0.1"), api_base=twilio.base)


def test_a_message_is_posted_as_twilio_documents(twilio: ProviderReceiver) -> None:
    twilio.route("POST", PATH, created)
    assert provider(twilio).send("+34600111222", "Tu pedido está listo") == "SM" + "1" * 32
    [call] = twilio.calls
    assert call.headers["authorization"] == "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    assert call.headers["content-type"] == "application/x-www-form-urlencoded"
    assert call.form == {"To": "+34600111222", "Body": "Tu pedido está listo", "From": "+34910000000"}


def test_a_messaging_service_sender_goes_as_messaging_service_sid(twilio: ProviderReceiver) -> None:
    twilio.route("POST", PATH, created)
    provider(twilio, sender="MG" + "b" * 32).send("+34600111222", "Hola")
    assert twilio.calls[0].form["MessagingServiceSid"] == "MG" + "b" * 32 and "From" not in twilio.calls[0].form


def test_refusals_say_whether_a_retry_can_help(twilio: ProviderReceiver) -> None:
    twilio.route("POST", PATH, (400, {"code": 21211, "message": "The 'To' number is not a valid phone number.",
                                      "status": 400}))
    with pytest.raises(SmsFailed) as refused:
        provider(twilio).send("+340", "Hola")
    assert refused.value.permanent and "21211" in refused.value.detail and TOKEN not in refused.value.detail
    outage = ProviderReceiver().start().route("POST", PATH, created, fail_first=1, fail_status=503)
    try:
        with pytest.raises(SmsFailed) as down:
            provider(outage).send("+34600111222", "Hola")
        assert not down.value.permanent
        assert provider(outage).send("+34600111222", "Hola").startswith("SM")
    finally:
        outage.stop()


def test_loopback_is_refused_unless_allowed(twilio: ProviderReceiver) -> None:
    twilio.route("POST", PATH, created)
    closed = TwilioSms(SID, TOKEN, "+34910000000", OutboundGuard(""), api_base=twilio.base)
    with pytest.raises(SmsFailed) as refused:
        closed.send("+34600111222", "Hola")
    assert refused.value.permanent and twilio.calls == []


def test_configured_from_settings_and_the_token_is_never_shown() -> None:
    assert sms_provider(Settings()) is None
    configured = sms_provider(Settings(sms_account_sid=SID, sms_auth_token=TOKEN, sms_from="+34910000000"))
    assert isinstance(configured, TwilioSms) and TOKEN not in repr(configured)
    assert TOKEN not in repr(Settings(sms_auth_token=TOKEN))
