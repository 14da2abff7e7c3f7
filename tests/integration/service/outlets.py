"""Meta's Graph API send endpoints for reply tests, on the shared local provider receiver: answers `{messages:
[{id}]}` (WhatsApp) or `{recipient_id, message_id}` (Instagram) as Meta documents; the first `fail_first` calls get
`fail_status` (set by a test after start)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.provider_receiver import Call, Mailbox, ProviderReceiver

__all__ = ["Graph", "Mailbox"]


@dataclass
class Graph:
    fail_first: int = 0
    fail_status: int = 500
    receiver: ProviderReceiver = field(default_factory=ProviderReceiver)

    @property
    def base(self) -> str:
        return f"{self.receiver.base}/v21.0"

    @property
    def calls(self) -> list[Any]:
        return [_Sent(c) for c in self.receiver.calls]

    def _answer(self, call: Call) -> tuple[int, dict[str, Any]]:
        n = len(self.receiver.calls)
        if n <= self.fail_first:
            return self.fail_status, {"error": {"message": "(#131000) Something went wrong", "type": "OAuthException",
                                                "code": 131000}}
        body = call.json
        if "messaging_product" in body:
            return 200, {"messaging_product": "whatsapp", "contacts": [{"input": body["to"], "wa_id": body["to"]}],
                         "messages": [{"id": f"wamid.OUT{n}"}]}
        return 200, {"recipient_id": body["recipient"]["id"], "message_id": f"mid.OUT{n}"}

    def start(self) -> Graph:
        self.receiver.route("POST", r"^/v21\.0/.+", self._answer).start()
        return self

    def stop(self) -> None:
        self.receiver.stop()


@dataclass(frozen=True)
class _Sent:
    """A call as the reply tests read it: method, path, headers and the JSON body."""

    call: Call

    @property
    def method(self) -> str:
        return self.call.method

    @property
    def path(self) -> str:
        return self.call.path

    @property
    def headers(self) -> dict[str, str]:
        return self.call.headers

    @property
    def body(self) -> Any:
        return self.call.json
