"""The home's signing identity and what it signs: C2SP checkpoints of the ledger (RFC 9162 tree) and
certificates of destruction that an auditor verifies offline."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from disgorge.catalog import CatalogStore
from disgorge.errors import InputError, NotFoundError, VerificationFailed
from disgorge.ledger.audit import audit_ledger
from disgorge.ledger.certificate import (
    dump_certificate,
    erased_asset_proof,
)
from disgorge.ledger.keys import Keyring, init_keys, load_signing_key, public_key_text
from disgorge.ledger.merkle import leaf_hash
from disgorge.ledger.note import Checkpoint, sign_checkpoint
from disgorge.ledger.tree import MerkleTreeStore
from disgorge.notices.status import recipient_status

SIGNING_KEY = "signing.key"
KEYRING = "keyring.json"
ORIGIN = "origin.txt"


@dataclass(frozen=True)
class SigningIdentity:
    """A home's Ed25519 key, its name in signature lines, and the log origin its checkpoints carry."""

    keys_dir: Path
    name: str
    origin: str

    @classmethod
    def ensure(cls, keys_dir: Path) -> SigningIdentity:
        """Load the home's identity, creating key (mode 0600), keyring and origin on first use."""
        origin_file = keys_dir / ORIGIN
        if not origin_file.exists():
            keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            name = f"disgorge-{secrets.token_hex(4)}"
            init_keys(keys_dir, keys_dir / KEYRING, name)
            origin_file.write_text(f"disgorge.local/{name}\n")
        origin = origin_file.read_text().strip()
        return cls(keys_dir, origin.rsplit("/", 1)[-1], origin)

    def private_key(self) -> Ed25519PrivateKey:
        return load_signing_key(self.keys_dir / SIGNING_KEY)

    def public_key(self) -> str:
        return public_key_text(self.name, self.private_key())

    def trusted(self) -> list[str]:
        """Every key this home ever signed with: current first, then retired ones."""
        return [e.key for e in Keyring.load(self.keys_dir / KEYRING).entries]


Cosigner = Callable[[str, MerkleTreeStore], list[str]]
"""Given a signed checkpoint note and the tree it commits to, the witnesses' cosignature lines."""


def _tree(store: CatalogStore) -> tuple[MerkleTreeStore, list[bytes]]:
    entries: list[bytes] = []
    tree = MerkleTreeStore()
    for seq, entry, leaf in store.ledger_entries():
        data = entry.encode()
        if leaf_hash(data) != leaf:
            raise VerificationFailed(f"ledger entry {seq}: its stored leaf hash does not match its content")
        entries.append(data)
        tree.append(leaf)
    return tree, entries


class Proofs:
    def __init__(self, store: CatalogStore, identity: SigningIdentity) -> None:
        self.store = store
        self.identity = identity

    def checkpoint(self, *, cosigner: Cosigner | None = None) -> dict[str, Any]:
        """Sign the ledger's current size and root as a C2SP checkpoint, have the witnesses cosign it
        (``cosigner``), and keep it."""
        return self._checkpoint(cosigner)[0]

    def _checkpoint(self, cosigner: Cosigner | None) -> tuple[dict[str, Any], MerkleTreeStore]:
        tree, _ = _tree(self.store)
        if len(tree) == 0:
            raise InputError("the ledger is empty: nothing to checkpoint")
        root = tree.root()
        note = sign_checkpoint(
            Checkpoint(self.identity.origin, len(tree), root), self.identity.private_key(), self.identity.name
        )
        witnessed: list[str] = []
        if cosigner is not None:
            from disgorge.ledger.cosignature import add_cosignatures

            witnessed = cosigner(note, tree)
            note = add_cosignatures(note, witnessed)
        self.store.save_checkpoint(len(tree), root.hex(), note)
        doc = {
            "origin": self.identity.origin,
            "size": len(tree),
            "root": root.hex(),
            "checkpoint": note,
            "cosignatures": len(witnessed),
        }
        return doc, tree

    def latest_checkpoint(self) -> tuple[int, str, str]:
        cps = self.store.checkpoints()
        if not cps:
            raise NotFoundError("no ledger checkpoint yet", hint="sign one with `disgorge ledger checkpoint`")
        return cps[-1]

    def verify(self, earlier: str | None = None) -> dict[str, Any]:
        """Recompute the tree from every entry; check every stored checkpoint, and an earlier one kept
        elsewhere (``earlier``), against it: any edit, truncation, reordering or fork fails."""
        notes = [note for _, _, note in self.store.checkpoints()]
        return audit_ledger(
            self.store.ledger_entries(), notes, self.identity.trusted(), self.identity.origin, earlier
        )

    def prove(self, seq: int) -> dict[str, Any]:
        """An inclusion proof of entry ``seq`` against the latest signed checkpoint."""
        size, root_hex, note = self.latest_checkpoint()
        if seq >= size:
            raise InputError(
                f"entry {seq} is not yet under a checkpoint (size {size})",
                hint="sign a new checkpoint: disgorge ledger checkpoint",
            )
        tree, _ = _tree(self.store)
        entry, leaf = self.store.ledger_entry(seq)
        proof = tree.inclusion_proof(seq, size)
        return {
            "index": seq,
            "entry": entry,
            "leaf": leaf.hex(),
            "tree_size": size,
            "root": root_hex,
            "proof": [base64.b64encode(p).decode() for p in proof],
            "checkpoint": note,
        }

    def consistency(self, old_size: int, new_size: int | None = None) -> dict[str, Any]:
        """An RFC 9162 consistency proof from the tree of ``old_size`` entries to ``new_size`` (default:
        the latest signed checkpoint), so a client holding an older checkpoint sees the log only grew."""
        size, _, note = self.latest_checkpoint()
        new = size if new_size is None else new_size
        if not 0 < old_size <= new <= size:
            raise InputError(
                f"sizes {old_size}..{new} are not within the latest checkpoint (size {size})",
                hint="0 < old ≤ new ≤ the checkpoint's size; sign a new one with disgorge ledger checkpoint",
            )
        tree, _ = _tree(self.store)
        proof = tree.consistency_proof(old_size, new)
        return {
            "old_size": old_size,
            "old_root": tree.root(old_size).hex(),
            "new_size": new,
            "new_root": tree.root(new).hex(),
            "proof": [base64.b64encode(p).decode() for p in proof],
            "checkpoint": note if new == size else None,
        }


