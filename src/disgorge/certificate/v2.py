"""Certificates of destruction, format ``disgorge-certificate/2``: every claim checkable offline from
signatures and proofs, and none resting on the issuer's word alone.

What v2 adds to v1 (:mod:`disgorge.ledger.certificate`): the people. The request, each approval, each
execution and its end, and each resolution are statements signed by the person who made them
(:mod:`disgorge.trust.statements`); the roster that says whose key is whose, and with which roles, is
itself a chain of signed statements from the catalog's genesis. All of them are ledger entries, carried
verbatim with RFC 9162 inclusion proofs against one checkpoint, which may carry witness cosignatures
(C2SP tlog-cosignature). A verifier folds the roster, re-checks the approval rule as of each signature,
and states the verification's coverage (and whether any residual scan ran) as it was recorded::

    {"format": "disgorge-certificate/2", "catalog": "<catalog id>",
     "order": {"plan_id", "scope", "reason", "legal_basis", "deadline", "requester", "approvers",
               "approval_rule", "planned_at", "approved_at", "completed_at", "verified_at", "issued_at"},
     "counts": {...}, "erased": {"leaf", "count", "merkle_root"},
     "models": [{"name", "sha256", "disposition": "destroyed" | "retrained", "copies", "detail"}],
     "verification": {"clean", "targets_checked", "identity_checks": {check: n}, "residual_scan",
                      "scans": [{"roots", "objects", "bytes", "matcher", "radius", "residual"}]},
     "recipients": [{"party", "notice_id", "written_at", "delivered_at", "acknowledged_at",
                     "acknowledged_by", "channel": "webhook" | "command" | null}],
     "ledger": {"origin", "checkpoint": "<signed note, cosignatures included>",
                "entries": [{"role", "index", "entry": "<JSON text>", "proof": [hex]}]},
     "signature": {"alg": "Ed25519", "key", "value"}}

Entry roles: ``roster`` (every roster statement before the last erasure statement), ``request``,
``approval``, ``execute``, ``executed``, ``resolution`` (statements), ``plan`` and ``completion``
(the catalog's own events). Recipients (:mod:`disgorge.trust.notices`): a recipient listed as delivered
has its ``delivery`` event (the notice as delivered, whose hash is its notice id) and the ``channel``
binding that notice names (a ``recipient.set`` statement by an admin of the roster then); one listed
as acknowledged has its ``ack`` (a ``notice.ack`` statement about that notice id, signed by the key
the binding names). A model listed as ``retrained`` (exact unlearning instead of destruction) has its
``retrain`` entry, the ``model_retrained`` event, and is checked against it
(:mod:`disgorge.certificate.retrained`). Pure code: bytes and dicts in and out.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from disgorge.certificate.recipients import check_recipients
from disgorge.certificate.retrained import check_retrained
from disgorge.errors import DisgorgeError, InputError, VerificationFailed
from disgorge.ledger.audit import JsonReader, canonical_bytes, parse_strict_json, require_canonical
from disgorge.ledger.certificate import (
    COUNT_KINDS,
    ERASED_LEAF,
    check_signature,
    erased_set,
    index_trusted,
    load_certificate,
    signing_payload,
)
from disgorge.ledger.cosignature import verify_cosigned_checkpoint
from disgorge.ledger.merkle import EMPTY_ROOT, leaf_hash, root_from_leaf_hashes, verify_inclusion
from disgorge.ledger.note import Checkpoint, NoteVerifier, verifier_key, verify_checkpoint
from disgorge.trust import ApprovalRule, Signed, authorize, fold, parse, verify_signature
from disgorge.trust.notices import CHANNEL_KINDS

FORMAT = "disgorge-certificate/2"
ROLES = (
    "roster",
    "request",
    "approval",
    "execute",
    "executed",
    "resolution",
    "plan",
    "completion",
    "channel",
    "delivery",
    "ack",
    "retrain",
)
STATEMENT_ROLE = {
    "roster": ("roster.genesis", "roster.add", "roster.update", "roster.revoke"),
    "request": ("erasure.request",),
    "approval": ("erasure.approve",),
    "execute": ("erasure.execute",),
    "executed": ("erasure.executed",),
    "resolution": ("erasure.resolve",),
    "channel": ("recipient.set",),
    "ack": ("notice.ack",),
}
EVENT_ROLE = {
    "plan": "erasure_plan",
    "completion": "erasure_completion",
    "delivery": "notice_delivered",
    "retrain": "model_retrained",
}
RECIPIENT = (
    "party",
    "notice_id",
    "written_at",
    "delivered_at",
    "acknowledged_at",
    "acknowledged_by",
    "channel",
)
DISPOSITIONS = ("destroyed", "retrained")
TIMELINE = ("planned_at", "approved_at", "completed_at", "verified_at", "issued_at")
_TOP = ("format", "catalog", "order", "counts", "erased", "models", "verification", "recipients", "ledger")
_ORDER = (
    "plan_id",
    "scope",
    "reason",
    "legal_basis",
    "deadline",
    "requester",
    "approvers",
    "approval_rule",
    *TIMELINE,
)


@dataclass(frozen=True)
class Entry:
    role: str
    index: int
    entry: bytes
    proof: tuple[bytes, ...]

    def doc(self, error: type[DisgorgeError]) -> dict[str, Any]:
        what = f"ledger entry {self.index} ({self.role})"
        value = parse_strict_json(self.entry, what, error)
        require_canonical(self.entry, value, what, error)
        if not isinstance(value, dict):
            raise error(f"{what} is not a JSON object")
        return value

    def statement(self, error: type[DisgorgeError]) -> Signed:
        doc = self.doc(error)
        if doc.get("kind") not in STATEMENT_ROLE[self.role]:
            raise error(f"ledger entry {self.index} ({self.role}) is a {doc.get('kind')!r} entry")
        try:
            return parse(
                {"statement": doc.get("statement"), "signature": doc.get("signature")}, f"entry {self.index}"
            )
        except VerificationFailed as exc:
            raise error(exc.message) from exc


@dataclass(frozen=True)
class CertificateCheck:
    plan_id: str
    signed_by: str
    checkpoint: Checkpoint
    witnesses: tuple[tuple[str, int], ...]
    requester: str
    approvers: tuple[str, ...]
    erased_root: str
    erased_count: int
    residual_scan: bool
    checks: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "plan_id": self.plan_id,
            "signed_by": self.signed_by,
            "checkpoint": {"origin": self.checkpoint.origin, "size": self.checkpoint.size},
            "witnesses": [{"name": n, "time": t} for n, t in self.witnesses],
            "requester": self.requester,
            "approvers": list(self.approvers),
            "erased": {"merkle_root": self.erased_root, "count": self.erased_count},
            "residual_scan": self.residual_scan,
            "checks": list(self.checks),
        }


def build(
    *,
    catalog: str,
    order: Mapping[str, Any],
    counts: Mapping[str, int],
    erased_keyed_hashes: Sequence[bytes],
    models: Sequence[Mapping[str, Any]],
    verification: Mapping[str, Any],
    recipients: Sequence[Mapping[str, Any]],
    origin: str,
    checkpoint_note: str,
    entries: Sequence[tuple[str, int, bytes, Sequence[bytes]]],
) -> dict[str, Any]:
    """An unsigned v2 certificate, checked as a verifier would (signatures of statements included), so
    the issuer never produces what its own verifier rejects."""
    keys = erased_set(erased_keyed_hashes)
    doc = {
        "format": FORMAT,
        "catalog": catalog,
        "order": dict(order),
        "counts": dict(counts),
        "erased": {
            "leaf": ERASED_LEAF,
            "count": len(keys),
            "merkle_root": root_from_leaf_hashes([leaf_hash(k) for k in keys]).hex(),
        },
        "models": sorted(
            (dict(m) for m in models), key=lambda m: (str(m.get("name") or ""), str(m["sha256"]))
        ),
        "verification": dict(verification),
        "recipients": sorted((dict(r) for r in recipients), key=lambda r: str(r.get("party"))),
        "ledger": {
            "origin": origin,
            "checkpoint": checkpoint_note,
            "entries": [
                {"role": role, "index": i, "entry": e.decode("utf-8"), "proof": [h.hex() for h in proof]}
                for role, i, e, proof in sorted(entries, key=lambda x: x[1])
            ],
        },
    }
    canonical_bytes(doc, "the certificate")
    parsed = _parse(doc, InputError, signed=False)
    checkpoint = Checkpoint.parse(checkpoint_note.split("\n\n", 1)[0] + "\n")
    _check_inclusion(parsed, checkpoint, InputError)
    _check_story(parsed, InputError, require_scan=False)
    return doc


def sign(doc: Mapping[str, Any], private_key: Ed25519PrivateKey, key_name: str) -> dict[str, Any]:
    import base64

    unsigned = {k: v for k, v in doc.items() if k != "signature"}
    value = private_key.sign(signing_payload(unsigned))
    key = verifier_key(key_name, private_key.public_key())
    return {
        **unsigned,
        "signature": {"alg": "Ed25519", "key": key, "value": base64.b64encode(value).decode()},
    }


def verify(
    data: bytes | Mapping[str, Any],
    log_keys: Iterable[str | NoteVerifier],
    *,
    witness_keys: Sequence[str] = (),
    min_witnesses: int = 1,
    require_scan: bool = False,
) -> CertificateCheck:
    """Check a v2 certificate offline; VerificationFailed naming the first check (or attack) that fails."""
    trusted = index_trusted(log_keys)
    checks: list[str] = []
    if isinstance(data, bytes | bytearray):
        doc = load_certificate(bytes(data))
        checks.append("the file is canonical JSON (RFC 8785) without duplicate keys")
    else:
        doc = dict(data)
    p = _parse(doc, VerificationFailed, signed=True)
    checks.append(f"format {FORMAT}, every member present and well-typed")
    signer = check_signature(doc, trusted)
    checks.append(f"Ed25519 signature by trusted log key {signer}")
    witnesses: list[tuple[str, int]] = []
    try:
        if witness_keys:
            checkpoint, witnesses = verify_cosigned_checkpoint(
                p.checkpoint_note, p.origin, list(trusted.values()), witness_keys, min_witnesses=min_witnesses
            )
        else:
            checkpoint = verify_checkpoint(p.checkpoint_note, p.origin, list(trusted.values()))
    except VerificationFailed as exc:
        raise VerificationFailed(f"ledger checkpoint: {exc.message}", hint=exc.hint) from exc
    checks.append(f"checkpoint of {p.origin!r} at size {checkpoint.size} signed by a trusted log key")
    if witnesses:
        names = ", ".join(f"{n} (at {t})" for n, t in witnesses)
        checks.append(
            f"the checkpoint is cosigned by trusted witness(es) {names}: the log was not rewritten before it"
        )
    checks.append(_check_inclusion(p, checkpoint, VerificationFailed))
    story = _check_story(p, VerificationFailed, require_scan=require_scan)
    checks.extend(story.checks)
    return CertificateCheck(
        plan_id=p.order["plan_id"],
        signed_by=signer,
        checkpoint=checkpoint,
        witnesses=tuple(witnesses),
        requester=story.requester,
        approvers=tuple(story.approvers),
        erased_root=p.erased_root.hex(),
        erased_count=p.erased_count,
        residual_scan=bool(p.verification["residual_scan"]),
        checks=tuple(checks),
    )


@dataclass(frozen=True)
class _Parsed:
    catalog: str
    order: Mapping[str, Any]
    counts: Mapping[str, int]
    erased_root: bytes
    erased_count: int
    models: Sequence[Mapping[str, Any]]
    verification: Mapping[str, Any]
    recipients: Sequence[Mapping[str, Any]]
    origin: str
    checkpoint_note: str
    entries: tuple[Entry, ...]


def _parse(doc: Mapping[str, Any], error: type[DisgorgeError], *, signed: bool) -> _Parsed:
    r = JsonReader(error)
    if doc.get("format") != FORMAT:
        raise error(f"unsupported certificate format {doc.get('format')!r}; this verifier reads {FORMAT!r}")
    top = r.obj(dict(doc), "the document", (*_TOP, "signature") if signed else _TOP)
    r.text(top["catalog"], "catalog")
    order = r.obj(top["order"], "order", _ORDER)
    for key in ("plan_id", "reason", "legal_basis", "requester"):
        r.text(order[key], f"order.{key}")
    r.obj(order["scope"], "order.scope", ("kind", "value"))
    for i, a in enumerate(r.items(order["approvers"], "order.approvers")):
        r.text(a, f"order.approvers[{i}]")
    for key in TIMELINE:
        r.time(order[key], f"order.{key}")
    counts = r.obj(top["counts"], "counts", COUNT_KINDS)
    for kind in COUNT_KINDS:
        r.count(counts[kind], f"counts.{kind}")
    erased = r.obj(top["erased"], "erased", ("leaf", "count", "merkle_root"))
    if erased["leaf"] != ERASED_LEAF:
        r.fail("erased.leaf", f"must be {ERASED_LEAF!r}")
    models = r.items(top["models"], "models")
    for i, m in enumerate(models):
        r.obj(m, f"models[{i}]", ("name", "sha256", "disposition", "copies", "detail"))
        if m["name"] is not None:
            r.text(m["name"], f"models[{i}].name")
        r.digest(m["sha256"], f"models[{i}].sha256")
        r.count(m["copies"], f"models[{i}].copies")
        if m["disposition"] not in DISPOSITIONS:
            r.fail(f"models[{i}].disposition", f"must be one of {DISPOSITIONS}")
        if m["detail"] is not None and not isinstance(m["detail"], dict):
            r.fail(f"models[{i}].detail", "must be an object or null")
    ver = r.obj(
        top["verification"],
        "verification",
        ("clean", "targets_checked", "identity_checks", "residual_scan", "scans", "residual", "remaining"),
    )
    for key in ("clean", "residual_scan"):
        if not isinstance(ver[key], bool):
            r.fail(f"verification.{key}", "must be true or false")
    for key in ("targets_checked", "residual", "remaining"):
        r.count(ver[key], f"verification.{key}")
    checks = r.obj(ver["identity_checks"], "verification.identity_checks", tuple(ver["identity_checks"]))
    for k, n in checks.items():
        r.count(n, f"verification.identity_checks.{k}")
    for i, sc in enumerate(r.items(ver["scans"], "verification.scans")):
        r.obj(
            sc,
            f"verification.scans[{i}]",
            ("at", "roots", "objects", "bytes", "matcher", "radius", "residual"),
        )
        for j, root in enumerate(r.items(sc["roots"], f"verification.scans[{i}].roots")):
            r.text(root, f"verification.scans[{i}].roots[{j}]")
        for key in ("objects", "bytes", "radius", "residual"):
            r.count(sc[key], f"verification.scans[{i}].{key}")
    recipients = r.items(top["recipients"], "recipients")
    for i, rc in enumerate(recipients):
        r.obj(rc, f"recipients[{i}]", RECIPIENT)
        r.text(rc["party"], f"recipients[{i}].party")
        for key in ("written_at", "delivered_at", "acknowledged_at"):
            if rc[key] is not None:
                r.time(rc[key], f"recipients[{i}].{key}")
        if rc["notice_id"] is not None:
            r.digest(rc["notice_id"], f"recipients[{i}].notice_id")
        if rc["acknowledged_by"] is not None:
            r.text(rc["acknowledged_by"], f"recipients[{i}].acknowledged_by")
        if rc["channel"] not in (None, *CHANNEL_KINDS):
            r.fail(f"recipients[{i}].channel", f"must be one of {CHANNEL_KINDS} or null")
    ledger = r.obj(top["ledger"], "ledger", ("origin", "checkpoint", "entries"))
    entries = []
    for i, e in enumerate(r.items(ledger["entries"], "ledger.entries")):
        r.obj(e, f"ledger.entries[{i}]", ("role", "index", "entry", "proof"))
        if e["role"] not in ROLES:
            r.fail(f"ledger.entries[{i}].role", f"must be one of {ROLES}")
        proof = tuple(
            r.digest(h, f"ledger.entries[{i}].proof[{j}]") for j, h in enumerate(r.items(e["proof"], "proof"))
        )
        text = r.text(e["entry"], f"ledger.entries[{i}].entry")
        try:
            raw = text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise error("malformed certificate: a ledger entry holds a lone surrogate") from exc
        entries.append(Entry(e["role"], r.count(e["index"], f"ledger.entries[{i}].index"), raw, proof))
    indices = [e.index for e in entries]
    if indices != sorted(set(indices)):
        raise error("malformed certificate: ledger entries must be in ledger order, each once")
    return _Parsed(
        catalog=top["catalog"],
        order=order,
        counts=counts,
        erased_root=r.digest(erased["merkle_root"], "erased.merkle_root"),
        erased_count=r.count(erased["count"], "erased.count"),
        models=models,
        verification=ver,
        recipients=recipients,
        origin=r.text(ledger["origin"], "ledger.origin"),
        checkpoint_note=r.text(ledger["checkpoint"], "ledger.checkpoint"),
        entries=tuple(entries),
    )


def _check_inclusion(p: _Parsed, checkpoint: Checkpoint, error: type[DisgorgeError]) -> str:
    for e in p.entries:
        try:
            verify_inclusion(leaf_hash(e.entry), e.index, checkpoint.size, e.proof, checkpoint.root_hash)
        except VerificationFailed as exc:
            raise error(
                f"ledger entry {e.index} ({e.role}) is not proven in the checkpoint's tree of size "
                f"{checkpoint.size}: {exc.message}"
            ) from exc
    return f"all {len(p.entries)} statements and events are entries of the checkpoint's tree (RFC 9162 inclusion)"


@dataclass(frozen=True)
class _Story:
    requester: str
    approvers: list[str]
    checks: list[str]


def _check_story(p: _Parsed, error: type[DisgorgeError], *, require_scan: bool) -> _Story:
    plan_id = p.order["plan_id"]
    by_role: dict[str, list[Entry]] = {role: [e for e in p.entries if e.role == role] for role in ROLES}
    for role in ("request", "plan", "completion", "executed"):
        if len(by_role[role]) != 1:
            raise error(f"the certificate must carry exactly one {role} entry, it has {len(by_role[role])}")
    if not by_role["approval"] or not by_role["execute"]:
        raise error("the certificate carries no approval or no execution statement")
    try:
        roster = [(e.index, e.statement(error)) for e in by_role["roster"]]
        request = (by_role["request"][0].index, by_role["request"][0].statement(error))
        approvals = [(e.index, e.statement(error)) for e in by_role["approval"]]
        rule = ApprovalRule.from_json(p.order["approval_rule"])
        auth = authorize(p.catalog, plan_id, roster, request, approvals, rule=rule)
    except VerificationFailed as exc:
        raise error(f"the plan's authority does not verify: {exc.message}") from exc
    if auth.rejected:
        raise error(f"an approval in the certificate does not count: {auth.rejected[0]}")
    if not auth.complete:
        raise error(f"{len(auth.approvals)} of {auth.rule.required} required approvals verify")
    if auth.requester != p.order["requester"] or auth.approvers != list(p.order["approvers"]):
        raise error(
            f"the order names requester {p.order['requester']!r} and approvers {p.order['approvers']}, "
            f"but the signatures are by {auth.requester!r} and {auth.approvers}"
        )
    body = request[1].body
    for key in ("scope", "reason", "legal_basis", "deadline"):
        if body.get(key) != p.order[key]:
            raise error(f"order.{key} is {p.order[key]!r}, but the signed request says {body.get(key)!r}")
    last = max(e.index for e in p.entries if e.role in STATEMENT_ROLE and e.role != "roster")
    for role in ("execute", "executed", "resolution"):
        for e in by_role[role]:
            s = e.statement(error)
            try:
                verify_signature(s, f"the {role} statement")
            except VerificationFailed as exc:
                raise error(exc.message) from exc
            member = fold(p.catalog, roster, upto=e.index).active(s.principal)
            allowed = {"requester", "admin"} if role != "resolution" else {"approver"}
            if s.about != plan_id or s.statement["catalog"] != p.catalog:
                raise error(f"the {role} statement at entry {e.index} is about another plan or catalog")
            if member is None or member.key != s.key or not member.roles & allowed:
                raise error(
                    f"the {role} statement at entry {e.index} is by {s.principal!r}, who could not make it then"
                )
    end = by_role["executed"][0].statement(error)
    journal = end.body.get("journal")
    if (
        end.body.get("status") != "done"
        or not isinstance(journal, dict)
        or not all(
            isinstance(states, dict) and set(states) <= {"done", "resolved"} for states in journal.values()
        )
    ):
        raise error("the signed end of execution does not say every target was done or resolved")
    if roster and any(e.index > last for e in by_role["roster"]):
        raise error("the certificate carries roster statements after the plan's last statement")
    plan_event = by_role["plan"][0].doc(error)
    completion = by_role["completion"][0].doc(error)
    for name, doc, kind in (
        ("plan", plan_event, "erasure_plan"),
        ("completion", completion, "erasure_completion"),
    ):
        if doc.get("kind") != kind or doc.get("plan_id") != plan_id:
            raise error(f"the {name} entry is not this plan's {kind} event")
    if completion.get("erased_root") != p.erased_root.hex() or completion.get("erased") != p.erased_count:
        raise error("the erased set does not match the logged completion (root or count differ)")
    times = {k: p.order[k] for k in TIMELINE}
    for before, after in itertools.pairwise(TIMELINE):
        if times[after] < times[before]:
            raise error(f"order.{after} is earlier than order.{before}: the timeline is out of order")
    ver = p.verification
    if not ver["clean"] or ver["residual"] or ver["remaining"]:
        raise error("verification is not clean: a certificate of destruction needs a clean verification")
    if ver["residual_scan"] != bool(ver["scans"]):
        raise error("verification.residual_scan disagrees with the scans listed")
    if require_scan and not ver["residual_scan"]:
        raise error(
            "no residual scan ran for this certificate: it proves the planned targets are gone, not that no copy "
            "survives elsewhere (--require-scan)"
        )
    if p.counts["assets"] != p.erased_count or p.counts["models"] != len(p.models):
        raise error("counts disagree with the erased set or the model list")
    if p.erased_count == 0 and p.erased_root != EMPTY_ROOT:
        raise error("erased.merkle_root must be the empty tree's root when no asset is erased")
    if len({m["sha256"] for m in p.models}) != len(p.models):
        raise error("a model is listed twice (same sha256)")
    recipients = check_recipients(
        catalog=p.catalog,
        plan_id=plan_id,
        recipients=p.recipients,
        notified=p.counts["recipients_notified"],
        deliveries=[(e.index, e.doc(error)) for e in by_role["delivery"]],
        channels=[(e.index, e.statement(error)) for e in by_role["channel"]],
        acks=[(e.index, e.statement(error)) for e in by_role["ack"]],
        roster=roster,
        error=error,
    )
    retrained = check_retrained(p.models, [e.doc(error) for e in by_role["retrain"]], plan_id, error)
    scanned = (
        f"residual scans of {sum(len(s['roots']) for s in ver['scans'])} root(s), "
        f"{sum(s['objects'] for s in ver['scans'])} objects, found nothing"
        if ver["residual_scan"]
        else "NO residual scan ran: only the planned targets were checked to be gone"
    )
    return _Story(
        auth.requester,
        auth.approvers,
        [
            f"requested by {auth.requester}, approved by {', '.join(auth.approvers)}: signatures verify against "
            f"the roster ({len(roster)} signed roster statements) as of each signature; rule: {auth.rule.required} "
            "approver(s), none the requester",
            f"executed by {', '.join(sorted({e.statement(error).principal for e in by_role['execute']}))}, "
            "each on the roster when signing",
            "the signed request's order matches the certificate; the timeline is in order",
            f"verification clean: {ver['targets_checked']} targets gone; {scanned}",
            recipients,
            *([retrained] if retrained else []),
        ],
    )
