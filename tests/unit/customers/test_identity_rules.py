from datetime import UTC, datetime, timedelta

import pytest

from omnihub.core.errors import ValidationFailed
from omnihub.customers import rules
from omnihub.customers.rules import Identity, ProfileFacts

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def email(value: str, verified: bool = True) -> Identity:
    return Identity("email", value, "", verified)


def phone(value: str) -> Identity:
    return Identity("phone", value, "", True)


ANON = Identity("anonymous_id", "dev-1")


# ---- normalisation ----------------------------------------------------------------------------------------


def test_email_is_trimmed_and_lower_cased() -> None:
    assert rules.normalise_identity({"kind": "email", "value": "  Ana@Correo.ES "}, None, "f").value == "ana@correo.es"


@pytest.mark.parametrize(("raw", "region", "expected"), [
    ("612 345 678", "ES", "+34612345678"),
    ("+34 612-345-678", None, "+34612345678"),
    ("0034612345678", "US", "+34612345678"),
    ("(202) 555-0143", "US", "+12025550143"),
])
def test_phones_become_e164_in_the_channel_region(raw: str, region: str | None, expected: str) -> None:
    assert rules.normalise_identity({"kind": "phone", "value": raw}, region, "f").value == expected


def test_a_national_phone_without_a_region_is_refused_naming_the_field() -> None:
    with pytest.raises(ValidationFailed) as error:
        rules.normalise_identity({"kind": "phone", "value": "612345678"}, None, "3.identity")

    assert error.value.code == "invalid_identity"
    assert error.value.field == "3.identity.value"


@pytest.mark.parametrize("raw", ["12", "not a phone", "+99 1"])
def test_junk_phones_are_refused(raw: str) -> None:
    with pytest.raises(ValidationFailed):
        rules.normalise_identity({"kind": "phone", "value": raw}, "ES", "f")


def test_handles_lose_the_at_and_case_and_keep_their_network() -> None:
    handle = rules.normalise_identity({"kind": "handle", "value": "@Ana_G", "network": "Instagram"}, None, "f")

    assert (handle.kind, handle.namespace, handle.value) == ("handle", "instagram", "ana_g")
    assert handle.key == "handle:instagram:ana_g"


def test_a_whatsapp_handle_is_matched_as_the_phone_number() -> None:
    identity = rules.normalise_identity({"kind": "handle", "value": "612345678", "network": "whatsapp"}, "ES", "f")

    assert identity == phone("+34612345678")


def test_loyalty_cards_ignore_spaces_and_case_and_external_ids_need_a_system() -> None:
    assert rules.normalise_identity({"kind": "loyalty", "value": "ab 12 3"}, None, "f").value == "AB123"
    assert rules.normalise_identity({"kind": "external", "value": "987", "system": "Shopify"}, None, "f").key == \
        "external:shopify:987"
    with pytest.raises(ValidationFailed):
        rules.normalise_identity({"kind": "external", "value": "987"}, None, "f")


def test_shorthand_becomes_typed_identities_without_repeats() -> None:
    parsed = rules.parse_identities(
        {"email": "Ana@correo.es", "phone": "612345678", "anonymous_id": "dev-1", "verified": True}, "ES", "identity")

    assert parsed == [email("ana@correo.es"), phone("+34612345678"), ANON]
    assert rules.parse_identities([{"kind": "email", "value": "a@b.es"}, {"kind": "email", "value": "A@B.ES"}],
                                  None, "i") == [email("a@b.es", verified=False)]


def test_unknown_shorthand_fields_are_refused_by_name() -> None:
    with pytest.raises(ValidationFailed) as error:
        rules.parse_identities({"mail": "a@b.es"}, None, "0.identity")

    assert error.value.field == "0.identity.mail"


# ---- trust and blocking -------------------------------------------------------------------------------------