def issue_certificate(
    store: CatalogStore,
    identity: SigningIdentity,
    plan_ref: str,
    *,
    cosigner: Cosigner | None = None,
) -> dict[str, Any]:
    """Sign a ``disgorge-certificate/2`` for a completed, cleanly verified plan: its signed statements
    (roster, request, approvals, executions, resolutions) and the plan's own events, each with an
    inclusion proof against a fresh checkpoint (cosigned by the configured witnesses, if any)."""
    from disgorge.access.plans import plan_authorization
    from disgorge.certificate import v2

    plan = store.get_plan(plan_ref)
    verification = store.verification(plan.id)
    if plan.status != "done":
        raise InputError(
            f"plan {plan.id[:12]} is {plan.status}", hint="a certificate needs a completed erasure"
        )
    if not verification or not verification.get("clean"):
        raise InputError(
            f"plan {plan.id[:12]} has no clean verification",
            hint=f"run: disgorge erase verify {plan.id[:12]} --scan ROOT…",
        )
    auth = plan_authorization(store, plan)
    if not auth.complete:
        raise VerificationFailed(f"plan {plan.id[:12]} is not authorised by enough valid approvals")
    st = store.statements
    executes = st.of_kinds(("erasure.execute",), about=plan.id)
    executed = st.of_kinds(("erasure.executed",), about=plan.id)
    resolutions = st.of_kinds(("erasure.resolve",), about=plan.id)
    if not executes or not executed:
        raise InputError(
            f"plan {plan.id[:12]}: the execution is not signed (no erasure.execute / erasure.executed statement)",
            hint="run `disgorge erase run PLAN --execute` with your identity; it signs both",
        )
    if executed[-1][1].body.get("journal") != store.journal_counts(plan.id):
        raise VerificationFailed(
            f"plan {plan.id[:12]}: the journal differs from the one its executor signed at the end of the "
            "execution (edited afterwards)",
            hint="run the plan again; its executor signs the journal it ends with",
        )
    plan_event = store.find_ledger_entries("erasure_plan", plan.id)
    completion = store.find_ledger_entries("erasure_completion", plan.id)
    if not plan_event or not completion:
        raise VerificationFailed(f"the ledger has no plan or completion event for plan {plan.id[:12]}")
    chosen: list[tuple[str, int]] = [
        ("request", auth.request_index),
        *(("approval", i) for i, _ in auth.approvals),
        *(("execute", i) for i, _ in executes),
        ("executed", executed[-1][0]),
        *(("resolution", i) for i, _ in resolutions),
        ("plan", plan_event[0][0]),
        ("completion", completion[0][0]),
    ]
    retrains = _retrain_events(store, plan.id)
    chosen += [("retrain", i) for i, _ in retrains]
    parties = [t.uri.removeprefix("party:") for t in store.targets(plan.id, kinds=("recipient",))]
    recipients, notice_entries = recipient_status(store, plan.id, parties)
    chosen += notice_entries
    last_statement = max(i for role, i in chosen if role not in ("plan", "completion", "delivery"))
    from disgorge.trust import fold

    valid = fold(st.catalog_id(), st.roster(), upto=last_statement)  # junk roster entries stay out
    chosen += [("roster", i) for i, _ in valid.history]
    cp, tree = Proofs(store, identity)._checkpoint(cosigner)
    size = cp["size"]
    entries = []
    for role, i in chosen:
        entry, _leaf = store.ledger_entry(i)
        entries.append((role, i, entry.encode(), tree.inclusion_proof(i, size)))

    def at(i: int) -> str:
        return str(json.loads(store.ledger_entry(i)[0])["at"])

    models: dict[str, dict[str, Any]] = {}
    checks: dict[str, int] = {}
    for kind, evidence in store.target_refs(plan.id, column="evidence"):
        check = _identity_check(kind, evidence or "")
        checks[check] = checks.get(check, 0) + 1
    # a 3M-copy plan's targets are counted from (kind, evidence) alone; only model copies are read whole
    for t in store.targets(plan.id, kinds=("model_copy",)):
        m = models.setdefault(
            t.identity["sha256"],
            {
                "name": None,
                "sha256": t.identity["sha256"],
                "disposition": "destroyed",
                "copies": 0,
                "detail": None,
            },
        )
        m["copies"] += 1
    for sha, m in models.items():
        try:
            m["name"] = store.resolve_artifact(sha, kind="model").name
        except NotFoundError:
            m["name"] = None
    from disgorge.certificate.retrained import expected_details

    for _, event in retrains:  # the old weights' files were destroyed; the model lives on retrained
        for sha, (name, detail) in expected_details(event).items():
            m = models.setdefault(
                sha, {"name": name, "sha256": sha, "disposition": "retrained", "copies": 0, "detail": None}
            )
            m.update(name=name, disposition="retrained", detail=detail)
    c = plan.counts
    scans = verification.get("scans", [])
    doc = v2.build(
        catalog=st.catalog_id(),
        order={
            "plan_id": plan.id,
            "scope": plan.scope,
            "reason": plan.reason,
            "legal_basis": plan.legal_basis,
            "deadline": plan.deadline,
            "requester": auth.requester,
            "approvers": auth.approvers,
            "approval_rule": auth.rule.to_json(),
            "planned_at": at(auth.request_index),
            "approved_at": at(auth.approvals[-1][0]),
            "completed_at": at(completion[0][0]),
            "verified_at": verification["at"],
            "issued_at": datetime.now(UTC).isoformat(),
        },
        counts={
            "assets": c.get("assets", 0),
            "subjects": c.get("subjects", 0),
            "copies": c.get("copy", 0),
            "table_rows": c.get("table_rows_values", 0),
            "derived_artifacts": c.get("artifact_copy", 0),
            "dataset_versions": c.get("dataset", 0),
            "models": len(models),
            "deployments": c.get("deployment", 0),
            "recipients_notified": sum(1 for r in recipients if r["delivered_at"]),
        },
        erased_keyed_hashes=store.plan_tombstones(plan.id),
        models=list(models.values()),
        verification={
            "clean": True,
            "targets_checked": sum(verification.get("checked", {}).values()),
            "identity_checks": checks,
            "residual_scan": bool(scans),
            "scans": scans,
            "residual": 0,
            "remaining": 0,
        },
        recipients=recipients,
        origin=identity.origin,
        checkpoint_note=cp["checkpoint"],
        entries=entries,
    )
    signed = v2.sign(doc, identity.private_key(), identity.name)
    store.log_event(
        "certificate",
        {"plan_id": plan.id, "certificate_sha256": hashlib.sha256(dump_certificate(signed)).hexdigest()},
    )
    return signed


