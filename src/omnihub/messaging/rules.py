"""Pure messaging logic: which provider carries a message, and what a message shows to whom."""

from __future__ import annotations

from collections.abc import Sequence


def provider_for(kind: str, smtp_configured: bool) -> str:
    """E-mail goes by SMTP when OMNIHUB_SMTP_URL is set; everything else (and e-mail without SMTP) is written
    to the outbox log, which is what docs/contract.md promises for a hub with no provider configured."""
    return "smtp" if kind == "email" and smtp_configured else "log"


MASK = "••••••"


def redact(text: str, secrets: Sequence[str]) -> str:
    """The text with every secret in it masked (longest first, so a secret inside another goes too)."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text
