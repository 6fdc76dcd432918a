"""Certificates of destruction: a signed statement of one erasure that a third party verifies offline.

A certificate is one JSON object, stored as its RFC 8785 canonical form (JCS). ``disgorge-certificate/1``::

    {"format": "disgorge-certificate/1",
     "order": {"plan_id", "scope": {"kind", "value"}, "reason", "legal_basis", "requester",
               "approvers": [...], "deadline": RFC 3339 time, date or null,
               "planned_at", "approved_at", "completed_at", "verified_at", "issued_at"},   # RFC 3339
     "counts": {"assets", "subjects", "copies", "table_rows", "derived_artifacts", "dataset_versions",
                "models", "deployments", "recipients_notified"},                       # integers >= 0
     "erased": {"leaf": "keyed-sha256", "count": n, "merkle_root": hex},
     "models": [{"name": string or null (recorded by path only), "sha256": hex, "disposition": "destroyed",
                 "copies": n}],
     "verification": {"clean", "targets_checked", "objects_scanned", "roots": [...], "residual", "remaining"},
     "ledger": {"origin", "checkpoint": "<C2SP signed note>",
                "events": {"plan" | "approval" | "completion": {"index", "entry": "<JSON text>", "proof": [hex]}}},
     "signature": {"alg": "Ed25519", "key": "<verifier key>", "value": base64}}

``erased.merkle_root`` is the RFC 9162 root over the erased assets' keyed hashes (HMAC-SHA256, 32
bytes), sorted bytewise and unique, each hashed as a leaf: an asset's owner, given its keyed hash and
an :func:`erased_asset_proof`, can check it is in the set without the other keyed hashes being listed. Each
ledger event's ``entry`` is the log entry's canonical JSON text, an object whose ``kind`` is
``EVENT_KINDS[event]`` and whose ``plan_id`` is this plan's; its leaf is RFC 9162 ``leaf_hash`` of the
text's UTF-8 at ``index`` in the tree whose size and root the C2SP tlog-checkpoint note
(https://c2sp.org/tlog-checkpoint) commits to. All hashes are lowercase hex, except inside the note.

A verifier also checks that the story holds together: no approver is the requester, the timeline
runs planned <= approved <= completed <= verified <= issued, verification is clean, ``counts.assets``
is the erased set's size and ``counts.models`` the number of models listed; the events are in ledger
order, name this plan and, where the logged entries carry them, agree with the certificate (the plan's
scope, reason, legal basis and requester; the approver; the completion's ``erased_root`` and ``erased``).

The signature is Ed25519 over the canonical JSON of the document without its ``signature`` member
(:func:`signing_payload`). Canonical JSON never ends in a newline and a note body always does, so the
one key can sign both without one signature passing for the other. Pure code: bytes and dicts in and out.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from disgorge.errors import DisgorgeError, InputError, VerificationFailed
from disgorge.ledger.audit import JsonReader, canonical_bytes, json_type, parse_strict_json, require_canonical
from disgorge.ledger.merkle import (
    EMPTY_ROOT,
    inclusion_proof,
    leaf_hash,
    root_from_leaf_hashes,
    verify_inclusion,
)
from disgorge.ledger.note import Checkpoint, NoteVerifier, verifier_key, verify_checkpoint

__all__ = [
    "ASSET_PROOF_FORMAT",
    "COUNT_KINDS",
    "EVENT_KINDS",
    "FORMAT",
    "MODEL_DISPOSITIONS",
    "TIMELINE",
    "CertificateCheck",
    "build_certificate",
    "check_format",
    "dump_certificate",
    "erased_asset_proof",
    "load_certificate",
    "sign_certificate",
    "signing_payload",
    "verify_asset_proof",
    "verify_certificate",
]

FORMAT = "disgorge-certificate/1"
ASSET_PROOF_FORMAT = "disgorge-asset-proof/1"
ERASED_LEAF = "keyed-sha256"
COUNT_KINDS = (
    "assets",
    "subjects",
    "copies",
    "table_rows",
    "derived_artifacts",
    "dataset_versions",
    "models",
    "deployments",
    "recipients_notified",
)
EVENT_KINDS = {"plan": "erasure_plan", "approval": "erasure_approval", "completion": "erasure_completion"}
"""Certificate event name -> the ``kind`` its ledger entry must have; ledger order is this order."""
MODEL_DISPOSITIONS = ("destroyed",)
TIMELINE = ("planned_at", "approved_at", "completed_at", "verified_at", "issued_at")
"""The order's timestamps, in the order they must be (each no earlier than the one before)."""

