"""The console's pure rules: pages per role, throttling, session life, order scope and actions, languages."""

from datetime import UTC, datetime, timedelta

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from omnihub.console import rules
from omnihub.console.i18n import LOCALE_DIR, Formatter, negotiate

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def test_each_role_gets_its_own_menu_and_admin_gets_everything() -> None:
    assert rules.menu("associate") == ["counter", "orders", "customers", "inventory"]
    assert rules.menu("agent") == ["inbox", "orders", "customers", "catalog", "reply-templates", "kb"]
    assert rules.menu("marketer") == ["dashboard", "customers", "catalog", "automations", "segments", "audiences",
                                      "campaigns"]
    assert rules.menu("admin") == list(rules.MENU_ORDER)
    assert not rules.may_open("associate", "webhooks") and not rules.may_open("marketer", "kb")
    assert not rules.may("agent", "order.collect") and rules.may("associate", "order.collect")
    assert rules.may("agent", "conversation.work") and not rules.may("agent", "template.edit")
    assert not rules.may_open("associate", "inbox") and not rules.may_open("marketer", "inbox")
    assert not rules.may_open("agent", "segments") and not rules.may_open("associate", "audiences")
    assert rules.may("marketer", "segment.edit") and not rules.may("agent", "audience.export")


def test_inbox_queues_are_a_table_of_filters_and_an_unknown_tab_is_the_first() -> None:
    assert [q.key for q in rules.QUEUES] == ["mine", "unassigned", "teams", "open", "breaching", "breached",
                                            "pending", "snoozed", "resolved"]
    assert dict(rules.queue("breaching").params) == {"breaching": "soon"}
    assert dict(rules.queue("mine").params) == {"assignee": "me", "status": "open"}
    assert dict(rules.queue("unassigned").params) == {"assignee": "none", "status": "open"}
    assert rules.queue("no-such-tab") is rules.QUEUES[0]


def test_login_is_throttled_after_the_limit_until_the_oldest_counted_failure_leaves_the_window() -> None:
    throttle = rules.Throttle(window=timedelta(minutes=15), per_email=3, per_address=10)
    failures = [T0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)]

    assert rules.throttled_until(throttle, email_failures=failures[:2], address_failures=failures[:2]) is None
    assert rules.throttled_until(throttle, email_failures=failures, address_failures=failures) == \
        T0 + timedelta(minutes=15)
    many = [T0 + timedelta(seconds=i) for i in range(10)]
    assert rules.throttled_until(throttle, email_failures=[], address_failures=many) == \
        T0 + timedelta(seconds=0, minutes=15)


def test_a_session_ends_at_logout_at_its_lifetime_and_after_idling() -> None:
    policy = rules.SessionPolicy(lifetime=timedelta(hours=12), idle=timedelta(minutes=30))
    alive = dict(last_seen_at=T0, expires_at=T0 + timedelta(hours=12), ended_at=None)

    assert rules.session_alive(policy, T0 + timedelta(minutes=29), **alive)
    assert not rules.session_alive(policy, T0 + timedelta(minutes=30), **alive)
    assert not rules.session_alive(policy, T0 + timedelta(minutes=1), **{**alive, "ended_at": T0})
    assert not rules.session_alive(policy, T0 + timedelta(hours=12), **{**alive,
                                                                        "last_seen_at": T0 + timedelta(hours=11.9)})


def test_the_offered_actions_follow_the_order_state() -> None:
    assert rules.order_actions("paid", pickup_status="preparing", is_pickup=True, has_open_lines=True) == [
        "order.cancel", "order.ready"]
    assert rules.order_actions("ready_for_pickup", pickup_status="ready", is_pickup=True, has_open_lines=True) == [
        "order.cancel", "order.collect"]
    assert rules.order_actions("paid", pickup_status=None, is_pickup=False, has_open_lines=True) == [
        "order.cancel", "order.ship"]
    assert rules.order_actions("collected", pickup_status="collected", is_pickup=True, has_open_lines=False) == [
        "return.create"]


def test_passwords_are_long_and_generated_ones_pass_the_policy() -> None:
    assert rules.password_problem("short") is not None
    assert rules.password_problem(rules.generate_password()) is None
    assert rules.generate_password() != rules.generate_password()
    assert rules.email_problem("ana@tienda.es") is None and rules.email_problem("ana") is not None


def test_the_language_comes_from_accept_language_and_defaults_to_english() -> None:
    assert negotiate("es-ES,es;q=0.9,en;q=0.5") == "es"
    assert negotiate("en;q=0.4, es;q=0.8") == "es"
    assert negotiate("fr-FR, de;q=0.5") == "en"
    assert negotiate(None) == "en"


def test_money_dates_and_numbers_follow_the_locale() -> None:
    es, en = Formatter("es", "Europe/Madrid"), Formatter("en", "UTC")
    assert es.money("1234.5", "EUR") == "1.234,50\xa0€"
    assert en.money("1234.5", "EUR") == "€1,234.50"
    assert es.number(12345.5) == "12.345,5" and en.number(12345.5) == "12,345.5"
    assert es.datetime(T0, "short") == "5/1/26, 10:00" and en.datetime(T0, "short") == "1/5/26, 9:00\u202fAM"


def test_the_spanish_catalogue_is_complete_and_its_compiled_file_is_current() -> None:
    folder = LOCALE_DIR / "es" / "LC_MESSAGES"
    with open(LOCALE_DIR / "messages.pot", "rb") as f:
        template = read_po(f)
    with open(folder / "messages.po", "rb") as f:
        po = read_po(f)
    with open(folder / "messages.mo", "rb") as f:
        mo = read_mo(f)
    options = {"extensions": "jinja2.ext.i18n", "trim_blocks": "True", "lstrip_blocks": "True"}
    in_templates = {message for _, _, message, _, _ in extract_from_dir(
        LOCALE_DIR.parent, method_map=[("templates/**.html", "jinja2"), ("rules.py", "python")],
        options_map={"templates/**.html": options})}  # as babel.cfg: rules.py marks the inbox's tab labels
    wanted = {m.id for m in template if m.id}
    assert wanted == {m if isinstance(m, str) else m[0] for m in in_templates}, "new messages: run `make i18n`"
    assert wanted <= {m.id for m in po if m.id and m.string}, "untranslated messages: run `make i18n`"
    assert {m.id: m.string for m in po if m.id} == {m.id: m.string for m in mo if m.id}, "run `make i18n`"
