import json

from omnihub.core.idempotency import redact_secrets


def test_secret_fields_are_nulled_at_any_depth_and_named() -> None:
    body = json.dumps({"id": "wh_1", "secret": "s3cr3t", "nested": [{"token": "t"}, {"name": "x"}]}).encode()
    kept, names = redact_secrets(body)
    assert names == ["secret", "token"]
    assert json.loads(kept) == {"id": "wh_1", "secret": None, "nested": [{"token": None}, {"name": "x"}]}
    assert b"s3cr3t" not in kept


def test_answers_without_secrets_are_kept_as_they_are() -> None:
    body = b'{"id": "ord_1", "note": "the secret ingredient"}'
    assert redact_secrets(body) == (body, [])
    assert redact_secrets(b'{"secret": null}') == (b'{"secret": null}', [])
    assert redact_secrets(b'not json "secret"') == (b'not json "secret"', [])