_TOP = ("format", "order", "counts", "erased", "models", "verification", "ledger")
_ORDER = ("plan_id", "scope", "reason", "legal_basis", "requester", "approvers", "deadline", *TIMELINE)
_VERIFICATION = ("clean", "targets_checked", "objects_scanned", "roots", "residual", "remaining")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class CertificateCheck:
    """What :func:`verify_certificate` established, in the order it checked it."""

    plan_id: str
    signed_by: str
    checkpoint: Checkpoint
    events: tuple[tuple[str, int], ...]
    erased_root: str
    erased_count: int
    checks: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "plan_id": self.plan_id,
            "signed_by": self.signed_by,
            "checkpoint": {"origin": self.checkpoint.origin, "size": self.checkpoint.size},
            "events": dict(self.events),
            "erased": {"merkle_root": self.erased_root, "count": self.erased_count},
            "checks": list(self.checks),
        }


@dataclass(frozen=True)
class _Event:
    name: str
    index: int
    entry: bytes
    proof: tuple[bytes, ...]


@dataclass(frozen=True)
class _Parsed:
    order: Mapping[str, Any]
    times: Mapping[str, datetime]
    counts: Mapping[str, int]
    erased_root: bytes
    erased_count: int
    models: Sequence[Mapping[str, Any]]
    verification: Mapping[str, Any]
    origin: str
    checkpoint_note: str
    events: tuple[_Event, ...]


def build_certificate(
    *,
    order: Mapping[str, Any],
    counts: Mapping[str, int],
    erased_keyed_hashes: Sequence[bytes],
    models: Sequence[Mapping[str, Any]],
    verification: Mapping[str, Any],
    ledger_origin: str,
    checkpoint_note: str,
    events: Mapping[str, tuple[int, bytes, Sequence[bytes]]],
) -> dict[str, Any]:
    """An unsigned certificate, checked as :func:`verify_certificate` would check it save for signatures.

    Raises InputError for anything a verifier would reject, so a bad certificate is never issued.
    """
    keys = _erased_set(erased_keyed_hashes)
    ev: dict[str, Any] = {}
    for name, item in events.items():
        if not (isinstance(item, tuple) and len(item) == 3 and isinstance(item[1], bytes)):
            raise InputError(f"event {name!r} must be (index, entry bytes, proof hashes), got {item!r}")
        index, entry, proof = item
        if not all(isinstance(h, bytes) for h in proof):
            raise InputError(f"event {name!r}: proof hashes must be bytes")
        ev[name] = {
            "index": index,
            "entry": _utf8_text(entry, f"event {name!r} entry"),
            "proof": [h.hex() for h in proof],
        }
    doc = {
        "format": FORMAT,
        "order": dict(order),
        "counts": dict(counts),
        "erased": {
            "leaf": ERASED_LEAF,
            "count": len(keys),
            "merkle_root": root_from_leaf_hashes([leaf_hash(k) for k in keys]).hex(),
        },
        "models": sorted(
            (dict(m) for m in models), key=lambda m: (str(m.get("name") or ""), str(m.get("sha256")))
        ),
        "verification": dict(verification),
        "ledger": {"origin": ledger_origin, "checkpoint": checkpoint_note, "events": ev},
    }
    canonical_bytes(doc, "the certificate")
    parsed = _parse(doc, InputError, signed=False)
    checkpoint = _unverified_checkpoint(checkpoint_note, ledger_origin)
    _check_inclusion(parsed, checkpoint, InputError)
    _check_consistency(parsed, InputError)
    return doc


def signing_payload(doc: Mapping[str, Any]) -> bytes:
    """The bytes the signature covers: the canonical JSON of ``doc`` without its ``signature``."""
    return canonical_bytes({k: v for k, v in doc.items() if k != "signature"}, "the certificate")


def sign_certificate(doc: Mapping[str, Any], private_key: Ed25519PrivateKey, key_name: str) -> dict[str, Any]:
    """``doc`` (any old signature dropped) signed by ``private_key`` as ``key_name``."""
    unsigned = {k: v for k, v in doc.items() if k != "signature"}
    _check_consistency(_parse(unsigned, InputError, signed=False), InputError)
    value = private_key.sign(signing_payload(unsigned))
    key = verifier_key(key_name, private_key.public_key())
    return {**unsigned, "signature": {"alg": "Ed25519", "key": key, "value": _b64(value)}}


