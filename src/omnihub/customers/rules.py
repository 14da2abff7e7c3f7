"""Pure customer logic, no I/O: identity normalisation, trust, blocking, matching, survivor choice, merge
planning for a batch, consent precedence and decaying interest scores. Unit-tested without a database."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import phonenumbers

from omnihub.customers import errors

KINDS = ("email", "phone", "handle", "loyalty", "anonymous_id", "external")
SHORTHAND = ("email", "phone", "handle", "loyalty", "anonymous_id")
PURPOSES = ("email_marketing", "sms", "whatsapp", "ads_audiences", "profiling")
STANDARD_EVENT_TYPES = frozenset({
    "page_viewed", "product_viewed", "searched", "cart_updated", "identified", "store_visit",
    "survey_answered", "message_opened", "message_clicked",
})
EVENT_TYPE_RE = re.compile(r"^[a-z][a-z0-9_.]{0,63}$")
MAX_VALUE = 320

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_NAMESPACE_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")

# Values that many different people type in: they must never join two profiles.
BLOCKED_EMAILS = frozenset({
    "test@test.com", "test@example.com", "a@a.com", "no@email.com", "none@none.com", "email@email.com",
    "noemail@noemail.com", "noreply@noreply.com", "nomail@nomail.com", "asdf@asdf.com",
})
BLOCKED_EMAIL_DOMAINS = frozenset({"example.com", "example.org", "example.net"})
RESERVED_TLDS = frozenset({"test", "example", "invalid", "localhost"})  # RFC 2606


@dataclass(frozen=True, slots=True)
class Identity:
    """A normalised identifier. `namespace` is the network of a handle or the system of an external id."""

    kind: str
    value: str
    namespace: str = ""
    verified: bool = False

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.namespace}:{self.value}"

    @property
    def strong(self) -> bool:
        """Strong identifiers prove the person: they may merge profiles. Weak ones only attach or propose."""
        if self.kind == "email":
            return self.verified
        return self.kind != "anonymous_id"

    @property
    def trust(self) -> str:
        return "strong" if self.strong else "weak"


def identity_hash(key: str) -> str:
    """What we keep of an erased or blocked identifier: enough to recognise it, not to read it."""
    return hashlib.sha256(f"omnihub-identity:{key}".encode()).hexdigest()


# ---- normalisation ----------------------------------------------------------------------------------------


def normalise_email(value: str, field_: str) -> str:
    email = value.strip().lower()
    if len(email) > MAX_VALUE or not _EMAIL_RE.match(email):
        raise errors.invalid_identity(field_, f"'{value}' is not an e-mail address.")
    return email


@lru_cache(maxsize=200_000)
def _e164(value: str, region: str | None) -> str | None:
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_phone(value: str, region: str | None, field_: str) -> str:
    """E.164, reading national numbers in the channel's country."""
    raw = value.strip()
    if not raw.startswith("+") and not raw.startswith("00") and not region:
        raise errors.invalid_identity(
            field_, f"'{value}' has no country code and the channel has no country to read it in."
        )
    if raw.startswith("00"):
        raw = "+" + raw[2:]
    e164 = _e164(raw, region)
    if e164 is None:
        raise errors.invalid_identity(field_, f"'{value}' is not a phone number.")
    return e164


def normalise_namespace(value: Any, field_: str) -> str:
    namespace = str(value or "").strip().lower()
    if namespace and not _NAMESPACE_RE.match(namespace):
        raise errors.invalid_identity(field_, f"'{value}' is not a network or system name.")
    return namespace


def normalise_identity(raw: Mapping[str, Any], region: str | None, field_: str) -> Identity:
    """One typed identity `{kind, value, network?, system?, verified?}` to its matching form."""
    kind = raw.get("kind")
    value = raw.get("value")
    if kind not in KINDS:
        raise errors.invalid_identity(f"{field_}.kind", f"kind must be one of: {', '.join(KINDS)}.")
    if not isinstance(value, str | int) or isinstance(value, bool) or not str(value).strip():
        raise errors.invalid_identity(f"{field_}.value", "value must be a non-empty string.")
    value = str(value)
    if len(value) > MAX_VALUE:
        raise errors.invalid_identity(f"{field_}.value", f"value is longer than {MAX_VALUE} characters.")
    verified = raw.get("verified", False) is True
    if kind == "email":
        return Identity("email", normalise_email(value, f"{field_}.value"), "", verified)
    if kind == "phone":
        return Identity("phone", normalise_phone(value, region, f"{field_}.value"), "", True)
    if kind == "handle":
        network = normalise_namespace(raw.get("network"), f"{field_}.network")
        if network == "whatsapp":  # a WhatsApp handle is a phone number: match it with the phone
            return Identity("phone", normalise_phone(value, region, f"{field_}.value"), "", True)
        handle = value.strip().lstrip("@").lower()
        if not handle:
            raise errors.invalid_identity(f"{field_}.value", "A handle needs more than '@'.")
        return Identity("handle", handle, network, True)
    if kind == "loyalty":
        return Identity("loyalty", re.sub(r"\s+", "", value).upper(), "", True)
    if kind == "external":
        system = normalise_namespace(raw.get("system"), f"{field_}.system")
        if not system:
            raise errors.invalid_identity(f"{field_}.system", "An external id needs its system (shopify, erp…).")
        return Identity("external", value.strip(), system, True)
    return Identity("anonymous_id", value.strip(), "", False)


