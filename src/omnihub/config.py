"""Settings from OMNIHUB_* environment variables (the public contract in docs/contract.md)."""

from __future__ import annotations

import ipaddress
from decimal import Decimal
from functools import lru_cache

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OMNIHUB_", extra="ignore")

    database_url: str = "sqlite:///./omnihub.db"
    nats_url: str | None = None
    secret_key: str = Field(default="dev-insecure-change-me", min_length=8)  # DEV_SECRET_KEY
    smtp_url: str | None = None
    # SMS through Twilio's Messages API format (messaging.sms): all three set, or SMS stays in the message log.
    sms_account_sid: str | None = None
    sms_auth_token: str | None = Field(default=None, repr=False)
    sms_from: str | None = None  # an E.164 number or a Messaging Service SID (MG…)
    sms_api_base: str = "https://api.twilio.com"
    # Pool per process; sized for the default uvicorn thread pool.
    db_pool_size: int = 20
    # Outbound webhooks: attempts before a delivery is dead, and the first backoff step (doubles each try).
    webhook_max_attempts: int = 8
    webhook_backoff_seconds: float = 2.0
    webhook_timeout_seconds: float = 5.0
    # Worker cadence.
    worker_poll_seconds: float = 0.2
    # Paced jobs (expiries, SLA checks, idle-cart scans, imports, ERP sends) poll at most this often; 0: every step.
    worker_pace_seconds: float = 1.0
    reconcile_every_seconds: float = 300.0
    # Dispatched events are kept this long, then purged (0 keeps them forever); a batching webhook's stream
    # keeps what it has not sent yet, whatever its age.
    outbox_retention_days: float = 7.0
    # Webhook deliveries that arrived are kept in the delivery log this long, then purged (0 keeps them);
    # dead and pending ones stay whatever their age (people act on them).
    webhook_delivery_retention_days: float = 30.0
    outbox_purge_every_seconds: float = 3600.0
    # Idempotency-Keys and the answers kept with them are forgotten after this long (purged by the worker; 0
    # keeps them): a retry after that is a new request.
    idempotency_retention_hours: float = 24.0
    # How far ahead of the server's clock a consent's `at` may be (clients' clocks drift a little).
    consent_clock_skew_seconds: float = 300.0
    # How long an authenticated key is trusted from memory before it is looked up again.
    api_key_cache_seconds: float = 10.0
    # Analytics: 0 reads the operational database live on every request; N > 0 answers from a DuckDB copy of the
    # figures' source rows that is at most about N seconds old (rebuilt in the background; see docs/analytics.md).
    analytics_max_age_seconds: float = Field(default=0.0, ge=0)
    # Console sessions: absolute lifetime and idle timeout; failed logins allowed per window, per e-mail and per
    # client address; cookies marked Secure (set it behind HTTPS; plain-HTTP requests never send them then).
    console_session_hours: float = 12.0
    console_idle_minutes: float = 120.0
    console_login_window_minutes: float = 15.0
    console_login_max_per_email: int = 5
    console_login_max_per_address: int = 50
    console_secure_cookies: bool = False
    console_timezone: str = "UTC"
    # The dashboard's figures are kept this long per period and channel; older ones are still shown while a
    # background refresh computes new ones (0: computed on every request).
    console_dashboard_max_age_seconds: float = Field(default=60.0, ge=0)
    # Brute force: unknown API keys from one client address in a window, then that address is refused (429 with
    # Retry-After) for block_seconds. 0 switches it off. The count is kept in the database, shared by every
    # server process (docs/security-authorization.md).
    auth_failure_limit: int = Field(default=20, ge=0)
    auth_failure_window_seconds: float = Field(default=60.0, gt=0)
    auth_block_seconds: float = Field(default=300.0, gt=0)
    # Wrong pickup codes per order before its collection locks, and for how long (commerce.pickup_guard).
    pickup_max_wrong_codes: int = Field(default=5, ge=1)
    pickup_lock_seconds: float = Field(default=900.0, gt=0)
    # Request bodies larger than this are refused with 413 before anything reads them.
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    # Outbound requests (webhooks, connectors) may reach loopback, private, link-local or reserved addresses
    # only inside these networks: comma-separated CIDRs or addresses, e.g. "10.0.0.0/8,127.0.0.1". Empty: none.
    outbound_allow: str = ""
    # Service desk: a resolved conversation reopens on a new message within this many hours (else a new one opens).
    service_reopen_hours: float = 72.0
    # Priority rule "high_value": a customer whose lifetime value (the 360 view's, in the shop's currency) reaches
    # this gets priority on every conversation. Unset: the rule is off (a threshold depends on the shop).
    service_high_value_from: Decimal | None = Field(default=None, gt=0)
    # The support mailbox: From of e-mailed replies; `local+<token>@domain` threads the customer's answers.
    support_email: str = "support@omnihub.local"
    # Replies to customers: attempts before a reply is failed, and the first backoff step (doubles each try).
    service_send_max_attempts: int = 8
    service_send_backoff_seconds: float = 5.0
    service_send_timeout_seconds: float = 10.0
    # The bot, first line on customers' messages (docs/service-desk.md): on or off, and the share of a question an
    # article must cover (0..1) for the bot to answer with it; below it hands off to a person.
    service_bot_enabled: bool = True
    service_bot_threshold: float = Field(default=0.45, ge=0.0, le=1.0)
    # CSAT: ask the customer to rate a conversation 1-5 when it is resolved (service/csat.py); the question links
    # to <link base><token> when a base is set (a page of the shop that posts to /api/v1/csat/{token}).
    service_csat: bool = False
    service_csat_link_base: str = ""
    # Automations: the hub's public address (unsubscribe, open-pixel and tracked links in messages), the time zone
    # for quiet hours when a person's phone gives none, and the From of marketing e-mail.
    public_url: str = "http://localhost:8000"
    automation_timezone: str = "UTC"
    # How often the predicted CLV that segments read is copied from analytics (only while a segment uses it).
    automation_predictions_every_seconds: float = Field(default=86400.0, gt=0)
    marketing_email: str = "news@omnihub.local"

    @field_validator("outbound_allow")
    @classmethod
    def _networks(cls, value: str) -> str:
        for item in value.split(","):
            if item.strip():
                ipaddress.ip_network(item.strip(), strict=False)  # a ValueError names the bad entry
        return value


# The development default above: fine for `omnihub demo`, refused by `serve` and `worker` (see cli.py).
DEV_SECRET_KEY = "dev-insecure-change-me"


def secret_problem(secret_key: str) -> str | None:
    """Why `serve` and `worker` must not start with this secret (it keys every API key's hash), or None."""
    if secret_key == DEV_SECRET_KEY:
        return ("OMNIHUB_SECRET_KEY is not set (or is the development default). Make one with\n"
                "  python -c \"import secrets; print(secrets.token_urlsafe(48))\"\n"
                "and set it in the environment of every server and worker (keep it: API keys are hashed with "
                "it). Only `omnihub demo` runs with the default.")
    return None


@lru_cache
def get_settings() -> Settings:
    return Settings()