def dump_certificate(doc: Mapping[str, Any]) -> bytes:
    """The file form of a certificate: its canonical JSON and a newline."""
    return canonical_bytes(doc, "the certificate") + b"\n"


def load_certificate(data: bytes) -> dict[str, Any]:
    """Parse a certificate file, rejecting duplicate keys and any form but the canonical one.

    Requiring the one canonical encoding means no byte can change without the signed content changing.
    """
    doc = parse_strict_json(data, "the certificate", VerificationFailed)
    if not isinstance(doc, dict):
        raise VerificationFailed("malformed certificate: the file must hold a JSON object")
    require_canonical(data, doc, "the certificate", VerificationFailed, allow_newline=True)
    return doc


def check_format(doc: Mapping[str, Any]) -> None:
    """Raise InputError unless ``doc`` is a well-formed certificate, signed or not (no signature checks)."""
    _parse(doc, InputError, signed="signature" in doc)


def verify_certificate(
    doc_or_bytes: Mapping[str, Any] | bytes, trusted_keys: Iterable[str | NoteVerifier]
) -> CertificateCheck:
    """Check a certificate offline: format, signature, checkpoint, inclusion proofs, consistency.

    Raises VerificationFailed naming the first check that fails; InputError for unusable trusted keys.
    """
    trusted = _index_trusted(trusted_keys)
    checks = []
    if isinstance(doc_or_bytes, bytes | bytearray):
        doc = load_certificate(bytes(doc_or_bytes))
        checks.append("the file is canonical JSON (RFC 8785) without duplicate keys")
    elif isinstance(doc_or_bytes, Mapping):
        doc = dict(doc_or_bytes)
    else:
        raise VerificationFailed(f"malformed certificate: must be an object, got {json_type(doc_or_bytes)}")
    parsed = _parse(doc, VerificationFailed, signed=True)
    checks.append(f"format {FORMAT}, every member present and well-typed")
    signer = _check_signature(doc, trusted)
    checks.append(f"Ed25519 signature by trusted key {signer}")
    try:
        checkpoint = verify_checkpoint(parsed.checkpoint_note, parsed.origin, list(trusted.values()))
    except VerificationFailed as exc:
        raise VerificationFailed(f"ledger checkpoint: {exc.message}", hint=exc.hint) from exc
    checks.append(f"checkpoint of {parsed.origin!r} at size {checkpoint.size} signed by a trusted key")
    checks.extend(_check_inclusion(parsed, checkpoint, VerificationFailed))
    checks.extend(_check_consistency(parsed, VerificationFailed))
    return CertificateCheck(
        plan_id=parsed.order["plan_id"],
        signed_by=signer,
        checkpoint=checkpoint,
        events=tuple((e.name, e.index) for e in parsed.events),
        erased_root=parsed.erased_root.hex(),
        erased_count=parsed.erased_count,
        checks=tuple(checks),
    )


def erased_asset_proof(erased_keyed_hashes: Sequence[bytes], keyed_hash: bytes) -> dict[str, Any]:
    """The proof that ``keyed_hash`` is in the certificate's erased set: its index, the set's size and
    root, and the RFC 9162 inclusion proof. InputError if it is not in the set."""
    keys = _erased_set(erased_keyed_hashes)
    i = bisect.bisect_left(keys, keyed_hash)
    if i == len(keys) or keys[i] != keyed_hash:
        raise InputError(f"keyed hash {keyed_hash.hex()} is not in the erased set of {len(keys)} assets")
    leaves = [leaf_hash(k) for k in keys]
    return {
        "format": ASSET_PROOF_FORMAT,
        "keyed_hash": keyed_hash.hex(),
        "index": i,
        "count": len(keys),
        "merkle_root": root_from_leaf_hashes(leaves).hex(),
        "proof": [h.hex() for h in inclusion_proof(leaves, i)],
    }