def identity_hints(hints: Any, field_: str) -> list[dict[str, Any]]:
    """Accept the typed list, one typed object, or the shorthand `{email, phone, handle, loyalty, anonymous_id}`."""
    if hints is None:
        return []
    if isinstance(hints, list):
        result = []
        for i, item in enumerate(hints):
            if not isinstance(item, dict) or "kind" not in item:
                raise errors.invalid_identity(f"{field_}.{i}", "Each identity is an object with kind and value.")
            result.append(item)
        return result
    if not isinstance(hints, dict):
        raise errors.invalid_identity(field_, "identity is an object or a list of identities.")
    if "kind" in hints:
        return [hints]
    unknown = sorted(set(hints) - {*SHORTHAND, "network", "verified"})
    if unknown:
        raise errors.invalid_identity(
            f"{field_}.{unknown[0]}", f"Unknown identity field '{unknown[0]}'; use {', '.join(SHORTHAND)}."
        )
    result = []
    for kind in SHORTHAND:
        value = hints.get(kind)
        if value is None:
            continue
        item: dict[str, Any] = {"kind": kind, "value": value, "_field": f"{field_}.{kind}"}
        if kind == "handle":
            item["network"] = hints.get("network")
        if kind == "email":
            item["verified"] = hints.get("verified", False)
        result.append(item)
    return result


def parse_identities(hints: Any, region: str | None, field_: str) -> list[Identity]:
    """Hints to normalised identities, without repeats, in the order given."""
    seen: dict[str, Identity] = {}
    for i, raw in enumerate(identity_hints(hints, field_)):
        where = raw.get("_field") or (f"{field_}.{i}" if isinstance(hints, list) else field_)
        identity = normalise_identity(raw, region, where)
        previous = seen.get(identity.key)
        if previous is None or (identity.verified and not previous.verified):
            seen[identity.key] = identity
    return list(seen.values())


def is_default_blocked(identity: Identity) -> bool:
    """The built-in block list: placeholder e-mails and dummy phone numbers."""
    if identity.kind == "email":
        if identity.value in BLOCKED_EMAILS:
            return True
        domain = identity.value.rpartition("@")[2]
        return domain in BLOCKED_EMAIL_DOMAINS or domain.rpartition(".")[2] in RESERVED_TLDS
    if identity.kind == "phone":
        digits = identity.value.lstrip("+")
        return len(set(digits[-8:])) == 1 or digits[-9:] in ("123456789", "987654321")
    return False


# ---- matching and merging -----------------------------------------------------------------------------------


@dataclass
class ProfileFacts:
    """What the merge rules need to know about a profile."""

    id: str
    created_at: datetime | None  # None: created in the batch being planned
    identities: list[Identity] = field(default_factory=list)

    @property
    def is_new(self) -> bool:
        return self.created_at is None

    @property
    def known_person(self) -> bool:
        """Someone we could contact or recognise, as opposed to a browsing device."""
        return any(i.kind != "anonymous_id" for i in self.identities)


def choose_survivor(profiles: Sequence[ProfileFacts]) -> list[ProfileFacts]:
    """Deterministic order, survivor first: existing before new, a known person before an anonymous one,
    then the oldest profile (its id has been in use longest), then the smallest id."""
    far_future = datetime.max.replace(tzinfo=UTC)
    return sorted(
        profiles,
        key=lambda p: (p.is_new, not p.known_person, p.created_at or far_future, p.id),
    )


