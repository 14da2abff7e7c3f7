"""The Shopify connector's I/O shapes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from omnihub.core.schemas import Code, Strict

LocationMap = dict[str, Code]


class ShopifyConnectionIn(Strict):
    shop_domain: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$|^[a-z0-9][a-z0-9.-]{1,250}$",
                             max_length=255, description="The shop's myshopify.com domain.")
    webhook_secret: str = Field(min_length=1, max_length=500, description="The app's client secret: it signs "
                                                                           "the webhooks (X-Shopify-Hmac-Sha256).")
    access_token: str = Field(min_length=1, max_length=500, description="Admin API access token (shpat_…).")
    api_base: str | None = Field(default=None, max_length=300,
                                 description="Where the Admin API is; default https://{shop_domain}.")
    default_location: Code | None = Field(default=None, description="The hub location online orders take "
                                                                     "their stock from.")
    locations: LocationMap = Field(default_factory=dict, max_length=200,
                                   description="Shopify location id → hub location code.")


class ShopifyConnectionOut(BaseModel):
    kind: str
    channel: str
    shop_domain: str
    api_base: str | None
    default_location: str | None
    locations: dict[str, str]
    secrets_set: list[str]
    created_at: datetime
    updated_at: datetime
