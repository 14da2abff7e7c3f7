"""The webhooks room's I/O shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, StrictInt

from omnihub.connectors.webhooks import rules
from omnihub.core.schemas import Instant, Strict

DeliveryStatusName = Literal["pending", "delivered", "dead"]


class WebhookCreate(Strict):
    url: str = Field(min_length=1, max_length=2000, description="Absolute http:// or https:// URL.")
    events: list[str] = Field(
        min_length=1, max_length=50,
        description="Event types to receive: exact (`order.created`), prefix wildcard (`stock.*`) or `*`.",
    )
    secret: str | None = Field(
        default=None, min_length=16, max_length=200,
        description="Signing secret. Generated when absent; returned once, in this response only.",
    )
    batch_size: StrictInt = Field(
        default=1, ge=1, le=1000,
        description="Events per POST. 1 (default): one event per request. More: up to this many due events in "
                    'one signed request, body `{"events": [envelope, ...]}` — for receivers of high-volume '
                    "streams such as `availability.changed`.",
    )


class WebhookUpdate(Strict):
    """Only what is sent changes; pending deliveries go to the new URL, new events follow the new types."""

    url: str | None = Field(default=None, min_length=1, max_length=2000)
    events: list[str] | None = Field(default=None, min_length=1, max_length=50)
    batch_size: StrictInt | None = Field(default=None, ge=1, le=1000)


class StreamOut(BaseModel):
    """Where a batching webhook's cursor stands in the event stream."""

    position: int = Field(description="Every event up to this outbox position is delivered (or dead-lettered).")
    behind: int = Field(description="Subscribed events dispatched after the cursor: still to be sent (counted "
                                    "up to 100,000).")
    draining: bool = Field(description="The webhook went back to one event per request: the stream sends what "
                                       "was dispatched before that, then stops.")
    attempts: int = Field(description="Failed tries of the batch at the cursor.")
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    last_delivered_at: datetime | None


class SecretRotation(Strict):
    secret: str | None = Field(default=None, min_length=16, max_length=200,
                               description="The new signing secret. Generated when absent; returned once.")
    grace_seconds: StrictInt = Field(default=rules.DEFAULT_SECRET_GRACE_SECONDS, ge=0,
                                     le=rules.MAX_SECRET_GRACE_SECONDS,
                                     description="How long the old secret keeps signing beside the new one "
                                                 "(0: stop now).")


class WebhookOut(BaseModel):
    id: str
    url: str
    events: list[str]
    active: bool
    batch_size: int
    created_at: datetime
    deactivated_at: datetime | None
    previous_secret_expires_at: datetime | None = Field(
        default=None, description="After a secret rotation: until when the old secret also signs (a second `v1=`).")
    stream: StreamOut | None = Field(
        default=None, description="Batching webhooks (`batch_size` > 1) only: their cursor over the events.")


class WebhookCreated(WebhookOut):
    secret: str = Field(description="Keep it: it is not shown again. Verifies `X-Omnihub-Signature`.")


class DeliveryOut(BaseModel):
    id: str
    webhook_id: str
    event_id: str
    event_type: str
    status: DeliveryStatusName
    attempts: int
    last_status_code: int | None
    last_error: str | None
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None


class ReplayRequest(Strict):
    since: Instant = Field(description="Send again what happened at or after this time (ISO 8601 with offset).")


class ReplayOut(BaseModel):
    webhook_id: str
    since: datetime
    deliveries_reset: int = Field(description="One-event deliveries made since then, put back to pending.")
    stream_rewound_by: int = Field(description="Batching webhooks: positions the cursor moved back (events of "
                                               "any type; only the subscribed ones are sent).")
    webhook: WebhookOut