def test_trust_per_type() -> None:
    assert [i.trust for i in (email("a@b.es"), email("a@b.es", verified=False), phone("+34612345678"),
                              Identity("loyalty", "L1"), Identity("external", "1", "erp"), ANON)] == [
        "strong", "weak", "strong", "strong", "strong", "weak"]


@pytest.mark.parametrize(("identity", "blocked"), [
    (email("test@test.com"), True),
    (email("shop@example.com"), True),
    (email("ana@ana.test"), True),
    (email("ana@correo.es"), False),
    (phone("+34600000000"), True),
    (phone("+34123456789"), True),
    (phone("+34612345678"), False),
    (ANON, False),
])
def test_default_block_list(identity: Identity, blocked: bool) -> None:
    assert rules.is_default_blocked(identity) is blocked


def test_identity_hash_is_stable_and_does_not_contain_the_value() -> None:
    digest = rules.identity_hash("email::ana@correo.es")

    assert digest == rules.identity_hash("email::ana@correo.es")
    assert "ana" not in digest and len(digest) == 64


# ---- survivor and conflicts ---------------------------------------------------------------------------------


def test_survivor_is_an_existing_known_person_then_the_oldest_then_the_smallest_id() -> None:
    anonymous_old = ProfileFacts("cus_a", T0, [ANON])
    known_new = ProfileFacts("cus_b", T0 + timedelta(days=1), [email("a@b.es")])
    known_old = ProfileFacts("cus_c", T0 + timedelta(hours=1), [phone("+34612345678")])
    twin = ProfileFacts("cus_0", T0 + timedelta(hours=1), [phone("+34612345679")])
    fresh = ProfileFacts("new:0", None, [email("c@d.es")])

    order = rules.choose_survivor([fresh, anonymous_old, known_new, known_old, twin])

    assert [p.id for p in order] == ["cus_0", "cus_c", "cus_b", "cus_a", "new:0"]


def test_conflicts_are_different_verified_emails_loyalty_cards_or_external_ids_of_one_system() -> None:
    a = ProfileFacts("a", T0, [email("a@b.es"), Identity("loyalty", "L1"), Identity("external", "1", "shopify")])
    b = ProfileFacts("b", T0, [email("c@d.es"), Identity("loyalty", "L2"), Identity("external", "2", "shopify")])
    c = ProfileFacts("c", T0, [email("c@d.es", verified=False), Identity("external", "9", "erp")])

    assert rules.find_conflicts(a, b) == ["different_verified_emails", "different_loyalty_cards",
                                          "different_shopify_ids"]
    assert rules.find_conflicts(a, c) == []


# ---- planning a batch --------------------------------------------------------------------------------------


def test_new_people_are_created_once_per_batch_and_repeats_attach() -> None:
    plan = rules.plan([[email("a@b.es")], [email("a@b.es"), phone("+34612345678")], [ANON]], {}, {})

    assert plan.assignments == ["new:0", "new:0", "new:1"]
    assert plan.new_profiles == ["new:0", "new:1"]
    assert [(i.kind, ref) for i, ref in plan.new_identities] == [("email", "new:0"), ("phone", "new:0"),
                                                                 ("anonymous_id", "new:1")]


def test_a_strong_link_between_two_stored_profiles_asks_for_facts_then_merges_into_the_older() -> None:
    known = {email("a@b.es").key: ("cus_2", True), phone("+34612345678").key: ("cus_1", True)}
    items = [[email("a@b.es"), phone("+34612345678")]]
    facts = {"cus_1": ProfileFacts("cus_1", T0, [phone("+34612345678")]),
             "cus_2": ProfileFacts("cus_2", T0 + timedelta(days=1), [email("a@b.es")])}

    first = rules.plan(items, known, {})
    plan = rules.plan(items, known, facts)

    assert first.missing_facts == {"cus_1", "cus_2"}
    assert plan.missing_facts == set()
    assert [(m.survivor, m.merged) for m in plan.merges] == [("cus_1", "cus_2")]
    assert plan.assignments == ["cus_1"]
    assert plan.suggestions == []


