"""Schemathesis hooks for the fuzz test (loaded with SCHEMATHESIS_HOOKS=tests.fuzz_hooks)."""

from __future__ import annotations

import json

import schemathesis
from hypothesis import strategies as st


@schemathesis.check
def client_errors_are_problems(ctx, response, case) -> None:  # type: ignore[no-untyped-def]
    """Every 4xx is `application/problem+json` with a stable `code` and its own status."""
    if not 400 <= response.status_code < 500:
        return
    content_type = (response.headers.get("content-type") or [""])[0]
    if not content_type.startswith("application/problem+json"):
        raise AssertionError(f"{response.status_code} answered as {content_type!r}, not application/problem+json")
    body = json.loads(response.content)
    if not isinstance(body.get("code"), str) or body.get("status") != response.status_code:
        raise AssertionError(f"problem without a code or with another status: {body}")


# Raw e-mail (POST /connectors/email/inbound): random bytes and a few well-formed messages.
schemathesis.openapi.media_type("message/rfc822", st.one_of(
    st.binary(max_size=2000),
    st.builds(lambda sender, subject, text: (f"From: {sender}\r\nTo: support@omnihub.local\r\nSubject: {subject}\r\n"
                                             f"\r\n{text}\r\n").encode("utf-8", "surrogatepass"),
              st.sampled_from(["ana@correo.es", "<>", "Ana <ana@correo.es>", "", "x" * 400]),
              st.text(max_size=100), st.text(max_size=500)),
))
