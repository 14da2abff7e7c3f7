"""messaging.rules.redact: secrets masked wherever they appear in a message."""

from omnihub.messaging.rules import MASK, redact


def test_every_secret_is_masked_and_nothing_else() -> None:
    text = "Order WEB-000123 is ready. Pickup code: 012345. Code again: 012345."
    assert redact(text, ["012345"]) == f"Order WEB-000123 is ready. Pickup code: {MASK}. Code again: {MASK}."
    assert redact(text, []) == text
    assert redact(text, [""]) == text