def test_a_conflicting_strong_link_is_a_suggestion_not_a_merge() -> None:
    known = {phone("+34612345678").key: ("cus_1", True), Identity("loyalty", "L1").key: ("cus_2", True)}
    facts = {"cus_1": ProfileFacts("cus_1", T0, [phone("+34612345678"), email("a@b.es")]),
             "cus_2": ProfileFacts("cus_2", T0, [Identity("loyalty", "L1"), email("c@d.es")])}

    plan = rules.plan([[phone("+34612345678"), Identity("loyalty", "L1")]], known, facts)

    assert plan.merges == []
    assert [(a, b, reason) for a, b, reason, _ in plan.suggestions] == [("cus_1", "cus_2", "conflict")]


def test_a_weak_link_attaches_to_the_strong_match_and_proposes_the_other() -> None:
    known = {ANON.key: ("cus_anon", False), phone("+34612345678").key: ("cus_known", True)}
    facts = {"cus_anon": ProfileFacts("cus_anon", T0, [ANON]),
             "cus_known": ProfileFacts("cus_known", T0 + timedelta(days=1), [phone("+34612345678")])}

    plan = rules.plan([[ANON, phone("+34612345678")]], known, facts)

    assert plan.assignments == ["cus_known"]
    assert plan.merges == []
    assert [(a, b, reason) for a, b, reason, _ in plan.suggestions] == [("cus_anon", "cus_known", "weak_link")]


def test_a_profile_born_in_the_batch_folds_into_a_stored_one_without_a_merge_record() -> None:
    known = {email("a@b.es").key: ("cus_1", True)}
    facts = {"cus_1": ProfileFacts("cus_1", T0, [email("a@b.es")])}

    plan = rules.plan([[phone("+34612345678")], [email("a@b.es"), phone("+34612345678")]], known, facts)

    assert plan.assignments == ["cus_1", "cus_1"]
    assert plan.new_profiles == []
    assert plan.merges == []
    assert [(i.kind, ref) for i, ref in plan.new_identities] == [("phone", "cus_1")]


def test_a_later_verified_sighting_upgrades_a_stored_unverified_email() -> None:
    known = {email("a@b.es").key: ("cus_1", False)}

    plan = rules.plan([[email("a@b.es", verified=True)]], known, {})

    assert plan.verify == [email("a@b.es").key]


def test_items_without_identities_land_nowhere() -> None:
    assert rules.plan([[]], {}, {}).assignments == [None]


# ---- consent and interests ---------------------------------------------------------------------------------


def test_the_latest_choice_by_time_made_wins_whatever_the_arrival_order() -> None:
    records = [{"id": 1, "purpose": "sms", "granted": True, "at": T0 + timedelta(days=2)},
               {"id": 2, "purpose": "sms", "granted": False, "at": T0 + timedelta(days=1)},
               {"id": 3, "purpose": "email_marketing", "granted": False, "at": T0}]

    current = rules.current_consents(records)

    assert {p: r["granted"] for p, r in current.items()} == {"sms": True, "email_marketing": False}


def test_interest_scores_add_up_and_halve_every_half_life() -> None:
    stored = rules.epoch_score(1.0, T0) + rules.epoch_score(2.0, T0)

    assert rules.decayed_score(stored, T0) == pytest.approx(3.0)
    assert rules.decayed_score(stored, T0 + timedelta(days=rules.TAG_HALF_LIFE_DAYS)) == pytest.approx(1.5)


def test_interest_tags_come_from_categories_of_weighted_event_types() -> None:
    assert rules.interest_tags("product_viewed", {"category": "Running Shoes"}) == [("running-shoes", 1.0)]
    assert rules.interest_tags("order_placed", {"categories": ["Boots", "boots", "Kids"]}) == [
        ("boots", 5.0), ("kids", 5.0)]
    assert rules.interest_tags("page_viewed", {"category": "Boots"}) == []
    assert rules.tag_slug("  !!  ") is None
