"""The service desk's pure rules, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from omnihub.service import rules

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
WINDOW = timedelta(hours=72)


def test_a_live_conversation_takes_every_message() -> None:
    live = rules.Candidate("cnv_live", "snoozed")
    thread = rules.Candidate("cnv_old", "resolved", NOW - timedelta(days=90))
    assert rules.place_message(live=live, thread=thread, last_resolved=None, now=NOW, reopen_window=WINDOW) == \
        rules.Placement("join", "cnv_live")


def test_a_resolved_conversation_reopens_only_within_the_window_unless_a_thread_names_it() -> None:
    recent = rules.Candidate("cnv_a", "resolved", NOW - timedelta(hours=71))
    old = rules.Candidate("cnv_a", "resolved", NOW - timedelta(hours=73))
    place = rules.place_message
    assert place(live=None, thread=None, last_resolved=recent, now=NOW, reopen_window=WINDOW) == \
        rules.Placement("reopen", "cnv_a")
    assert place(live=None, thread=None, last_resolved=old, now=NOW, reopen_window=WINDOW) == rules.Placement("open")
    assert place(live=None, thread=old, last_resolved=old, now=NOW, reopen_window=WINDOW) == \
        rules.Placement("reopen", "cnv_a")
    assert place(live=None, thread=None, last_resolved=None, now=NOW, reopen_window=WINDOW) == rules.Placement("open")


@pytest.mark.parametrize(("status", "after"), [("open", "open"), ("pending", "open"), ("snoozed", "open"),
                                               ("resolved", "open")])
def test_a_customer_writing_opens_the_conversation(status: str, after: str) -> None:
    assert rules.status_after_inbound(status) == after


def test_snooze_times() -> None:
    assert rules.check_snooze(NOW + timedelta(hours=1), NOW) is None
    assert rules.check_snooze(NOW, NOW) == "until must be in the future."
    assert rules.check_snooze(NOW + timedelta(days=400), NOW) == "until must be within a year."


@pytest.mark.parametrize(("text", "expected"), [
    ("Hola\n\nEl lun, 5 ene 2026 a las 9:00, Tienda <s@t.es> escribió:\n> antes", "Hola"),
    ("Hi\nOn Mon, Jan 5, 2026 at 9:00 AM Shop <s@t.es>\nwrote:\n> before", "Hi"),
    ("Hi there\n-- \nAna\n+34 600", "Hi there"),
    ("Vale\n\nEnviado desde mi iPhone", "Vale"),
    ("Ok\n\nFrom: Shop <s@t.es>\nSent: Monday\nTo: Ana\nSubject: x\n\nold", "Ok"),
    ("Ok\n-----Original Message-----\nold", "Ok"),
    ("Look:\n> quoted line in the middle\nmy answer", "Look:\n> quoted line in the middle\nmy answer"),
    ("> all quoted\n> nothing new", "> all quoted\n> nothing new"),
    ("Line1\r\nLine2\r\n", "Line1\nLine2"),
])
def test_email_trimming(text: str, expected: str) -> None:
    assert rules.trim_email(text) == expected


def test_reply_tokens_and_message_ids() -> None:
    assert rules.reply_token(["Ana <x@y.es>", "support+ab12cd34ef@tienda.es"], "support@tienda.es") == "ab12cd34ef"
    assert rules.reply_token(["SUPPORT+AB12CD34EF@Tienda.es"], "support@tienda.es") == "ab12cd34ef"
    assert rules.reply_token(["support+ab12cd34ef@other.es"], "support@tienda.es") is None
    assert rules.reply_token(["support+x@tienda.es"], "support@tienda.es") is None
    assert rules.message_ids("<a@b> <c@d>\r\n <e@f>") == ["a@b", "c@d", "e@f"]


def test_the_whatsapp_window_and_the_reply_channel() -> None:
    assert rules.whatsapp_window_open(NOW - timedelta(hours=23, minutes=59), NOW)
    assert not rules.whatsapp_window_open(NOW - timedelta(hours=24), NOW)
    assert not rules.whatsapp_window_open(None, NOW)
    assert rules.reply_channel(None, "instagram", {"instagram", "email"}) == "instagram"
    assert rules.reply_channel("email", "instagram", {"instagram", "email"}) == "email"
    assert rules.reply_channel(None, "webchat", {"email"}) is None
    assert rules.reply_channel("whatsapp", "email", {"email"}) is None


def test_backoff_doubles_and_is_capped() -> None:
    assert [rules.backoff_seconds(n, 5) for n in (1, 2, 3)] == [5, 10, 20]
    assert rules.backoff_seconds(30, 5) == 3600


def test_whatsapp_payloads_as_meta_documents_them() -> None:
    payload = {"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{"field": "messages",
        "value": {"messaging_product": "whatsapp", "metadata": {"phone_number_id": "PN"},
                  "contacts": [{"profile": {"name": "Ana"}, "wa_id": "34600"}],
                  "messages": [
                      {"from": "34600", "id": "wamid.1", "timestamp": "1767603600", "type": "text",
                       "text": {"body": "hola"}, "context": {"from": "1555", "id": "wamid.OUT"}},
                      {"from": "34600", "id": "wamid.2", "timestamp": "1767603601", "type": "image",
                       "image": {"caption": "foto", "mime_type": "image/jpeg", "sha256": "abc", "id": "MEDIA1"}},
                      {"from": "34600", "id": "wamid.3", "timestamp": "1767603602", "type": "reaction",
                       "reaction": {"message_id": "wamid.OUT", "emoji": "👍"}}],
                  "statuses": [{"id": "wamid.OUT", "status": "failed", "timestamp": "1", "recipient_id": "34600",
                                "errors": [{"code": 131047, "title": "Re-engagement message"}]}]}}]}]}
    kind, messages, statuses = rules.parse_meta(payload, NOW)
    assert kind == "whatsapp" and rules.meta_accounts(payload) == {"PN"}
    assert [(m.external_id, m.sender, m.text, m.name, m.reply_to) for m in messages] == [
        ("wamid.1", "34600", "hola", "Ana", "wamid.OUT"), ("wamid.2", "34600", "foto", "Ana", None)]
    assert messages[0].at == NOW
    assert messages[1].attachments == [{"type": "image", "id": "MEDIA1", "mime_type": "image/jpeg", "sha256": "abc"}]
    assert statuses == [rules.MetaStatus("whatsapp", "PN", "wamid.OUT", "failed", "Re-engagement message")]


def test_instagram_payloads_skip_echoes_and_read_receipts_become_statuses() -> None:
    payload = {"object": "instagram", "entry": [{"id": "IG1", "time": 1, "messaging": [
        {"sender": {"id": "U1"}, "recipient": {"id": "IG1"}, "timestamp": 1767603600000,
         "message": {"mid": "m1", "text": "hola", "reply_to": {"mid": "m0"}}},
        {"sender": {"id": "IG1"}, "recipient": {"id": "U1"}, "timestamp": 1767603600001,
         "message": {"mid": "m2", "text": "echo", "is_echo": True}},
        {"sender": {"id": "U1"}, "recipient": {"id": "IG1"}, "timestamp": 1767603600002, "read": {"mid": "m9"}}]}]}
    kind, messages, statuses = rules.parse_meta(payload, NOW)
    assert kind == "instagram" and rules.meta_accounts(payload) == {"IG1"}
    assert [(m.external_id, m.sender, m.text, m.reply_to, m.at) for m in messages] == [("m1", "U1", "hola", "m0", NOW)]
    assert statuses == [rules.MetaStatus("instagram", "IG1", "m9", "read")]
    assert rules.parse_meta({"object": "user"}, NOW) == ("", [], [])
    assert rules.parse_meta({"object": "page"}, NOW) == ("facebook", [], [])
    assert rules.parse_meta([1, 2], NOW) == ("", [], [])
    assert rules.parse_meta({"object": "instagram", "entry": "nope"}, NOW) == ("instagram", [], [])


def test_statuses_only_move_forward() -> None:
    assert rules.status_rank("read") > rules.status_rank("delivered") > rules.status_rank("sent")


def test_templates_render_strictly_in_a_sandbox() -> None:
    context = rules.template_context({"id": "cus_1", "name": "Ana García"}, {"number": "W-1", "status": "paid"}, {})
    assert rules.render("{{ customer.first_name }}: {{ order.number }}", context) == "Ana: W-1"
    with pytest.raises(rules.TemplateProblem) as missing:
        rules.render("{{ customer.first_name }}", rules.template_context({"id": "cus_1", "name": None}, None, {}))
    assert missing.value.code == "template_variable_missing"
    with pytest.raises(rules.TemplateProblem) as unsafe:
        rules.render("{{ customer.__class__ }}", context)
    assert unsafe.value.code == "template_not_allowed"
    with pytest.raises(rules.TemplateProblem) as syntax:
        rules.check_template("{% if %}")
    assert syntax.value.code == "invalid_template"
    assert rules.template_context({"name": "Ana"}, {"number": "1"}, {"order": {"number": "2"}, "x": 1}) == {
        "customer": {"name": "Ana", "first_name": "Ana"}, "order": {"number": "2"}, "x": 1}
    with pytest.raises(rules.TemplateProblem):
        rules.check_variables({"__globals__": 1})


def test_a_reply_address_from_identity_hints() -> None:
    assert rules.address_from("email", {"email": "a@b.es", "phone": "600"}) == "a@b.es"
    assert rules.address_from("whatsapp", {"email": "a@b.es", "phone": "+34600"}) == "+34600"
    assert rules.address_from("instagram", {"kind": "external", "value": "99", "system": "instagram"}) == "99"
    assert rules.address_from("instagram", [{"kind": "handle", "value": "@ana", "network": "instagram"}]) == "@ana"
    assert rules.address_from("webchat", {"email": "a@b.es"}) is None
    assert rules.whatsapp_to("+34 600-111") == "34600111"


def test_priority_reasons_read_the_orders_and_the_words() -> None:
    orders = [
        {"number": "W-1", "status": "shipped", "promised_at": NOW - timedelta(hours=1)},
        {"number": "W-2", "status": "delivered", "promised_at": NOW - timedelta(days=3)},
        {"number": "W-3", "status": "paid", "promised_at": (NOW + timedelta(hours=1)).isoformat()},
        {"number": "W-4", "status": "cancelled", "pickup": {"status": "expired"},
         "updated_at": NOW - timedelta(days=2)},
        {"number": "W-5", "status": "cancelled", "pickup": {"status": "expired"},
         "updated_at": NOW - timedelta(days=60)},
    ]
    reasons = rules.priority_reasons(orders, "Quiero un REEMBOLSO ya", NOW)
    assert [(r["rule"], r.get("order")) for r in reasons] == [
        ("late_order", "W-1"), ("pickup_expired", "W-4"), ("refund_asked", None)]
    assert rules.priority_of(reasons) == "urgent"
    assert rules.priority_of(reasons[:1]) == "high" and rules.priority_of([]) == "normal"
    assert rules.priority_reasons([], "El timón del barco", NOW) == []  # "timo" only as a word
    assert [r["rule"] for r in rules.priority_reasons([], "This is the WORST service, unacceptable", NOW)] == [
        "complaint"]
    merged = rules.merge_reasons(reasons[:2], reasons[1:])
    assert [r["rule"] for r in merged] == ["late_order", "pickup_expired", "refund_asked"]
    assert rules.is_complaint([{"rule": "complaint"}]) and not rules.is_complaint(reasons)


@pytest.mark.parametrize("payload", [
    {"object": "whatsapp_business_account", "entry": ["x", {"changes": ["y", {"field": "messages", "value": {
        "metadata": "nope", "contacts": [{"profile": "n", "wa_id": 1}],
        "messages": [{"from": "1", "id": "w", "type": ["list"], "context": "c", "timestamp": "1e30"},
                     {"from": "1", "id": "w" * 301, "type": "text", "text": {"body": "long id"}},
                     {"from": "1", "id": "w2", "type": "interactive", "interactive": {"button_reply": "b"}}],
        "statuses": [{"id": {"x": 1}, "status": "read"}, {"id": "s", "status": "failed", "errors": ["e"]}]}}]}]},
    {"object": "instagram", "entry": [{"id": {"x": 1}, "messaging": [
        "x", {"sender": "s", "message": "m"}, {"sender": {"id": "1"}, "timestamp": 1e40,
                                               "message": {"mid": "m1", "reply_to": "r", "attachments": ["a", {}]}},
        {"read": {"mid": ["x"]}}, {"delivery": {"mids": [1, None, "ok"]}}]}]},
])
def test_odd_payloads_never_break_parsing(payload: dict) -> None:
    kind, messages, statuses = rules.parse_meta(payload, NOW)
    assert all(len(m.external_id) <= 300 and m.at is not None for m in messages)
    rules.meta_accounts(payload)
    assert kind in ("whatsapp", "instagram") and isinstance(statuses, list)


def test_a_high_value_customer_is_a_reason_only_when_the_shop_sets_a_threshold() -> None:
    from decimal import Decimal

    assert rules.priority_reasons([], "Hola", NOW, lifetime_value=Decimal("2150.00")) == []  # no threshold: off
    below = rules.priority_reasons([], "Hola", NOW, lifetime_value=Decimal("999.99"), high_value_from=Decimal(1000))
    [vip] = rules.priority_reasons([], "Hola", NOW, lifetime_value=Decimal("1000.00"), high_value_from=Decimal(1000))
    assert below == [] and vip["rule"] == "high_value" and "1000.00" in vip["why"]


def test_messenger_payloads_messages_postbacks_and_deliveries() -> None:
    payload = {"object": "page", "entry": [{"id": "PAGE1", "time": 1, "messaging": [
        {"sender": {"id": "PSID1"}, "recipient": {"id": "PAGE1"}, "timestamp": 1767603600000,
         "message": {"mid": "m.1", "text": "hola", "attachments": [
             {"type": "image", "payload": {"url": "https://cdn.example/a.jpg"}}, {"type": "fallback"}]}},
        {"sender": {"id": "PAGE1"}, "recipient": {"id": "PSID1"}, "timestamp": 1767603600001,
         "message": {"mid": "m.2", "text": "echo", "is_echo": True}},
        {"sender": {"id": "PSID1"}, "recipient": {"id": "PAGE1"}, "timestamp": 1767603600002,
         "postback": {"mid": "m.3", "title": "Hablar con una persona", "payload": "AGENT"}},
        {"sender": {"id": "PSID1"}, "recipient": {"id": "PAGE1"}, "timestamp": 1767603600003,
         "delivery": {"mids": ["m.OUT1"], "watermark": 1767603600003}},
        {"sender": {"id": "PSID1"}, "recipient": {"id": "PAGE1"}, "timestamp": 1767603600004,
         "read": {"watermark": 1767603600004}}]}]}
    kind, messages, statuses = rules.parse_meta(payload, NOW)
    assert kind == "facebook" and rules.meta_accounts(payload) == {"PAGE1"}
    assert [(m.kind, m.account_id, m.external_id, m.sender, m.text) for m in messages] == [
        ("facebook", "PAGE1", "m.1", "PSID1", "hola"), ("facebook", "PAGE1", "m.3", "PSID1", "Hablar con una persona")]
    assert messages[0].attachments == [{"type": "image", "url": "https://cdn.example/a.jpg"}, {"type": "fallback"}]
    assert statuses == [rules.MetaStatus("facebook", "PAGE1", "m.OUT1", "delivered")]  # a watermark names no message
