"""Webhook signatures: `t=…,v1=…`, and a second `v1=` while a rotated-out secret is in its grace period."""

import time

from omnihub.core.security import sign, verify_signature

BODY = b'{"id":"evt_1"}'


def test_a_signature_verifies_with_its_secret_only_and_not_for_another_body() -> None:
    header = sign("new-secret-0123456789", BODY)

    assert header.startswith(f"t={int(time.time())}"[:8])
    assert header.count("v1=") == 1
    assert verify_signature("new-secret-0123456789", BODY, header)
    assert not verify_signature("old-secret-0123456789", BODY, header)
    assert not verify_signature("new-secret-0123456789", BODY + b" ", header)


def test_during_a_rotation_both_secrets_verify_the_same_header() -> None:
    header = sign("new-secret-0123456789", BODY, previous="old-secret-0123456789")

    assert header.count("v1=") == 2
    assert verify_signature("new-secret-0123456789", BODY, header)
    assert verify_signature("old-secret-0123456789", BODY, header)
    assert not verify_signature("third-secret-012345678", BODY, header)


def test_malformed_or_stale_headers_never_verify() -> None:
    stale = sign("new-secret-0123456789", BODY, timestamp=int(time.time()) - 3600)

    assert not verify_signature("new-secret-0123456789", BODY, stale)
    assert verify_signature("new-secret-0123456789", BODY, stale, tolerance_seconds=None)
    assert not verify_signature("new-secret-0123456789", BODY, "")
    assert not verify_signature("new-secret-0123456789", BODY, "t=abc,v1=00")
    assert not verify_signature("new-secret-0123456789", BODY, f"t={int(time.time())}")


def test_a_header_with_non_ascii_characters_does_not_verify_and_does_not_raise() -> None:
    assert not verify_signature("new-secret-0123456789", BODY, f"t={int(time.time())},v1=é9")