def verify_asset_proof(doc: Mapping[str, Any], proof: Mapping[str, Any] | bytes) -> None:
    """Check that ``proof`` puts its keyed hash in ``doc``'s erased set (verify ``doc`` first)."""
    if isinstance(proof, bytes | bytearray):
        proof = parse_strict_json(bytes(proof), "the asset proof", VerificationFailed)
    if not isinstance(doc, Mapping):
        raise VerificationFailed(f"malformed certificate: must be an object, got {json_type(doc)}")
    r = JsonReader(VerificationFailed, "asset proof")
    p = r.obj(proof, "proof", ("format", "keyed_hash", "index", "count", "merkle_root", "proof"))
    if p["format"] != ASSET_PROOF_FORMAT:
        r.fail("format", f"must be {ASSET_PROOF_FORMAT!r}, got {p['format']!r}")
    keyed, index, count = (
        r.digest(p["keyed_hash"], "keyed_hash"),
        r.count(p["index"], "index"),
        r.count(p["count"], "count"),
    )
    root = r.digest(p["merkle_root"], "merkle_root")
    path = [r.digest(h, f"proof[{i}]") for i, h in enumerate(r.items(p["proof"], "proof"))]
    erased = JsonReader(VerificationFailed).obj(doc.get("erased"), "erased", ("leaf", "count", "merkle_root"))
    if (root.hex(), count) != (erased["merkle_root"], erased["count"]):
        raise VerificationFailed(
            f"the asset proof is for an erased set with root {root.hex()} ({count} assets), but the "
            f"certificate's has root {erased['merkle_root']} ({erased['count']} assets)"
        )
    try:
        verify_inclusion(leaf_hash(keyed), index, count, path, root)
    except VerificationFailed as exc:
        raise VerificationFailed(f"asset {keyed.hex()} is not proven to be erased: {exc.message}") from exc


def _parse(doc: Mapping[str, Any], error: type[DisgorgeError], *, signed: bool) -> _Parsed:
    r = JsonReader(error)
    if not isinstance(doc, Mapping):
        r.fail("the document", f"must be an object, got {json_type(doc)}")
    if doc.get("format") != FORMAT:
        raise error(f"unsupported certificate format {doc.get('format')!r}; this verifier reads {FORMAT!r}")
    top = r.obj(dict(doc), "the document", (*_TOP, "signature") if signed else _TOP)
    if signed:
        sig = r.obj(top["signature"], "signature", ("alg", "key", "value"))
        r.text(sig["key"], "signature.key")
        r.text(sig["value"], "signature.value")
    order = r.obj(top["order"], "order", _ORDER)
    for key in ("plan_id", "reason", "legal_basis", "requester"):
        r.text(order[key], f"order.{key}")
    scope = r.obj(order["scope"], "order.scope", ("kind", "value"))
    r.text(scope["kind"], "order.scope.kind")
    r.text(scope["value"], "order.scope.value")
    for i, a in enumerate(r.items(order["approvers"], "order.approvers")):
        r.text(a, f"order.approvers[{i}]")
    deadline = order["deadline"]
    if deadline is not None and not (isinstance(deadline, str) and _DATE.fullmatch(deadline)):
        r.time(deadline, "order.deadline")
    times = {key: r.time(order[key], f"order.{key}") for key in TIMELINE}
    counts = r.obj(top["counts"], "counts", COUNT_KINDS)
    for kind in COUNT_KINDS:
        r.count(counts[kind], f"counts.{kind}")
    erased = r.obj(top["erased"], "erased", ("leaf", "count", "merkle_root"))
    if erased["leaf"] != ERASED_LEAF:
        r.fail("erased.leaf", f"must be {ERASED_LEAF!r}, got {erased['leaf']!r}")
    models = r.items(top["models"], "models")
    for i, m in enumerate(models):
        r.obj(m, f"models[{i}]", ("name", "sha256", "disposition", "copies"))
        if m["name"] is not None:
            r.text(m["name"], f"models[{i}].name")
        r.digest(m["sha256"], f"models[{i}].sha256")
        r.count(m["copies"], f"models[{i}].copies")
        if m["disposition"] not in MODEL_DISPOSITIONS:
            r.fail(
                f"models[{i}].disposition", f"must be one of {MODEL_DISPOSITIONS}, got {m['disposition']!r}"
            )
    ver = r.obj(top["verification"], "verification", _VERIFICATION)
    if not isinstance(ver["clean"], bool):
        r.fail("verification.clean", f"must be true or false, got {ver['clean']!r}")
    for key in ("targets_checked", "objects_scanned", "residual", "remaining"):
        r.count(ver[key], f"verification.{key}")
    for i, root in enumerate(r.items(ver["roots"], "verification.roots")):
        r.text(root, f"verification.roots[{i}]")
    ledger = r.obj(top["ledger"], "ledger", ("origin", "checkpoint", "events"))
    r.text(ledger["origin"], "ledger.origin")
    r.text(ledger["checkpoint"], "ledger.checkpoint")
    raw_events = r.obj(ledger["events"], "ledger.events", tuple(EVENT_KINDS))
    events = []
    for name in EVENT_KINDS:
        e = r.obj(raw_events[name], f"ledger.events.{name}", ("index", "entry", "proof"))
        proof = tuple(
            r.digest(h, f"ledger.events.{name}.proof[{i}]")
            for i, h in enumerate(r.items(e["proof"], f"ledger.events.{name}.proof"))
        )
        entry = r.text(e["entry"], f"ledger.events.{name}.entry")
        events.append(
            _Event(name, r.count(e["index"], f"ledger.events.{name}.index"), _utf8(entry, error), proof)
        )
    return _Parsed(
        order=order,
        times=times,
        counts=counts,
        erased_root=r.digest(erased["merkle_root"], "erased.merkle_root"),
        erased_count=r.count(erased["count"], "erased.count"),
        models=models,
        verification=ver,
        origin=ledger["origin"],
        checkpoint_note=ledger["checkpoint"],
        events=tuple(events),
    )