def _retrain_events(store: CatalogStore, plan_id: str) -> list[tuple[int, dict[str, Any]]]:
    """The plan's ``model_retrained`` events, for retrain targets that were done (a resolved one was
    not retrained: its model is destroyed)."""
    done = {
        t.identity.get("model_sha256") for t in store.targets(plan_id, kinds=("retrain",), states=("done",))
    }
    out = []
    for i, text in store.find_ledger_entries("model_retrained", plan_id):
        doc = json.loads(text)
        if doc.get("plan_id") == plan_id and doc.get("model_sha256") in done:
            out.append((i, doc))
    return out


def _identity_check(kind: str, evidence: str) -> str:
    """Which identity check a target passed, from its journal evidence (what the certificate counts)."""
    if kind not in ("copy", "model_copy", "artifact_copy"):
        return kind
    if "sha256" in evidence:
        return "sha256"
    if "already_gone" in evidence:
        return "already_gone"
    return "metadata"


def asset_proof(store: CatalogStore, plan_ref: str, sha256: str) -> dict[str, Any]:
    """The proof, for one erased content (named by its sha256), that it is in a plan's erased set."""
    plan = store.get_plan(plan_ref)
    keyed = bytes.fromhex(store.hasher.tag("content", sha256.lower().removeprefix("sha256:")))
    erased = store.plan_tombstones(plan.id)
    if keyed not in erased:
        raise NotFoundError(f"content {sha256[:12]}… was not erased by plan {plan.id[:12]}")
    return erased_asset_proof(erased, keyed)
