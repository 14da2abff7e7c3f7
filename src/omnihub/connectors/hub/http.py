"""One JSON request to a shop through the outbound guard, its failure sorted into retryable or not."""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import urlsplit

from omnihub.connectors.hub.service import PushFailed
from omnihub.core.outbound import OutboundGuard, OutboundRefused

TIMEOUT = 10.0
MAX_ANSWER = 256 * 1024


def send_json(guard: OutboundGuard, method: str, base: str, path: str, body: Any, headers: dict[str, str]
              ) -> tuple[int, Any]:
    """(status, parsed answer or None). Connection failures and 5xx/429 are retryable; other 4xx are not."""
    parts = urlsplit(base)
    try:
        connection = guard.connection(parts.scheme, parts.hostname or "", parts.port, timeout=TIMEOUT)
    except OutboundRefused as exc:
        raise PushFailed(f"refused by the outbound guard: {exc}"[:500], permanent=True) from None
    try:
        connection.request(method, parts.path.rstrip("/") + path, body=json.dumps(body).encode(), headers={
            "Content-Type": "application/json", "Accept": "application/json", **headers})
        response = connection.getresponse()
        status, raw = response.status, response.read(MAX_ANSWER)
    except OutboundRefused as exc:
        raise PushFailed(f"refused by the outbound guard: {exc}"[:500], permanent=True) from None
    except (OSError, http.client.HTTPException) as exc:
        raise PushFailed(f"unreachable: {type(exc).__name__}", permanent=False) from None
    finally:
        connection.close()
    try:
        answer = json.loads(raw) if raw else None
    except ValueError:
        answer = None
    if status >= 300:
        permanent = 400 <= status < 500 and status not in (408, 429)
        raise PushFailed(f"HTTP {status}: {raw[:200].decode('utf-8', 'replace')}"[:500], permanent=permanent)
    return status, answer