# The checks.


def _check_signature(doc: Mapping[str, Any], trusted: Mapping[tuple[str, bytes], NoteVerifier]) -> str:
    r = JsonReader(VerificationFailed)
    sig = r.obj(doc["signature"], "signature", ("alg", "key", "value"))
    if sig["alg"] != "Ed25519":
        r.fail("signature.alg", f"must be 'Ed25519', got {sig['alg']!r}")
    try:
        signer = NoteVerifier.parse(r.text(sig["key"], "signature.key"))
    except InputError as exc:
        raise VerificationFailed(f"malformed certificate: signature.key: {exc.message}") from exc
    if verifier_key(signer.name, signer.public_key) != sig["key"]:
        r.fail("signature.key", f"is not in the one canonical verifier key form: {sig['key']!r}")
    value = _b64decode(sig["value"])
    if value is None or len(value) != 64:
        r.fail("signature.value", "must be the base64 of a 64-byte Ed25519 signature")
    known = trusted.get((signer.name, signer.key_id))
    if known is None or _raw(known.public_key) != _raw(signer.public_key):
        raise VerificationFailed(
            f"the certificate is signed by {sig['key']}, which is not a trusted key",
            hint=f"trusted: {sorted(f'{n}+{k.hex()}' for n, k in trusted)}; pass the issuer's public key, "
            "or its keyring if the key has since been rotated",
        )
    try:
        known.public_key.verify(value, signing_payload(doc))
    except InvalidSignature:
        raise VerificationFailed(
            f"the signature by {signer.name}+{signer.key_id.hex()} does not verify: "
            "the certificate was altered after it was signed"
        ) from None
    return f"{signer.name}+{signer.key_id.hex()}"


def _check_inclusion(p: _Parsed, checkpoint: Checkpoint, error: type[DisgorgeError]) -> list[str]:
    done = []
    for e in p.events:
        try:
            verify_inclusion(leaf_hash(e.entry), e.index, checkpoint.size, e.proof, checkpoint.root_hash)
        except VerificationFailed as exc:
            raise error(
                f"ledger event {e.name!r} (entry {e.index}) is not proven in the checkpoint's tree of "
                f"size {checkpoint.size}: {exc.message}"
            ) from exc
        done.append(f"the {e.name} event is entry {e.index} of the checkpoint's tree (RFC 9162 inclusion)")
    return done


