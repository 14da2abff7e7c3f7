"""The service room's I/O shapes (inputs reject unknown fields and carry size limits)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from omnihub.core.schemas import Code, Strict

Channel = Literal["instagram", "facebook", "whatsapp", "webchat", "email", "sms", "phone"]
ReplyChannel = Literal["email", "whatsapp", "instagram", "facebook", "sms"]
Status = Literal["open", "pending", "snoozed", "resolved"]


class AttachmentIn(Strict):
    type: str = Field(min_length=1, max_length=32, description="image, video, audio, file, location…")
    url: str | None = Field(default=None, max_length=2000)
    id: str | None = Field(default=None, max_length=300, description="The provider's media id.")
    filename: str | None = Field(default=None, max_length=300)
    content_type: str | None = Field(default=None, max_length=100)
    size: int | None = Field(default=None, ge=0)


class MessageIn(Strict):
    """A message from a person on any channel, in the hub's own shape."""

    channel: Channel
    identity: dict[str, Any] | list[dict[str, Any]] = Field(
        description="Identity hints of the sender, as everywhere (typed, a list, or the shorthand object).")
    text: str = Field(default="", max_length=10_000)
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=20)
    external_id: str | None = Field(default=None, min_length=1, max_length=300,
                                    description="The provider's id: a repeat is answered with the first result.")
    thread: str | None = Field(default=None, min_length=1, max_length=300,
                               description="A conversation id, a reply token, or an earlier message's external id.")
    at: datetime | None = None
    name: str | None = Field(default=None, min_length=1, max_length=200)
    address: str | None = Field(default=None, min_length=1, max_length=320,
                                description="Where a reply reaches the person on this channel (default: from the "
                                            "identity).")
    subject: str | None = Field(default=None, max_length=300)
    sales_channel: Code | None = Field(default=None, description="The hub channel it arrived through (its country "
                                                                  "reads national phone numbers).")

    @model_validator(mode="after")
    def _something(self) -> MessageIn:
        if not self.text.strip() and not self.attachments:
            raise ValueError("a message needs text or attachments")
        return self


class MessageReceipt(BaseModel):
    message_id: str
    conversation_id: str
    customer_id: str
    conversation_status: str
    channel: str
    duplicate: bool = Field(description="True when this external id was stored before: the first result.")


class ThreadMessage(BaseModel):
    id: str
    channel: str
    direction: Literal["in", "out", "note"]
    author: str | None
    text: str
    subject: str | None
    attachments: list[dict[str, Any]]
    external_id: str | None
    status: str
    error: str | None
    template: str | None
    has_original: bool
    at: datetime


class SlaOut(BaseModel):
    first_response_due_at: datetime | None
    resolution_due_at: datetime | None
    first_response_breached_at: datetime | None
    resolution_breached_at: datetime | None
    first_response_seconds: int | None = Field(description="From opening to the first reply (recorded when met).")
    resolution_seconds: int | None = Field(description="From the current cycle's start (opening or reopening) to "
                                                       "resolution, while resolved.")
    next_response_due_at: datetime | None = Field(None, description=(
        "While a customer message after a person's reply awaits an answer: when it is due."))
    next_response_breached_at: datetime | None = None
    paused: bool = Field(False, description="Pending (waiting on the customer): the SLA clock is stopped.")
    paused_seconds: int = Field(0, description="Time spent pending (clock stopped) before the current pause.")


class ConversationOut(BaseModel):
    id: str
    team: str | None
    tags: list[str]
    sla: SlaOut
    customer_id: str
    status: str
    snoozed_until: datetime | None
    assignee: str | None
    priority: str
    priority_reasons: list[Any]
    last_channel: str | None
    last_message_at: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None
    created_at: datetime
    updated_at: datetime


class ConversationDetail(ConversationOut):
    channels: list[str]
    merged_ids: list[str]
    messages: list[ThreadMessage]
    customer: dict[str, Any]
    orders: list[dict[str, Any]]
    handoff: dict[str, Any] | None = Field(default=None, description="The bot's latest handoff to people: "
                                           "{reason, at, message_id, open, detail} (kb_schemas.HandoffOut).")
    csat: dict[str, Any] | None = Field(description="The latest satisfaction survey of this conversation.")


class AssignIn(Strict):
    assignee: str | None = Field(max_length=200, description="The agent, `me`, `auto` (round robin among the "
                                 "team's available agents), or null (back to the queue).")
    team: Code | None = Field(default=None, description="Put it in this team's queue (null: no team). Absent: the "
                                                        "team stays as it is.")


class SnoozeIn(Strict):
    until: datetime


class NoteIn(Strict):
    text: str = Field(min_length=1, max_length=10_000)


class ReplyIn(Strict):
    text: str | None = Field(default=None, min_length=1, max_length=10_000)
    template: Code | None = None
    variables: dict[str, Any] = Field(default_factory=dict, max_length=50)
    channel: ReplyChannel | None = Field(default=None, description="Default: where the customer last wrote from.")


class ReplyOut(BaseModel):
    id: str
    conversation_id: str
    channel: str
    status: str
    text: str
    template: str | None
    whatsapp_template: str | None


class WhatsAppTemplate(Strict):
    name: str = Field(min_length=1, max_length=200, pattern=r"^[a-z0-9_]+$")
    language: str = Field(default="en", min_length=2, max_length=16)
    parameters: list[str] = Field(default_factory=list, max_length=10,
                                  description="Body parameters in order, each a template expression.")


class TemplateBody(Strict):
    name: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=10_000)
    subject: str | None = Field(default=None, max_length=300)
    whatsapp: WhatsAppTemplate | None = Field(default=None, description="The approved template at Meta to send "
                                                                         "outside WhatsApp's 24-hour window.")


class TemplateIn(TemplateBody):
    code: Code


class TemplateOut(BaseModel):
    code: str
    name: str
    body: str
    subject: str | None
    whatsapp: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime


class MetaConnectionIn(Strict):
    app_secret: str = Field(min_length=1, max_length=200)
    verify_token: str = Field(min_length=1, max_length=200)
    access_token: str = Field(min_length=1, max_length=4000)
    phone_number_id: str | None = Field(default=None, pattern=r"^[0-9]{1,64}$")
    page_id: str | None = Field(default=None, pattern=r"^[0-9]{1,64}$")
    kind: Literal["whatsapp", "instagram", "facebook"] | None = Field(default=None, description=(
        "With page_id: `instagram` (the default) or `facebook` (Messenger: the Facebook Page's id)."))
    api_base: str | None = Field(default=None, max_length=300)


class MetaConnectionOut(BaseModel):
    channel: str
    kind: str
    phone_number_id: str | None
    page_id: str | None
    api_base: str
    secrets_set: list[str]
    created_at: datetime
    updated_at: datetime


class WebhookReceipt(BaseModel):
    """The payload is kept (signature checked); the worker threads its messages and statuses next."""

    id: str = Field(description="The stored payload, as the worker's log and `service_inbound_payloads` name it.")
    status: Literal["accepted"] = "accepted"
