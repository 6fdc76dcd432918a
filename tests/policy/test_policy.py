"""Purpose decisions: consent fold properties, policy rules, taxonomy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, target
from hypothesis import strategies as st

from disgorge.errors import InputError
from disgorge.policy import (
    DEFAULT_POLICY,
    ConsentEvent,
    Provenance,
    Request,
    consent_state,
    decide,
    default_taxonomy,
    parse_policy,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)
POLICY = parse_policy(DEFAULT_POLICY, "default")
USES = ["train_ai_system", "third_party_sharing", "essential.service", "marketing.advertising", "marketing"]
RECIPIENTS = ["acme", "beta", "*"]
CATEGORY_SETS = [
    ("user.content.self_image",),
    ("user.content.self_image", "user.demographic.race_ethnicity"),
    ("user.biometric.face_template",),
    ("user.childrens",),
]

events_st = st.lists(
    st.builds(
        ConsentEvent,
        subject=st.just(1),
        use=st.sampled_from(USES),
        recipient=st.sampled_from(RECIPIENTS),
        action=st.sampled_from(["granted", "withdrawn"]),
        at=st.integers(0, 100).map(lambda d: T0 + timedelta(days=d)),
    ),
    max_size=8,
)
prov_st = st.builds(
    Provenance,
    source=st.just("src"),
    notice_version=st.just(1),
    notice_uses=st.lists(st.sampled_from(USES), max_size=3).map(tuple),
    notice_recipients=st.lists(st.sampled_from(RECIPIENTS), max_size=2).map(tuple),
    legal_basis=st.sampled_from(["contract", "consent", None]),
    categories=st.sampled_from(CATEGORY_SETS),
)
request_st = st.builds(Request, use=st.sampled_from(USES[:4]), recipient=st.sampled_from(["acme", "beta"]))
when_st = st.integers(0, 120).map(lambda d: T0 + timedelta(days=d))


def allowed(prov: Provenance, events: list[ConsentEvent], req: Request, at: datetime) -> bool:
    return decide(prov, True, consent_state(events, req.use, req.recipient, at), req, POLICY).allowed


@given(prov_st, events_st, request_st, st.integers(0, 100), st.integers(0, 30))
def test_withdrawal_always_wins_after_its_time(
    prov: Provenance, events: list[ConsentEvent], req: Request, day: int, later: int
) -> None:
    w = ConsentEvent(1, req.use, req.recipient, "withdrawn", T0 + timedelta(days=day))
    history = [e for e in events if e.at <= w.at] + [w]  # nothing after the withdrawal
    assert not allowed(prov, history, req, w.at + timedelta(days=later))


@given(prov_st, events_st, request_st, when_st, st.integers(0, 100), st.sampled_from(RECIPIENTS))
def test_adding_a_grant_never_creates_a_violation(
    prov: Provenance, events: list[ConsentEvent], req: Request, at: datetime, day: int, recipient: str
) -> None:
    """Every example checks something: an allowed request stays allowed; a denied one either becomes
    allowed or stays denied for a reason no grant can lift; a grant that does not change the effective
    consent changes nothing at all."""
    grant = ConsentEvent(1, req.use, recipient, "granted", T0 + timedelta(days=day))
    before = decide(prov, True, consent_state(events, req.use, req.recipient, at), req, POLICY)
    state = consent_state([*events, grant], req.use, req.recipient, at)
    after = decide(prov, True, state, req, POLICY)
    target(float(before.allowed != after.allowed), label="grant lifts a denial")
    if before.allowed:
        assert after.allowed
    elif state == "granted":
        assert after.allowed or after.reason in ("policy_denied", "no_policy_allows"), after
    else:
        assert state == consent_state(events, req.use, req.recipient, at)
        assert after == before


@given(prov_st, events_st, request_st, when_st, st.data())
def test_removing_consent_never_removes_a_violation(
    prov: Provenance, events: list[ConsentEvent], req: Request, at: datetime, data: st.DataObject
) -> None:
    grants = [i for i, e in enumerate(events) if e.action == "granted"]
    if grants and not allowed(prov, events, req, at):
        drop = data.draw(st.sampled_from(grants))
        assert not allowed(prov, events[:drop] + events[drop + 1 :], req, at)
    withdrawal = ConsentEvent(1, req.use, req.recipient, "withdrawn", data.draw(when_st))
    if not allowed(prov, events, req, at):
        assert not allowed(prov, [*events, withdrawal], req, at)


@given(events_st, request_st, when_st, st.sampled_from([None, "granted", "withdrawn"]))
def test_unknown_provenance_always_denies(
    events: list[ConsentEvent], req: Request, at: datetime, state: object
) -> None:
    out = decide(None, True, state, req, POLICY)  # type: ignore[arg-type]
    assert not out.allowed and out.reason == "unknown_provenance"


def test_consent_basis_needs_a_subject_and_a_record() -> None:
    prov = Provenance("research", 1, ("train_ai_system",), ("acme",), "consent", ("user.content.self_image",))
    req = Request("train_ai_system", "acme")
    assert decide(prov, False, None, req, POLICY).reason == "unknown_provenance"
    assert decide(prov, True, None, req, POLICY).reason == "no_consent_record"
    assert decide(prov, True, "granted", req, POLICY).allowed


def test_notice_never_covers_sensitive_categories() -> None:
    prov = Provenance(
        "site", 1, ("train_ai_system",), ("*",), "contract", ("user.demographic.race_ethnicity",)
    )
    out = decide(prov, True, None, Request("train_ai_system", "acme"), POLICY)
    assert out.reason == "sensitive_needs_grant" and "explicit grant" in out.clause


def test_childrens_data_is_denied_by_rule_even_with_consent() -> None:
    prov = Provenance("kids", 1, ("train_ai_system",), ("*",), "consent", ("user.childrens",))
    out = decide(prov, True, "granted", Request("train_ai_system", "acme"), POLICY)
    assert (out.allowed, out.reason, out.rule) == (
        False,
        "policy_denied",
        "no-childrens-data-for-ai-or-sharing",
    )


def test_consent_fold_parent_use_and_any_recipient() -> None:
    events = [
        ConsentEvent(1, "marketing", "*", "granted", T0),
        ConsentEvent(1, "marketing.advertising", "beta", "withdrawn", T0 + timedelta(days=5)),
    ]
    assert consent_state(events, "marketing.advertising.serving", "acme", T0 + timedelta(days=9)) == "granted"
    assert (
        consent_state(events, "marketing.advertising.serving", "beta", T0 + timedelta(days=9)) == "withdrawn"
    )
    assert consent_state(events, "marketing.advertising.serving", "beta", T0 + timedelta(days=4)) == "granted"
    assert consent_state(events, "train_ai_system", "beta", T0 + timedelta(days=9)) is None
    same_time = [ConsentEvent(1, "sales", "x", "withdrawn", T0), ConsentEvent(1, "sales", "x", "granted", T0)]
    assert consent_state(same_time, "sales", "x", T0) == "withdrawn"


def test_rules_any_all_none_with_parent_keys() -> None:
    policy = parse_policy(
        """