def _check_consistency(p: _Parsed, error: type[DisgorgeError]) -> list[str]:
    plan_id, requester, approvers = p.order["plan_id"], p.order["requester"], p.order["approvers"]
    if not approvers:
        raise error("the order has no approvers: an erasure is certified only once approved")
    if requester in approvers:
        raise error(f"approver {requester!r} is also the requester: approval must come from someone else")
    if len(set(approvers)) != len(approvers):
        raise error(f"an approver is listed twice: {approvers}")
    for before, after in itertools.pairwise(TIMELINE):
        if p.times[after] < p.times[before]:
            raise error(
                f"order.{after} ({p.order[after]}) is earlier than order.{before} ({p.order[before]}): "
                "the timeline is out of order"
            )
    ver = p.verification
    if not ver["clean"] or ver["residual"] or ver["remaining"]:
        raise error(
            f"verification is not clean (residual {ver['residual']}, remaining {ver['remaining']}): "
            "a certificate of destruction needs a clean verification"
        )
    if p.counts["assets"] != p.erased_count:
        raise error(f"counts.assets is {p.counts['assets']} but the erased set holds {p.erased_count} assets")
    if p.counts["models"] != len(p.models):
        raise error(f"counts.models is {p.counts['models']} but {len(p.models)} models are listed")
    if p.erased_count == 0 and p.erased_root != EMPTY_ROOT:
        raise error("erased.merkle_root must be the empty tree's root when no asset is erased")
    if len({m["sha256"] for m in p.models}) != len(p.models):
        raise error("a model is listed twice (same sha256)")
    logged = {e.name: _event_entry(e, plan_id, error) for e in p.events}
    claims = {
        "plan": {k: p.order[k] for k in ("scope", "reason", "legal_basis", "requester")},
        "completion": {"erased_root": p.erased_root.hex(), "erased": p.erased_count},
    }
    for event, fields in claims.items():
        for key, value in fields.items():
            if key in logged[event] and logged[event][key] != value:
                raise error(
                    f"the certificate says {key} {value!r}, but the logged {event} says {logged[event][key]!r}"
                )
    if "approver" in logged["approval"] and logged["approval"]["approver"] not in approvers:
        raise error(
            f"the logged approval is by {logged['approval']['approver']!r}, who is not among the approvers"
        )
    indices = [e.index for e in p.events]
    if indices != sorted(set(indices)):
        raise error(f"ledger events are out of order: plan, approval, completion at entries {indices}")
    return [
        f"{len(approvers)} approver(s), none of them the requester",
        "timeline in order: planned <= approved <= completed <= verified <= issued",
        "verification clean, counts agree with the erased set and the model list",
        f"the plan, approval and completion entries name plan {plan_id}, agree with the certificate "
        "and are in ledger order",
    ]


def _event_entry(e: _Event, plan_id: str, error: type[DisgorgeError]) -> dict[str, Any]:
    """An event's logged entry, once it is canonical JSON of the right kind for this plan."""
    what = f"ledger event {e.name!r} entry"
    entry = parse_strict_json(e.entry, what, error)
    require_canonical(e.entry, entry, what, error)
    if not isinstance(entry, dict) or entry.get("kind") != EVENT_KINDS[e.name]:
        got = entry.get("kind") if isinstance(entry, dict) else json_type(entry)
        raise error(f"{what} must have kind {EVENT_KINDS[e.name]!r}, got {got!r}")
    if entry.get("plan_id") != plan_id:
        raise error(f"{what} is for plan {entry.get('plan_id')!r}, not this certificate's {plan_id!r}")
    return entry


# Helpers.


def _erased_set(keyed_hashes: Sequence[bytes]) -> list[bytes]:
    for i, k in enumerate(keyed_hashes):
        if not isinstance(k, bytes) or len(k) != 32:
            raise InputError(f"erased keyed hash {i} must be 32 bytes (HMAC-SHA256), got {k!r}")
    keys = sorted(keyed_hashes)
    for a, b in itertools.pairwise(keys):
        if a == b:
            raise InputError(f"keyed hash {a.hex()} is listed twice in the erased set")
    return keys


def _unverified_checkpoint(note: str, origin: str) -> Checkpoint:
    """The checkpoint a note claims, signature unchecked: for catching a bad certificate before signing."""
    split = note.rfind("\n\n") if isinstance(note, str) else -1
    try:
        checkpoint = Checkpoint.parse(note[: split + 1]) if split >= 0 else None
    except VerificationFailed as exc:
        raise InputError(f"checkpoint_note: {exc.message}") from exc
    if checkpoint is None:
        raise InputError("checkpoint_note is not a signed note (no blank line before a signature)")
    if checkpoint.origin != origin:
        raise InputError(f"the checkpoint is for origin {checkpoint.origin!r}, not {origin!r}")
    return checkpoint


def _index_trusted(keys: Iterable[str | NoteVerifier]) -> dict[tuple[str, bytes], NoteVerifier]:
    out = {}
    for key in keys:
        v = key if isinstance(key, NoteVerifier) else NoteVerifier.parse(key)
        out[(v.name, v.key_id)] = v
    if not out:
        raise InputError("no trusted keys given", hint="pass the issuer's public key with --key")
    return out


def _utf8(text: str, error: type[DisgorgeError]) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise error("malformed certificate: a ledger entry holds a lone surrogate") from exc


def _utf8_text(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{what} is not UTF-8") from exc


def _raw(public_key: Any) -> bytes:
    return bytes(public_key.public_bytes(Encoding.Raw, PublicFormat.Raw))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64decode(text: Any) -> bytes | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return data if _b64(data) == text else None


# Shared with later certificate formats (disgorge.certificate.v2).
check_signature = _check_signature
erased_set = _erased_set
index_trusted = _index_trusted
