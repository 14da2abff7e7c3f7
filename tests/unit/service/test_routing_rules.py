"""Routing rules without a database: the first rule whose conditions all hold picks the team."""

from __future__ import annotations

from omnihub.service import routing_rules
from omnihub.service.rules import CHANNELS

FACTS = routing_rules.Facts(channel="whatsapp", reasons=frozenset({"late_order"}), tags=frozenset({"vip"}),
                            language="es")


def test_every_condition_given_must_hold_and_the_first_match_wins() -> None:
    rules = [{"id": "a", "channel": "email", "team": "mail"},
             {"id": "b", "channel": "whatsapp", "language": "en", "team": "english"},
             {"id": "c", "reason": "late_order", "tag": "vip", "team": "logistics"},
             {"id": "d", "team": "general"}]
    assert routing_rules.first_match(rules, FACTS)["id"] == "c"
    assert routing_rules.first_match(rules, routing_rules.Facts("sms", frozenset(), frozenset(), None))["id"] == "d"
    assert routing_rules.first_match(rules[:2], FACTS) is None
    assert routing_rules.matches({"language": "es", "team": "x"}, FACTS)
    assert not routing_rules.matches({"tag": "refund", "team": "x"}, FACTS)


def test_a_bad_condition_names_its_field() -> None:
    assert routing_rules.check_rule({"channel": "fax"}, CHANNELS)[0] == "channel"
    assert routing_rules.check_rule({"reason": "angry"}, CHANNELS)[0] == "reason"
    assert routing_rules.check_rule({"tag": "Not A Tag"}, CHANNELS)[0] == "tag"
    assert routing_rules.check_rule({"language": "fr"}, CHANNELS)[0] == "language"
    assert routing_rules.check_rule({"channel": "instagram", "reason": "complaint", "tag": "vip",
                                     "language": "en"}, CHANNELS) is None
