"""The WooCommerce connector's I/O shapes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from omnihub.core.schemas import Code, Strict


class WooConnectionIn(Strict):
    site_url: str = Field(max_length=300, description="The shop's address, e.g. https://shop.example.com.")
    webhook_secret: str = Field(min_length=1, max_length=500, description="The secret set on the shop's "
                                                                           "webhooks (X-WC-Webhook-Signature).")
    consumer_key: str = Field(min_length=1, max_length=200, description="REST API consumer key (ck_…).")
    consumer_secret: str = Field(min_length=1, max_length=200, description="REST API consumer secret (cs_…).")
    default_location: Code | None = Field(default=None, description="The hub location its orders take stock from.")
    allow_http: bool = Field(default=False, description="Accept an http:// site (a local test shop only).")


class WooConnectionOut(BaseModel):
    kind: str
    channel: str
    site_url: str
    default_location: str | None
    allow_http: bool
    secrets_set: list[str]
    created_at: datetime
    updated_at: datetime
