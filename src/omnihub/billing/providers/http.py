"""One outbound HTTP call to a provider through the SSRF guard (core.outbound), with a short timeout."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from omnihub.billing.providers import ProviderFailed
from omnihub.core.outbound import OutboundGuard

TIMEOUT = 15.0


def call(guard: OutboundGuard, method: str, url: str, *, headers: Mapping[str, str] | None = None,
         body: bytes | None = None, timeout: float = TIMEOUT) -> tuple[int, dict[str, str], bytes]:
    """(status, headers with lower-cased names, body). A connection failure is a ProviderFailed to retry."""
    parts = urlsplit(url)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    try:
        conn = guard.connection(parts.scheme, parts.hostname or "", parts.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=dict(headers or {}))
            response = conn.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            conn.close()
    except OSError as exc:
        raise ProviderFailed(f"{parts.hostname}: {exc}", permanent=False) from None


def json_call(guard: OutboundGuard, method: str, url: str, *, headers: Mapping[str, str] | None = None,
              payload: Any = None, what: str) -> Any:
    """A JSON request and answer; 4xx is a permanent refusal (with the provider's message), 5xx a retry."""
    body = None if payload is None else json.dumps(payload).encode()
    sent = {"Accept": "application/json", **({"Content-Type": "application/json"} if body is not None else {}),
            **(headers or {})}
    status, _, raw = call(guard, method, url, headers=sent, body=body)
    if status >= 400:
        raise ProviderFailed(f"{what}: HTTP {status} {raw[:300].decode(errors='replace')}", permanent=status < 500)
    return json.loads(raw) if raw else None
