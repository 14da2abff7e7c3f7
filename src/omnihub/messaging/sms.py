"""SMS through a provider: the interface every sender (the service desk's replies, automations, pickup notices)
calls, and its HTTP implementation in Twilio's documented Messages API format.

Twilio: `POST {api_base}/2010-04-01/Accounts/{AccountSid}/Messages.json`, HTTP Basic auth (AccountSid:AuthToken),
form-encoded `To`, `Body` and `From` (a number) or `MessagingServiceSid` (`MG…`); the answer is the Message
resource (`sid`, `status`, or `code`/`message` on error). Configured from the environment
(`OMNIHUB_SMS_ACCOUNT_SID`, `OMNIHUB_SMS_AUTH_TOKEN`, `OMNIHUB_SMS_FROM`, `OMNIHUB_SMS_API_BASE`), the token never
logged; the connection goes through the outbound guard."""

from __future__ import annotations

import base64
import http.client
import json
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote, urlencode, urlsplit

from omnihub.core.outbound import OutboundGuard, OutboundRefused

TWILIO_API_BASE = "https://api.twilio.com"
MAX_SMS_CHARS = 1600  # Twilio's limit for one Body (it splits into segments itself)


class SmsFailed(Exception):
    """A send that did not happen. `permanent`: retrying cannot fix it (a bad number, bad credentials)."""

    def __init__(self, detail: str, *, permanent: bool) -> None:
        super().__init__(detail)
        self.detail = detail
        self.permanent = permanent


class SmsProvider(Protocol):
    def send(self, to: str, body: str) -> str:
        """Send one SMS to an E.164 number; returns the provider's message id, or raises SmsFailed."""
        ...


@dataclass(frozen=True)
class TwilioSms:
    """Twilio's Messages API (and any provider speaking its format, e.g. a gateway behind `api_base`)."""

    account_sid: str
    auth_token: str
    sender: str  # an E.164 number, or a Messaging Service SID (MG…)
    guard: OutboundGuard
    api_base: str = TWILIO_API_BASE
    timeout: float = 10.0

    def __repr__(self) -> str:  # never show the token
        return f"TwilioSms(account_sid={self.account_sid!r}, sender={self.sender!r}, api_base={self.api_base!r})"

    def request(self, to: str, body: str) -> tuple[str, dict[str, str]]:
        """The path and form fields Twilio documents for one message."""
        if len(body) > MAX_SMS_CHARS:
            raise SmsFailed(f"SMS body longer than {MAX_SMS_CHARS} characters", permanent=True)
        fields = {"To": to, "Body": body}
        fields["MessagingServiceSid" if self.sender.startswith("MG") else "From"] = self.sender
        return f"/2010-04-01/Accounts/{quote(self.account_sid, safe='')}/Messages.json", fields

    def send(self, to: str, body: str) -> str:
        return self.send_on(None, to, body)

    def connection(self) -> http.client.HTTPConnection:
        """A keep-alive connection to the provider through the outbound guard, for `send_on` (a sender of many
        messages keeps one per thread instead of connecting for each)."""
        base = urlsplit(self.api_base)
        try:
            return self.guard.connection(base.scheme, base.hostname or "", base.port, timeout=self.timeout)
        except OutboundRefused as exc:
            raise SmsFailed(f"SMS provider refused by the outbound guard: {exc}"[:500], permanent=True) from None

    def send_on(self, connection: http.client.HTTPConnection | None, to: str, body: str) -> str:
        """`send` over `connection` (kept open; closed on any failure, so that its next use connects again), or
        over a connection of its own when None."""
        path, fields = self.request(to, body)
        base = urlsplit(self.api_base)
        token = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        own = connection is None
        if connection is None:
            connection = self.connection()
        failed = True
        try:
            connection.request("POST", base.path.rstrip("/") + path, body=urlencode(fields).encode(), headers={
                "Authorization": f"Basic {token}", "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json"})
            response = connection.getresponse()
            status, raw = response.status, response.read(256 * 1024)
            failed = False
        except OutboundRefused as exc:
            raise SmsFailed(f"SMS provider refused by the outbound guard: {exc}"[:500], permanent=True) from None
        except (OSError, http.client.HTTPException) as exc:
            raise SmsFailed(f"SMS provider unreachable: {type(exc).__name__}", permanent=False) from None
        finally:
            if own or failed:
                connection.close()
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
        if status >= 300:
            detail = data.get("message") if isinstance(data, dict) else None
            code = data.get("code") if isinstance(data, dict) else None
            permanent = 400 <= status < 500 and status not in (408, 429)
            raise SmsFailed(f"SMS provider {status}{f' ({code})' if code else ''}: "
                            f"{detail or raw[:200].decode('utf-8', 'replace')}"[:500], permanent=permanent)
        if not isinstance(data, dict) or not data.get("sid"):
            raise SmsFailed("SMS provider answered without a message sid", permanent=False)
        return str(data["sid"])


def sms_provider(settings: object) -> SmsProvider | None:
    """The configured provider, or None when SMS is not set up (messages then stay in the log)."""
    sid = getattr(settings, "sms_account_sid", None)
    token = getattr(settings, "sms_auth_token", None)
    sender = getattr(settings, "sms_from", None)
    if not (sid and token and sender):
        return None
    return TwilioSms(sid, token, sender, OutboundGuard(getattr(settings, "outbound_allow", "") or ""),
                     api_base=getattr(settings, "sms_api_base", TWILIO_API_BASE) or TWILIO_API_BASE)
