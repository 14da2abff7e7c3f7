"""Pure messaging logic: which provider carries a message."""

from __future__ import annotations


def provider_for(kind: str, smtp_configured: bool) -> str:
    """E-mail goes by SMTP when OMNIHUB_SMTP_URL is set; everything else (and e-mail without SMTP) is written
    to the outbox log, which is what docs/contract.md promises for a hub with no provider configured."""
    return "smtp" if kind == "email" and smtp_configured else "log"
