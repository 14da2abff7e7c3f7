"""Meta media, described: a WhatsApp media message (image, document, audio, video, sticker) carries only a media
id, so after the message is stored its metadata is fetched from the Graph API — `GET {api_base}/{media-id}` with
the connection's access token, through the outbound guard — and kept on the message's attachment: `url`,
`mime_type`, `sha256`, `file_size`. The file itself is not downloaded (Meta's `url` needs the token and expires
after about five minutes: whoever shows the file fetches it then). Instagram and Messenger attachments come with
their URL and type in the webhook and are kept as they are.

A separate step from receiving: a dispatcher handler on `message.received`, so the webhook's answer (and however
its ingestion is batched) never waits on Meta. A failure (Meta down, refused by the guard, a 4xx) is recorded on
the attachment as `media_error` and the message stays as received."""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote, urlsplit

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.config import Settings
from omnihub.core.clock import Clock
from omnihub.core.events import Event
from omnihub.core.outbound import OutboundGuard, OutboundRefused
from omnihub.service.channels import connection_secrets
from omnihub.service.models import conversation_messages

log = logging.getLogger("omnihub.service.media")
M = conversation_messages.c
MAX_TIMEOUT = 5.0  # seconds per Graph call: it runs in the dispatcher's transaction
MAX_ANSWER = 64 * 1024
KEPT = ("url", "mime_type", "sha256", "file_size")


class MediaFailed(Exception):
    pass


def needs_description(attachment: Any) -> bool:
    """A WhatsApp attachment with a media id whose metadata has not been fetched (nor failed) yet."""
    return (isinstance(attachment, dict) and isinstance(attachment.get("id"), str) and "url" not in attachment
            and "media_error" not in attachment)


def fetch_metadata(secrets: dict[str, str], media_id: str, guard: OutboundGuard, timeout: float) -> dict[str, Any]:
    """Meta's `GET /{media-id}` (with `phone_number_id`, which Meta checks the media belongs to): the fields kept."""
    base = urlsplit(secrets["api_base"])
    path = f"{base.path.rstrip('/')}/{quote(media_id, safe='')}?phone_number_id={quote(secrets['account_id'])}"
    connection = guard.connection(base.scheme, base.hostname or "", base.port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Authorization": f"Bearer {secrets['access_token']}"})
        response = connection.getresponse()
        status, raw = response.status, response.read(MAX_ANSWER)
    except OutboundRefused as exc:
        raise MediaFailed(f"refused by the outbound guard: {exc}"[:300]) from None
    except (OSError, http.client.HTTPException) as exc:
        raise MediaFailed(f"Graph API unreachable: {type(exc).__name__}") from None
    finally:
        connection.close()
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if status >= 300 or not isinstance(data, dict):
        error = data.get("error") if isinstance(data, dict) else None
        detail = error.get("message") if isinstance(error, dict) else None
        raise MediaFailed(f"Graph API {status}: {detail or 'unexpected answer'}"[:300])
    found: dict[str, Any] = {k: data[k] for k in ("url", "mime_type", "sha256") if isinstance(data.get(k), str)}
    with contextlib.suppress(KeyError, TypeError, ValueError):
        found["file_size"] = int(data["file_size"])  # Meta documents it as a string of digits
    if "url" not in found:
        raise MediaFailed("Graph API answered without a url")
    return found


def describe(conn: Connection, settings: Settings, message_id: str) -> int:
    """Fetch the metadata of a stored WhatsApp message's media; returns how many attachments were described."""
    row = conn.execute(sa.select(M.id, M.channel, M.direction, M.attachments, M.payload)
                       .where(M.id == message_id)).first()
    if row is None or row.channel != "whatsapp" or row.direction != "in":
        return 0
    attachments = list(row.attachments or [])
    if not any(needs_description(a) for a in attachments):
        return 0
    channel = (row.payload or {}).get("connector")
    secrets = connection_secrets(conn, settings.secret_key, channel) if channel else None
    if secrets is None or secrets["kind"] != "whatsapp":
        return 0
    guard = OutboundGuard(settings.outbound_allow)
    timeout = min(settings.service_send_timeout_seconds, MAX_TIMEOUT)
    described = 0
    for i, attachment in enumerate(attachments):
        if not needs_description(attachment):
            continue
        try:
            attachments[i] = {**attachment, **fetch_metadata(secrets, attachment["id"], guard, timeout)}
            described += 1
        except MediaFailed as exc:
            log.info("media %s of message %s not described: %s", attachment["id"], row.id, exc)
            attachments[i] = {**attachment, "media_error": str(exc)}
    conn.execute(conversation_messages.update().where(M.id == row.id).values(attachments=attachments))
    return described


class MediaHandler:
    """The dispatcher's handle on media descriptions: each WhatsApp message received, once."""

    name = "service.media"

    def __init__(self, clock: Clock, settings: Settings) -> None:
        self.clock = clock
        self.settings = settings

    def handle(self, conn: Connection, events: Sequence[Event]) -> None:
        ids = [e.data["message_id"] for e in events
               if e.type == "message.received" and e.data.get("channel") == "whatsapp"]
        if not ids:
            return
        # One read for the batch: most messages carry no media id, and those need no savepoint nor a read each.
        with_media = {r.id for r in conn.execute(sa.select(M.id, M.attachments).where(M.id.in_(ids)))
                      if any(needs_description(a) for a in r.attachments or [])}
        for event in events:
            if (event.type == "message.received" and event.data.get("channel") == "whatsapp"
                    and event.data["message_id"] in with_media):
                try:
                    with conn.begin_nested():
                        describe(conn, self.settings, event.data["message_id"])
                except sa.exc.DBAPIError:
                    raise
                except Exception:
                    log.exception("describing the media of %s failed", event.data.get("message_id"))

    def close(self) -> None:
        """Nothing to release."""