version: t-1
rules:
  - name: deny-biometric-sharing
    effect: deny
    data_categories: {any: [user.biometric]}
    recipients: {none: [self]}
  - name: allow-analytics-on-content
    effect: allow
    data_uses: {any: [analytics]}
    data_categories: {all: [user.content]}
""",
        "inline",
    )
    ok, rule = policy.evaluate(
        {
            "data_categories": ["user.content.self_image"],
            "data_uses": ["analytics.reporting"],
            "recipients": ["acme"],
        }
    )
    assert ok and rule is not None and rule.name == "allow-analytics-on-content"
    ok, rule = policy.evaluate(
        {
            "data_categories": ["user.biometric.face_template", "user.content.self_image"],
            "data_uses": ["analytics"],
            "recipients": ["acme"],
        }
    )
    assert not ok and rule is not None and rule.name == "deny-biometric-sharing"
    ok, rule = policy.evaluate(
        {"data_categories": ["user.biometric.voice"], "data_uses": ["analytics"], "recipients": ["self"]}
    )
    assert (ok, rule) == (False, None)  # deny by default: no allow rule matches
    assert parse_policy("version: empty\nrules: []\n", "x").evaluate({"data_uses": ["sales"]}) == (
        False,
        None,
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules: []", "expected a mapping with 'version'"),
        ("version: 1\nrules:\n  - {name: r, effect: maybe}", "'effect' of allow or deny"),
        (
            "version: 1\nrules:\n  - {name: r, effect: deny, data_uses: {any: [train_ai]}}",
            "unknown data use 'train_ai'",
        ),
        ("version: 1\nrules:\n  - {name: r, effect: deny, data_uses: {some: [sales]}}", "must be one of"),
        ("version: 1\nrules:\n  - {name: r, effect: deny, colour: red}", "unknown fields"),
        ("version: [1\n", "not valid YAML"),
    ],
)
def test_bad_policies_are_rejected(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_policy(text, "bad.yaml")


def test_taxonomy_is_fideslang_extended() -> None:
    tax = default_taxonomy()
    assert {"train_ai_system", "third_party_sharing"} <= tax.uses
    assert "user.biometric.face_template" in tax.categories
    assert tax.sensitive(["user.biometric.face_template", "user.content.self_image"]) == [
        "user.biometric.face_template"
    ]
