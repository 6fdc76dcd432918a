"""The notice document and channel rules as pure code: a parser fuzzed with arbitrary bytes and with
every member of a valid notice changed, and the webhook URL rule (HTTPS; plain HTTP to loopback only)."""

from __future__ import annotations

import contextlib
import copy
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from disgorge.errors import InputError, VerificationFailed
from disgorge.ledger.note import verifier_key
from disgorge.trust import Identity
from disgorge.trust.notices import (
    acknowledge,
    build_notice,
    dump_notice,
    keyed_content,
    parse_notice,
    sign_notice,
    webhook_problem,
)

KEY = Ed25519PrivateKey.generate()
HOME = verifier_key("home", KEY.public_key())
SALT = "11" * 32


def _doc() -> dict[str, Any]:
    notice, content = build_notice(
        catalog="c" * 32,
        origin="disgorge.local/home",
        plan={"plan_id": "p" * 64, "legal_basis": "GDPR 17", "reason": "request", "deadline": None},
        party="acme",
        runs=["train"],
        binding=None,
        salt=SALT,
        content=[keyed_content(SALT, f"{i:064x}") for i in range(3)],
        artifacts=["a" * 64],
    )
    return sign_notice(notice, content, KEY, "home")


DOC = _doc()
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**60), 2**60) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


PATHS = [p for p in _paths(DOC) if p[0] != "instructions"]


def test_a_valid_notice_parses_and_verifies() -> None:
    notice = parse_notice(dump_notice(DOC))
    assert notice.verify([HOME]) == "home" and notice.party == "acme" and len(notice.content) == 3
    with pytest.raises(VerificationFailed, match="not by a key you trust"):
        notice.verify([verifier_key("other", Ed25519PrivateKey.generate().public_key())])


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300) | JSON.map(lambda v: json.dumps(v).encode()))
def test_arbitrary_input_is_refused_cleanly(data: bytes) -> None:
    with contextlib.suppress(InputError):
        parse_notice(data)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(PATHS), JSON)
def test_every_changed_member_is_refused(path: tuple[Any, ...], value: Any) -> None:
    doc = copy.deepcopy(DOC)
    target = doc
    for step in path[:-1]:
        target = target[step]
    if target[path[-1]] == value:
        return
    target[path[-1]] = value
    try:
        notice = parse_notice(json.dumps(doc).encode())
    except InputError:
        return
    with pytest.raises(VerificationFailed):
        notice.verify([HOME])


def test_acknowledging_names_the_notice_and_refuses_another_key() -> None:
    acme = Identity.generate("acme")
    signed = acknowledge(acme, parse_notice(dump_notice(DOC)))
    assert signed.about == DOC["notice_id"] and signed.statement["catalog"] == "c" * 32
    bound = copy.deepcopy(DOC)
    bound["notice"]["ack_key"] = Identity.generate("acme").public_key
    bound = sign_notice(bound["notice"], bound["content"], KEY, "home")
    with pytest.raises(InputError, match="is to be acknowledged by"):
        acknowledge(acme, parse_notice(dump_notice(bound)))


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://notices.acme.example/in", None),
        ("https://notices.acme.example:8443/in?x=1", None),
        ("http://127.0.0.1:8000/in", None),
        ("http://localhost/in", None),
        ("http://[::1]:9/in", None),
        ("http://notices.acme.example/in", "plain HTTP"),
        ("http://10.0.0.1/in", "plain HTTP"),
        ("http://127.0.0.1.evil.example/in", "plain HTTP"),
        ("https://u:p@notices.acme.example/in", "credentials"),
        ("file:///etc/passwd", "not an https:// URL"),
        ("https:///nohost", "not an https:// URL"),
        ("https://a.example:99999/", "not a URL"),
    ],
)
def test_webhook_urls(url: str, problem: str | None) -> None:
    found = webhook_problem(url)
    assert (found is None) if problem is None else (found is not None and problem in found)