def find_conflicts(a: ProfileFacts, b: ProfileFacts) -> list[str]:
    """Evidence that two profiles are different people even though something links them."""
    conflicts = []

    def values(p: ProfileFacts, kind: str, namespace: str | None = None, verified: bool = False) -> set[str]:
        return {
            i.value for i in p.identities
            if i.kind == kind and (namespace is None or i.namespace == namespace) and (i.verified or not verified)
        }

    ea, eb = values(a, "email", verified=True), values(b, "email", verified=True)
    if ea and eb and not ea & eb:
        conflicts.append("different_verified_emails")
    la, lb = values(a, "loyalty"), values(b, "loyalty")
    if la and lb and not la & lb:
        conflicts.append("different_loyalty_cards")
    systems = {i.namespace for i in a.identities if i.kind == "external"}
    for system in sorted(systems & {i.namespace for i in b.identities if i.kind == "external"}):
        xa, xb = values(a, "external", system), values(b, "external", system)
        if not xa & xb:
            conflicts.append(f"different_{system}_ids")
    return conflicts


@dataclass(frozen=True)
class MergeStep:
    survivor: str
    merged: str
    evidence: dict[str, Any]


@dataclass
class Plan:
    """What a batch does to the identity graph. Refs are customer ids or `new:N` placeholders."""

    assignments: list[str | None]
    new_profiles: list[str]
    new_identities: list[tuple[Identity, str]]
    verify: list[str]
    merges: list[MergeStep]
    suggestions: list[tuple[str, str, str, dict[str, Any]]]
    missing_facts: set[str]


NEW = "new:"


def plan(
    items: Sequence[Sequence[Identity]],
    known: Mapping[str, tuple[str, bool]],
    facts: Mapping[str, ProfileFacts],
) -> Plan:
    """Resolve a batch in order, as if each item arrived alone.

    `known` maps identity keys already stored to (customer id, verified). Facts are needed only for
    profiles that an item links to another one; when some are missing the plan lists them in
    `missing_facts` and the caller loads them and plans again.
    """
    parent: dict[str, str] = {}
    owner: dict[str, str] = {k: v[0] for k, v in known.items()}
    added: dict[str, list[Identity]] = {}
    new_facts: dict[str, ProfileFacts] = {}
    missing: set[str] = set()
    new_ids: dict[str, tuple[Identity, str]] = {}
    verify: dict[str, None] = {}
    merges: list[MergeStep] = []
    suggestions: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
    assignments: list[str | None] = []

    def find(ref: str) -> str:
        while ref in parent:
            ref = parent[ref]
        return ref

    def facts_of(ref: str) -> ProfileFacts | None:
        if ref in new_facts:
            return new_facts[ref]
        base = facts.get(ref)
        if base is None:
            missing.add(ref)
            return None
        return ProfileFacts(base.id, base.created_at, [*base.identities, *added.get(ref, [])])

    def suggest(a: str, b: str, reason: str, evidence: dict[str, Any]) -> None:
        pair = (min(a, b), max(a, b))
        suggestions.setdefault(pair, (reason, evidence))

    for index, identities in enumerate(items):
        if not identities:
            assignments.append(None)
            continue
        strong_owners: list[str] = []
        weak_owners: list[str] = []
        for identity in identities:
            ref = owner.get(identity.key)
            if ref is None:
                continue
            ref = find(ref)
            target = strong_owners if identity.strong else weak_owners
            if ref not in target:
                target.append(ref)
        weak_only = [r for r in weak_owners if r not in strong_owners]
        owners = strong_owners + weak_only
        if not owners:
            ref = f"{NEW}{len(new_facts)}"
            new_facts[ref] = ProfileFacts(ref, None, [])
        elif len(owners) == 1:
            ref = owners[0]
        else:
            profiles = {r: facts_of(r) for r in owners}
            known_profiles = {r: p for r, p in profiles.items() if p is not None}
            if len(known_profiles) < len(profiles):
                ref = owners[0]  # the caller plans again once it has the facts
            else:
                linked_by = sorted({i.kind for i in identities if i.key in owner})
                if len(strong_owners) >= 2:
                    ordered = choose_survivor([known_profiles[r] for r in strong_owners])
                    ref = ordered[0].id
                    for other in ordered[1:]:
                        conflicts = find_conflicts(facts_of(ref) or ordered[0], other)
                        if conflicts:
                            suggest(ref, other.id, "conflict", {"conflicts": conflicts, "linked_by": linked_by})
                            continue
                        parent[other.id] = ref
                        gained = new_facts[ref].identities if ref in new_facts else added.setdefault(ref, [])
                        gained.extend(other.identities)
                        if not other.id.startswith(NEW):  # a profile nobody has seen yet needs no audit
                            merges.append(MergeStep(ref, other.id, {"linked_by": linked_by, "item": index}))
                elif strong_owners:
                    ref = strong_owners[0]
                else:
                    ref = choose_survivor(list(known_profiles.values()))[0].id
                for weak in weak_only:
                    if find(weak) != ref:
                        suggest(ref, weak, "weak_link", {"linked_by": linked_by})
        for identity in identities:
            current = owner.get(identity.key)
            if current is None:
                owner[identity.key] = ref
                new_ids[identity.key] = (identity, ref)
                (new_facts[ref].identities if ref in new_facts else added.setdefault(ref, [])).append(identity)
            elif identity.verified:
                if identity.key in new_ids and not new_ids[identity.key][0].verified:
                    new_ids[identity.key] = (identity, new_ids[identity.key][1])
                elif identity.key in known and not known[identity.key][1]:
                    verify[identity.key] = None
        assignments.append(ref)

    survivors_new = [r for r in new_facts if find(r) == r]
    final_suggestions = []
    seen_pairs: set[tuple[str, str]] = set()
    for (a, b), (reason, evidence) in suggestions.items():
        fa, fb = find(a), find(b)
        pair = (min(fa, fb), max(fa, fb))
        if fa != fb and pair not in seen_pairs:
            seen_pairs.add(pair)
            final_suggestions.append((pair[0], pair[1], reason, evidence))
    return Plan(
        assignments=[find(r) if r is not None else None for r in assignments],
        new_profiles=survivors_new,
        new_identities=[(identity, find(ref)) for identity, ref in new_ids.values()],
        verify=list(verify),
        merges=merges,
        suggestions=final_suggestions,
        missing_facts=missing,
    )


