"""Regenerate the certificate and ledger fixtures in this folder, each known-bad file named after its attack.

Run: python tests/assets/certificates/make_certificates.py. Keys are derived from fixed seeds and Ed25519
is deterministic, so the output is byte-identical every run (tests/ledger/test_certificate.py checks it).
Every bad certificate but ``edited-counts`` and ``signed-by-another-key`` is re-signed by the trusted key,
so that only the check it attacks can catch it.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from disgorge.ledger.audit import canonical_bytes
from disgorge.ledger.certificate import (
    build_certificate,
    dump_certificate,
    erased_asset_proof,
    sign_certificate,
    signing_payload,
)
from disgorge.ledger.keys import public_key_text
from disgorge.ledger.merkle import inclusion_proof, leaf_hash, root_hash
from disgorge.ledger.note import Checkpoint, sign_checkpoint

HERE = Path(__file__).parent
ORIGIN = "disgorge.test/ledger"
KEY = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"disgorge test key: the operator").digest())
OTHER = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"disgorge test key: someone else").digest())
PLAN = hashlib.sha256(b"plan for alice").hexdigest()
ERASED = [hashlib.sha256(f"keyed hash of asset {i}".encode()).digest() for i in range(5)]


def _entry(**fields: Any) -> bytes:
    return canonical_bytes(fields, "entry")


ORDER = {
    "plan_id": PLAN,
    "scope": {"kind": "subject", "value": hashlib.sha256(b"alice").hexdigest()},
    "reason": "Subject withdrew consent and asked for deletion (Art. 17 GDPR)",
    "legal_basis": "GDPR Art. 17(1)(b)",
    "requester": "alice@example.com",
    "approvers": ["dpo@example.com"],
    "deadline": "2025-04-02",
    "planned_at": "2025-03-03T10:00:00Z",
    "approved_at": "2025-03-04T15:30:00Z",
    "completed_at": "2025-03-05T08:00:00Z",
    "verified_at": "2025-03-05T08:05:00Z",
    "issued_at": "2025-03-05T09:00:00Z",
}
_PLANNED = {k: ORDER[k] for k in ("scope", "reason", "legal_basis", "requester", "deadline")}
ENTRIES = [
    _entry(kind="source", source="site", at="2025-01-10T09:00:00+00:00"),
    _entry(kind="ingest_batch", source="site", assets=12, at="2025-01-10T09:05:00+00:00"),
    _entry(kind="erasure_plan", plan_id=PLAN, **_PLANNED, at="2025-03-03T10:00:00+00:00"),
    _entry(kind="consent_decision", subject="9f2c", allowed=False, at="2025-03-03T11:00:00+00:00"),
    _entry(kind="erasure_approval", plan_id=PLAN, approver="dpo@example.com", at="2025-03-04T15:30:00+00:00"),
    _entry(kind="erasure_step", plan_id=PLAN, done=9, at="2025-03-05T07:50:00+00:00"),
    _entry(
        kind="erasure_completion",
        plan_id=PLAN,
        erased_root=root_hash(sorted(ERASED)).hex(),
        erased=len(ERASED),
        at="2025-03-05T08:00:00+00:00",
    ),
    _entry(kind="erasure_verification", plan_id=PLAN, clean=True, at="2025-03-05T08:05:00+00:00"),
]
LEAVES = [leaf_hash(e) for e in ENTRIES]
EVENTS = {"plan": 2, "approval": 4, "completion": 6}
COUNTS = {
    "assets": 5,
    "subjects": 1,
    "copies": 9,
    "table_rows": 5,
    "derived_artifacts": 2,
    "dataset_versions": 1,
    "models": 1,
    "deployments": 1,
    "recipients_notified": 0,
}
MODELS = [
    {
        "name": "face-embedder-v3",
        "sha256": hashlib.sha256(b"weights").hexdigest(),
        "disposition": "destroyed",
        "copies": 2,
    }
]
VERIFICATION = {
    "clean": True,
    "targets_checked": 19,
    "objects_scanned": 1204,
    "roots": ["file:///srv/photos", "s3://training-data/"],
    "residual": 0,
    "remaining": 0,
}


def checkpoint(
    size: int, origin: str = ORIGIN, entries: list[bytes] = ENTRIES, key: Ed25519PrivateKey = KEY
) -> str:
    return sign_checkpoint(Checkpoint(origin, size, root_hash(entries[:size])), key, ORIGIN)


def good_certificate(key: Ed25519PrivateKey = KEY) -> dict[str, Any]:
    """The good certificate, its checkpoint and itself signed by ``key``."""
    doc = build_certificate(
        order=ORDER,
        counts=COUNTS,
        erased_keyed_hashes=ERASED,
        models=MODELS,
        verification=VERIFICATION,
        ledger_origin=ORIGIN,
        checkpoint_note=checkpoint(8, key=key),
        events={name: (i, ENTRIES[i], inclusion_proof(LEAVES, i)) for name, i in EVENTS.items()},
    )
    return sign_certificate(doc, key, ORIGIN)


def resign(doc: dict[str, Any], key: Ed25519PrivateKey = KEY) -> dict[str, Any]:
    """Sign without the consistency checks sign_certificate makes: how a forger with the key would."""
    import base64

    signed = {k: v for k, v in doc.items() if k != "signature"}
    value = base64.b64encode(key.sign(signing_payload(signed))).decode()
    return {**signed, "signature": {"alg": "Ed25519", "key": public_key_text(ORIGIN, key), "value": value}}


def certificates() -> dict[str, dict[str, Any]]:
    good = good_certificate()
    out = {"certificate-good.json": good, "certificate-signed-by-another-key.json": resign(good, OTHER)}

    replayed = json.loads(json.dumps(good))
    replayed["ledger"]["checkpoint"] = checkpoint(6)  # the completion (entry 6) is not in it
    for name in ("plan", "approval"):
        replayed["ledger"]["events"][name]["proof"] = [
            h.hex() for h in inclusion_proof(LEAVES[:6], EVENTS[name])
        ]
    out["certificate-replayed-older-checkpoint.json"] = resign(replayed)

    other_size = json.loads(json.dumps(good))
    other_size["ledger"]["events"]["plan"]["proof"] = [
        h.hex() for h in inclusion_proof(LEAVES[:7], EVENTS["plan"])
    ]
    out["certificate-inclusion-proof-for-another-tree-size.json"] = resign(other_size)

    edited = json.loads(json.dumps(good))
    edited["counts"]["copies"] = 0  # not re-signed: the forger has no key
    out["certificate-edited-counts.json"] = edited

    foreign = json.loads(json.dumps(good))
    foreign["ledger"]["checkpoint"] = checkpoint(8, origin="disgorge.test/another-ledger")
    out["certificate-checkpoint-from-another-origin.json"] = resign(foreign)

    self_approved = json.loads(json.dumps(good))
    self_approved["order"]["approvers"] = [ORDER["requester"]]
    out["certificate-approved-by-requester.json"] = resign(self_approved)
    return out


def ledgers() -> dict[str, dict[str, Any]]:
    fork = [
        *ENTRIES[:4],
        _entry(kind="erasure_approval", plan_id=PLAN, approver="mallory@example.com"),
        ENTRIES[5],
    ]
    reordered = [*ENTRIES[:4], ENTRIES[5], ENTRIES[4], *ENTRIES[6:]]
    cases = {
        "ledger-good.json": ("nothing: the log as signed", ENTRIES, [checkpoint(4), checkpoint(8)]),
        "ledger-truncated.json": (
            "the last two entries were deleted",
            ENTRIES[:6],
            [checkpoint(4), checkpoint(8)],
        ),
        "ledger-reordered-entries.json": (
            "entries 4 and 5 were swapped",
            reordered,
            [checkpoint(4), checkpoint(8)],
        ),
        "ledger-forked-tree.json": (
            "the log signed two size-6 heads: one over a different approval",
            ENTRIES,
            [checkpoint(4), checkpoint(6), checkpoint(6, entries=fork), checkpoint(8)],
        ),
    }
    return {
        name: {
            "attack": attack,
            "origin": ORIGIN,
            "trusted_keys": [public_key_text(ORIGIN, KEY)],
            "entries": [e.decode() for e in entries],
            "checkpoints": notes,
        }
        for name, (attack, entries, notes) in cases.items()
    }


def asset_proofs() -> dict[str, dict[str, Any]]:
    good = erased_asset_proof(ERASED, ERASED[3])
    stranger = dict(good, keyed_hash=hashlib.sha256(b"an asset never erased").hexdigest())
    return {"asset-proof-good.json": good, "asset-proof-for-an-asset-not-erased.json": stranger}


def main(out: Path = HERE) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "trusted.pub").write_text(public_key_text(ORIGIN, KEY) + "\n")
    (out / "another-operator.pub").write_text(public_key_text(ORIGIN, OTHER) + "\n")
    for name, doc in certificates().items():
        (out / name).write_bytes(dump_certificate(doc))
    for name, value in {**ledgers(), **asset_proofs()}.items():
        (out / name).write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
