"""Certificates of destruction and log audits: known-bad fixtures named after the attack, byte flips,
and each consistency check on its own.

Fixtures come from tests/assets/certificates/make_certificates.py (fixed keys, deterministic Ed25519);
a test below regenerates them and requires the committed bytes to match.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from disgorge.errors import InputError, VerificationFailed
from disgorge.ledger.audit import canonical_bytes, parse_strict_json, verify_log
from disgorge.ledger.certificate import (
    FORMAT,
    build_certificate,
    dump_certificate,
    erased_asset_proof,
    load_certificate,
    sign_certificate,
    signing_payload,
    verify_asset_proof,
    verify_certificate,
)
from disgorge.ledger.keys import read_trusted_keys
from disgorge.ledger.merkle import EMPTY_ROOT, inclusion_proof

HERE = Path(__file__).resolve().parents[1] / "assets" / "certificates"


def _fixtures() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_certificates", HERE / "make_certificates.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fx = _fixtures()
TRUSTED = read_trusted_keys(HERE / "trusted.pub")
GOOD_BYTES = (HERE / "certificate-good.json").read_bytes()


def good() -> dict[str, Any]:
    return copy.deepcopy(load_certificate(GOOD_BYTES))


def resigned(doc: dict[str, Any]) -> dict[str, Any]:
    return fx.resign(doc)  # type: ignore[no-any-return]


def test_fixtures_are_regenerated_byte_for_byte(tmp_path: Path) -> None:
    fx.main(tmp_path)
    made = sorted(p.name for p in tmp_path.iterdir())
    assert made == sorted(p.name for p in HERE.iterdir() if p.suffix != ".py" and p.is_file())
    for name in made:
        assert (tmp_path / name).read_bytes() == (HERE / name).read_bytes(), name


def test_good_certificate_verifies_and_lists_its_checks() -> None:
    check = verify_certificate(GOOD_BYTES, TRUSTED)
    assert check.plan_id == fx.PLAN
    assert check.checkpoint.size == 8
    assert dict(check.events) == {"plan": 2, "approval": 4, "completion": 6}
    assert check.erased_count == 5
    assert check.signed_by.startswith(fx.ORIGIN + "+")
    text = "\n".join(check.checks)
    for expected in ("canonical JSON", "signature", "checkpoint", "inclusion", "requester", "timeline"):
        assert expected in text
    assert json.loads(json.dumps(check.to_json()))["events"]["completion"] == 6
    assert verify_certificate(good(), TRUSTED).plan_id == fx.PLAN  # a parsed dict verifies too


KNOWN_BAD = {
    "certificate-signed-by-another-key.json": r"signed by disgorge\.test/ledger\+\w+\+.*not a trusted key",
    "certificate-replayed-older-checkpoint.json": r"'completion' \(entry 6\) is not proven .* size 6: leaf index 6 is outside",
    "certificate-inclusion-proof-for-another-tree-size.json": r"'plan' \(entry 2\) is not proven .* size 8: .*does not rebuild the root",
    "certificate-edited-counts.json": r"signature by .* does not verify: the certificate was altered",
    "certificate-checkpoint-from-another-origin.json": r"ledger checkpoint: .*origin 'disgorge\.test/another-ledger', expected 'disgorge\.test/ledger'",
    "certificate-approved-by-requester.json": r"approver 'alice@example\.com' is also the requester",
}


@pytest.mark.parametrize("name", sorted(KNOWN_BAD))
def test_known_bad_certificate_fails_for_its_reason(name: str) -> None:
    with pytest.raises(VerificationFailed, match=KNOWN_BAD[name]):
        verify_certificate((HERE / name).read_bytes(), TRUSTED)


def test_every_bad_certificate_file_is_covered() -> None:
    on_disk = {p.name for p in HERE.glob("certificate-*.json")} - {"certificate-good.json"}
    assert on_disk == set(KNOWN_BAD)


def test_another_key_is_accepted_only_when_trusted() -> None:
    other = read_trusted_keys(HERE / "another-operator.pub")
    doc = (HERE / "certificate-signed-by-another-key.json").read_bytes()
    with pytest.raises(VerificationFailed, match="checkpoint: the note has no signature by a trusted key"):
        verify_certificate(doc, other)  # its checkpoint is still the operator's
    assert verify_certificate(doc, TRUSTED + other).signed_by.startswith(fx.ORIGIN)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_flipping_any_byte_fails(data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(GOOD_BYTES) - 1), label="byte")
    new = data.draw(st.integers(0, 255).filter(lambda b: b != GOOD_BYTES[i]), label="value")
    flipped = GOOD_BYTES[:i] + bytes([new]) + GOOD_BYTES[i + 1 :]
    with pytest.raises((VerificationFailed, InputError)):
        verify_certificate(flipped, TRUSTED)


def test_every_single_bit_flip_fails() -> None:
    """Exhaustive: all 8 bits of every byte of the file (26,128 certificates, about 10 s here), each
    rejected as a DisgorgeError, never accepted and never another exception."""
    survivors, count = [], 0
    for i in range(len(GOOD_BYTES)):
        for bit in range(8):
            flipped = bytearray(GOOD_BYTES)
            flipped[i] ^= 1 << bit
            try:
                verify_certificate(bytes(flipped), TRUSTED)
            except (VerificationFailed, InputError):
                count += 1
            else:
                survivors.append((i, bit))
    assert survivors == [] and count == 8 * len(GOOD_BYTES)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b'{"format":"x","format":"y"}', "duplicate key 'format'"),
        (b'{"a":1.5}', "non-integer number 1.5"),
        (b"\xff{}", "not UTF-8"),
        (b"[1]", "must hold a JSON object"),
        (b"{ " + GOOD_BYTES[1:], "not in canonical form .* at byte 1"),
        (GOOD_BYTES + b"\n", "not in canonical form"),
    ],
)
def test_strict_loading(data: bytes, reason: str) -> None:
    with pytest.raises(VerificationFailed, match=reason):
        verify_certificate(data, TRUSTED)


def test_a_trailing_newline_is_the_file_form() -> None:
    assert GOOD_BYTES.endswith(b"}\n")
    assert dump_certificate(good()) == GOOD_BYTES
    verify_certificate(GOOD_BYTES[:-1], TRUSTED)


def test_no_trusted_keys_is_a_usage_error() -> None:
    with pytest.raises(InputError, match="no trusted keys"):
        verify_certificate(GOOD_BYTES, [])


def _mutate(path: list[str], value: Any) -> dict[str, Any]:
    doc = good()
    target = doc
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return resigned(doc)


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "reason"),
    [
        (["format"], "disgorge-certificate/2", "unsupported certificate format 'disgorge-certificate/2'"),
        (["counts", "copies"], -1, r"counts\.copies must be a non-negative integer, got -1"),
        (["counts", "copies"], True, r"counts\.copies must be a non-negative integer, got True"),
        (["counts", "subjects"], _DELETE, "counts lacks subjects"),
        (["counts", "extra"], 1, "counts has unexpected member"),
        (["order", "planned_at"], "2025-03-03 10:00", r"order\.planned_at must be an RFC 3339 time"),
        (["order", "planned_at"], "2025-03-03T10:00:00", "with a UTC offset"),
        (["order", "approvers"], [], "no approvers"),
        (["order", "approvers"], ["dpo@example.com", "dpo@example.com"], "listed twice"),
        (
            ["order", "approved_at"],
            "2025-03-02T10:00:00Z",
            r"order\.approved_at .* is earlier than order\.planned_at",
        ),
        (
            ["order", "issued_at"],
            "2025-03-05T07:59:59Z",
            r"order\.issued_at .* earlier than order\.verified_at",
        ),
        (["verification", "clean"], False, "verification is not clean"),
        (["verification", "residual"], 1, "verification is not clean"),
        (["counts", "assets"], 4, "counts.assets is 4 but the erased set holds 5"),
        (["counts", "models"], 2, "counts.models is 2 but 1 models are listed"),
        (["erased", "leaf"], "sha256", r"erased\.leaf must be 'keyed-sha256'"),
        (["ledger", "events", "plan", "proof"], ["AB" * 32], r"proof\[0\] must be 64 lowercase hex"),
        (["signature", "alg"], "RSA", r"signature\.alg must be 'Ed25519'"),
    ],
)
def test_each_check_rejects_with_a_precise_reason(path: list[str], value: Any, reason: str) -> None:
    doc = _mutate(path, value)
    if path[0] == "signature":
        doc[path[0]][path[1]] = value
    with pytest.raises(VerificationFailed, match=reason):
        verify_certificate(doc, TRUSTED)


def test_non_canonical_signature_encodings_are_refused() -> None:
    doc = good()
    kid = doc["signature"]["key"].split("+")[1]
    doc["signature"]["key"] = doc["signature"]["key"].replace(kid, kid.upper())
    with pytest.raises(VerificationFailed, match="canonical verifier key form"):
        verify_certificate(doc, TRUSTED)
    doc = good()
    value = doc["signature"]["value"]  # 64 bytes: the last base64 digit before "==" has 4 spare bits
    doc["signature"]["value"] = value[:-3] + chr(ord(value[-3]) ^ 1) + "=="
    with pytest.raises(VerificationFailed, match="signature"):
        verify_certificate(doc, TRUSTED)


def _relogged(entries: list[bytes], events: dict[str, int]) -> dict[str, Any]:
    """The good certificate over another log: a new checkpoint and proofs, re-signed by the operator."""
    doc = good()
    leaves = [fx.leaf_hash(e) for e in entries]
    doc["ledger"]["checkpoint"] = fx.checkpoint(len(entries), entries=entries)
    for name, i in events.items():
        proof = [h.hex() for h in inclusion_proof(leaves, i)]
        doc["ledger"]["events"][name] = {"index": i, "entry": entries[i].decode(), "proof": proof}
    return resigned(doc)


def _with_entry(event: str, **changes: Any) -> dict[str, Any]:
    entries = list(fx.ENTRIES)
    fields = {**json.loads(entries[fx.EVENTS[event]]), **changes}
    entries[fx.EVENTS[event]] = canonical_bytes(fields, "entry")
    return _relogged(entries, fx.EVENTS)


def test_event_entries_must_name_this_plan_and_their_kind() -> None:
    with pytest.raises(VerificationFailed, match="'approval' entry is for plan 'another'"):
        verify_certificate(_with_entry("approval", plan_id="another"), TRUSTED)
    with pytest.raises(VerificationFailed, match="'completion' entry must have kind 'erasure_completion'"):
        verify_certificate(_with_entry("completion", kind="erasure.step"), TRUSTED)
    verify_certificate(_with_entry("completion", note="extra fields are fine"), TRUSTED)


@pytest.mark.parametrize(
    ("event", "change", "reason"),
    [
        (
            "plan",
            {"reason": "marketing"},
            "the certificate says reason .*, but the logged plan says 'marketing'",
        ),
        (
            "plan",
            {"requester": "bob@example.com"},
            "says requester 'alice@example.com', but the logged plan says 'bob",
        ),
        ("plan", {"scope": {"kind": "source", "value": "site"}}, "says scope .* logged plan says"),
        (
            "approval",
            {"approver": "mallory@example.com"},
            "logged approval is by 'mallory@example.com', who is not",
        ),
        ("completion", {"erased": 4}, "says erased 5, but the logged completion says 4"),
        (
            "completion",
            {"erased_root": "00" * 32},
            "says erased_root '[0-9a-f]{64}', but the logged completion",
        ),
    ],
)
def test_logged_entries_must_agree_with_the_certificate(
    event: str, change: dict[str, Any], reason: str
) -> None:
    with pytest.raises(VerificationFailed, match=reason):
        verify_certificate(_with_entry(event, **change), TRUSTED)


def test_the_fixture_log_agrees_with_the_certificate() -> None:
    completion = json.loads(fx.ENTRIES[fx.EVENTS["completion"]])
    assert completion["erased_root"] == good()["erased"]["merkle_root"]
    assert completion["erased"] == good()["erased"]["count"]


def test_event_entries_must_be_in_ledger_order() -> None:
    entries = list(fx.ENTRIES)
    entries[2], entries[4] = entries[4], entries[2]  # approved before planned
    doc = _relogged(entries, {"plan": 4, "approval": 2, "completion": 6})
    with pytest.raises(
        VerificationFailed, match=r"out of order: plan, approval, completion at entries \[4, 2, 6\]"
    ):
        verify_certificate(doc, TRUSTED)


def test_event_entries_must_be_canonical_json() -> None:
    entries = list(fx.ENTRIES)
    entries[6] = entries[6].replace(b",", b", ", 1)
    with pytest.raises(VerificationFailed, match="'completion' entry is not in canonical form"):
        verify_certificate(_relogged(entries, fx.EVENTS), TRUSTED)
    entries[6] = (
        b'{"kind":"erasure_completion","kind":"erasure_completion","plan_id":"%s"}' % fx.PLAN.encode()
    )
    with pytest.raises(
        VerificationFailed, match="'completion' entry is not valid JSON: duplicate key 'kind'"
    ):
        verify_certificate(_relogged(entries, fx.EVENTS), TRUSTED)


def test_build_refuses_what_a_verifier_would_reject() -> None:
    kwargs = _build_kwargs()
    with pytest.raises(InputError, match="also the requester"):
        build_certificate(**{**kwargs, "order": {**fx.ORDER, "approvers": [fx.ORDER["requester"]]}})
    events = dict(kwargs["events"])
    events["completion"] = (6, fx.ENTRIES[6], inclusion_proof(fx.LEAVES[:7], 6))
    with pytest.raises(InputError, match=r"'completion' .* is not proven"):
        build_certificate(**{**kwargs, "events": events})
    with pytest.raises(InputError, match=r"origin 'disgorge.test/ledger', not 'elsewhere'"):
        build_certificate(**{**kwargs, "ledger_origin": "elsewhere"})
    with pytest.raises(InputError, match="listed twice in the erased set"):
        build_certificate(**{**kwargs, "erased_keyed_hashes": [fx.ERASED[0]] * 2})
    with pytest.raises(InputError, match="must be 32 bytes"):
        build_certificate(**{**kwargs, "erased_keyed_hashes": [b"short"]})


def _build_kwargs(erased: list[bytes] = fx.ERASED) -> dict[str, Any]:
    """Arguments for build_certificate over the fixture log, its completion entry logging ``erased``."""
    entries = list(fx.ENTRIES)
    i = fx.EVENTS["completion"]
    completion = {
        **json.loads(entries[i]),
        "erased": len(erased),
        "erased_root": fx.root_hash(sorted(erased)).hex(),
    }
    entries[i] = canonical_bytes(completion, "entry")
    leaves = [fx.leaf_hash(e) for e in entries]
    return {
        "order": fx.ORDER,
        "counts": {**fx.COUNTS, "assets": len(erased)},
        "erased_keyed_hashes": erased,
        "models": fx.MODELS,
        "verification": fx.VERIFICATION,
        "ledger_origin": fx.ORIGIN,
        "checkpoint_note": fx.checkpoint(len(entries), entries=entries),
        "events": {n: (i, entries[i], inclusion_proof(leaves, i)) for n, i in fx.EVENTS.items()},
    }


def test_sign_then_verify_round_trip_with_a_fresh_key() -> None:
    key = Ed25519PrivateKey.generate()
    doc = sign_certificate(fx.good_certificate(key), key, fx.ORIGIN)
    assert set(doc) == {
        "format",
        "order",
        "counts",
        "erased",
        "models",
        "verification",
        "ledger",
        "signature",
    }
    assert doc["format"] == FORMAT
    assert signing_payload(doc) == signing_payload({k: v for k, v in doc.items() if k != "signature"})
    verify_certificate(dump_certificate(doc), [fx.public_key_text(fx.ORIGIN, key)])
    with pytest.raises(VerificationFailed, match="not a trusted key"):
        verify_certificate(doc, TRUSTED)


def test_an_empty_erased_set_has_the_empty_root() -> None:
    doc = build_certificate(**_build_kwargs([]))
    assert doc["erased"] == {"leaf": "keyed-sha256", "count": 0, "merkle_root": EMPTY_ROOT.hex()}


# Asset proofs: one erased asset shown to be in the set, without the others.


def test_asset_proof_fixture_verifies_and_the_stranger_does_not() -> None:
    doc = load_certificate(GOOD_BYTES)
    verify_asset_proof(doc, (HERE / "asset-proof-good.json").read_bytes())
    with pytest.raises(VerificationFailed, match=r"is not proven to be erased: .* does not rebuild the root"):
        verify_asset_proof(doc, (HERE / "asset-proof-for-an-asset-not-erased.json").read_bytes())


@settings(max_examples=50, deadline=None)
@given(st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=40, unique=True), st.data())
def test_every_erased_asset_has_a_proof(keys: list[bytes], data: st.DataObject) -> None:
    doc = build_certificate(**_build_kwargs(keys))
    target = data.draw(st.sampled_from(keys))
    proof = erased_asset_proof(keys, target)
    verify_asset_proof(doc, proof)
    verify_asset_proof(doc, json.dumps(proof).encode())
    if len(keys) > 1:
        other = next(k for k in keys if k != target)
        with pytest.raises(VerificationFailed, match="not proven to be erased"):
            verify_asset_proof(doc, {**proof, "keyed_hash": other.hex()})


def test_asset_proof_for_another_set_or_missing_asset() -> None:
    with pytest.raises(InputError, match="not in the erased set of 5 assets"):
        erased_asset_proof(fx.ERASED, hashlib.sha256(b"nobody").digest())
    proof = erased_asset_proof(fx.ERASED[:4], fx.ERASED[0])
    with pytest.raises(VerificationFailed, match=r"for an erased set with root .* \(4 assets\)"):
        verify_asset_proof(good(), proof)
    with pytest.raises(VerificationFailed, match=r"malformed asset proof: index must be a non-negative"):
        verify_asset_proof(good(), {**erased_asset_proof(fx.ERASED, fx.ERASED[0]), "index": -1})


# Log audits.

LEDGER_BAD = {
    "ledger-truncated.json": r"checkpoint 1 commits to 8 entries but the log holds 6: entries 6\.\.7 are missing",
    "ledger-reordered-entries.json": r"checkpoint 1 \(size 8\) does not match the log: .* an entry in 4\.\.7",
    "ledger-forked-tree.json": r"checkpoints 1 and 2 sign two different roots for size 6: the log forked",
}


def _ledger(name: str) -> tuple[list[bytes], list[str], list[str], str]:
    doc = json.loads((HERE / name).read_text())
    return [e.encode() for e in doc["entries"]], doc["checkpoints"], doc["trusted_keys"], doc["origin"]


def test_good_ledger_verifies() -> None:
    verify_log(*_ledger("ledger-good.json"))


@pytest.mark.parametrize("name", sorted(LEDGER_BAD))
def test_known_bad_ledger_fails_for_its_reason(name: str) -> None:
    with pytest.raises(VerificationFailed, match=LEDGER_BAD[name]):
        verify_log(*_ledger(name))


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_flipping_any_byte_of_a_log_entry_fails(data: st.DataObject) -> None:
    entries, notes, keys, origin = _ledger("ledger-good.json")
    n = data.draw(st.integers(0, len(entries) - 1), label="entry")
    i = data.draw(st.integers(0, len(entries[n]) - 1), label="byte")
    new = data.draw(st.integers(0, 255).filter(lambda b: b != entries[n][i]), label="value")
    entries[n] = entries[n][:i] + bytes([new]) + entries[n][i + 1 :]
    with pytest.raises(VerificationFailed, match=r"does not match the log|entry \d"):
        verify_log(entries, notes, keys, origin)


def test_log_audit_edge_cases() -> None:
    entries, notes, keys, origin = _ledger("ledger-good.json")
    with pytest.raises(VerificationFailed, match="no checkpoint"):
        verify_log(entries, [], keys, origin)
    with pytest.raises(
        VerificationFailed, match=r"checkpoint 0 \(size 8\) is smaller|checkpoint 1 \(size 4\) is smaller"
    ):
        verify_log(entries, notes[::-1], keys, origin)
    with pytest.raises(VerificationFailed, match=r"entries 8..8 are not covered by any checkpoint"):
        verify_log([*entries, b'{"kind":"late"}'], notes, keys, origin)
    verify_log([*entries, b'{"kind":"late"}'], notes, keys, origin, allow_unsigned_tail=True)
    with pytest.raises(VerificationFailed, match="checkpoint 0: the checkpoint is for origin"):
        verify_log(entries, notes, keys, "another origin")
    with pytest.raises(VerificationFailed, match="checkpoint 0: the note has no signature by a trusted key"):
        verify_log(entries, notes, read_trusted_keys(HERE / "another-operator.pub"), origin)
    with pytest.raises(VerificationFailed, match="entry 3 is not in canonical form"):
        verify_log([*entries[:3], b'{"kind": "x"}', *entries[4:]], notes, keys, origin)


def test_strict_json_parser() -> None:
    assert parse_strict_json(b'{"a":[1,"x",null,true]}', "t") == {"a": [1, "x", None, True]}
    for bad, reason in [(b'{"a":1,"a":2}', "duplicate"), (b"NaN", "non-integer"), (b"1e3", "non-integer")]:
        with pytest.raises(InputError, match=reason):
            parse_strict_json(bad, "t")