def merged_name(survivor: str | None, other: str | None) -> tuple[str | None, str]:
    """The survivor's name wins when it has one. Returns (name, which side it came from)."""
    if survivor:
        return survivor, "survivor"
    if other:
        return other, "merged"
    return None, "survivor"


# ---- consent --------------------------------------------------------------------------------------------------


def dated_in_the_future(at: datetime, now: datetime, max_ahead_seconds: float) -> bool:
    """A choice dated further ahead than clocks plausibly drift (it would win over every later choice)."""
    return (at - now).total_seconds() > max_ahead_seconds


def consent_notice(granted: bool, at: datetime, current: Mapping[str, Any] | None) -> str | None:
    """What to tell the caller when the choice just recorded is not the one that counts: a choice dated later
    says otherwise. None when it counts."""
    if current is None or bool(current["granted"]) == granted:
        return None
    recorded = "opt-in" if granted else "opt-out"
    standing = "opt-in" if current["granted"] else "opt-out"
    return (f"This {recorded} (dated {at.isoformat()}) was recorded but does not count: the {standing} dated "
            f"{current['at'].isoformat()} was made later and stands. Send a choice dated now to change it.")


def current_consents(records: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """One answer per purpose: the latest explicit choice by when it was made (then by arrival)."""
    current: dict[str, Mapping[str, Any]] = {}
    for record in sorted(records, key=lambda r: (r["at"], r["id"])):
        current[record["purpose"]] = record
    return current


# ---- interest tags ------------------------------------------------------------------------------------------

TAG_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
TAG_HALF_LIFE_DAYS = 30.0
MIN_TAG_SCORE = 0.25
TAG_WEIGHTS = {"product_viewed": 1.0, "searched": 0.5, "cart_updated": 2.0, "order_placed": 5.0}
_TAG_RE = re.compile(r"[^a-z0-9_-]+")
TAG_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def _half_lives(at: datetime) -> float:
    return (at - TAG_EPOCH).total_seconds() / (TAG_HALF_LIFE_DAYS * 86400)


def epoch_score(weight: float, at: datetime) -> float:
    """A weight recorded at `at`, expressed at the fixed epoch: decaying scores then simply add up."""
    return weight * math.pow(2.0, _half_lives(at))


def decayed_score(stored: float, now: datetime) -> float:
    """The stored epoch score as it stands now: halves every TAG_HALF_LIFE_DAYS."""
    return stored * math.pow(2.0, -_half_lives(now))


def tag_slug(value: Any) -> str | None:
    """A category name to a tag: lower-case, '-' between words; None when nothing is left."""
    if not isinstance(value, str):
        return None
    slug = _TAG_RE.sub("-", value.strip().lower()).strip("-_")[:64]
    return slug or None


def interest_tags(event_type: str, properties: Mapping[str, Any]) -> list[tuple[str, float]]:
    """Which interest tags an event feeds, with its weight: categories viewed, searched, carted, bought."""
    weight = TAG_WEIGHTS.get(event_type)
    if weight is None:
        return []
    raw = properties.get("categories") or ([properties["category"]] if "category" in properties else [])
    if not isinstance(raw, list):
        return []
    tags = {slug for slug in (tag_slug(v) for v in raw) if slug}
    return [(tag, weight) for tag in sorted(tags)]
