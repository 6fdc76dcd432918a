"""The home's signing identity and what it signs: C2SP checkpoints of the ledger (RFC 9162 tree) and
certificates of destruction that an auditor verifies offline."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from disgorge.catalog import CatalogStore
from disgorge.errors import InputError, NotFoundError, VerificationFailed
from disgorge.ledger.audit import verify_log
from disgorge.ledger.certificate import (
    EVENT_KINDS,
    build_certificate,
    dump_certificate,
    erased_asset_proof,
    sign_certificate,
)
from disgorge.ledger.keys import Keyring, init_keys, load_signing_key, public_key_text
from disgorge.ledger.merkle import leaf_hash
from disgorge.ledger.note import Checkpoint, sign_checkpoint, verify_checkpoint
from disgorge.ledger.tree import MerkleTreeStore

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

    def checkpoint(self) -> dict[str, Any]:
        """Sign the ledger's current size and root as a C2SP checkpoint and keep it."""
        tree, _ = _tree(self.store)
        if len(tree) == 0:
            raise InputError("the ledger is empty: nothing to checkpoint")
        root = tree.root()
        note = sign_checkpoint(
            Checkpoint(self.identity.origin, len(tree), root), self.identity.private_key(), self.identity.name
        )
        self.store.save_checkpoint(len(tree), root.hex(), note)
        return {"origin": self.identity.origin, "size": len(tree), "root": root.hex(), "checkpoint": note}

    def latest_checkpoint(self) -> tuple[int, str, str]:
        cps = self.store.checkpoints()
        if not cps:
            raise NotFoundError("no ledger checkpoint yet", hint="sign one with `disgorge ledger checkpoint`")
        return cps[-1]

    def verify(self, earlier: str | None = None) -> dict[str, Any]:
        """Recompute the tree from every entry; check every stored checkpoint, and an earlier one kept
        elsewhere (``earlier``), against it: any edit, truncation, reordering or fork fails."""
        _, entries = _tree(self.store)
        notes = [note for _, _, note in self.store.checkpoints()]
        trusted = self.identity.trusted()
        if earlier is not None:
            earlier_size = verify_checkpoint(earlier, self.identity.origin, trusted).size
            sizes = [Checkpoint.parse(_body(n)).size for n in notes]
            notes.insert(sum(1 for x in sizes if x <= earlier_size), earlier)
        verify_log(entries, notes, trusted, self.identity.origin, allow_unsigned_tail=True)
        return {
            "origin": self.identity.origin,
            "entries": len(entries),
            "checkpoints": len(notes),
            "ok": True,
        }

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


def _body(note: str) -> str:
    return note.split("\n\n", 1)[0] + "\n"


def issue_certificate(store: CatalogStore, identity: SigningIdentity, plan_ref: str) -> dict[str, Any]:
    """Sign a certificate of destruction for a completed, cleanly verified plan, with a fresh checkpoint and
    inclusion proofs of the plan, approval and completion events."""
    plan = store.get_plan(plan_ref)
    verification = store.verification(plan.id)
    if plan.status != "done":
        raise InputError(
            f"plan {plan.id[:12]} is {plan.status}", hint="a certificate needs a completed erasure"
        )
    if not verification or not verification.get("clean"):
        raise InputError(
            f"plan {plan.id[:12]} has no clean verification",
            hint=f"run: disgorge erase verify {plan.id[:12]} --scan ROOT",
        )
    times = store.plan_timeline(plan.id)
    events: dict[str, tuple[int, bytes]] = {}
    for name, kind in EVENT_KINDS.items():
        found = store.find_ledger_entries(kind, plan.id)
        if not found:
            raise VerificationFailed(f"the ledger has no {kind} event for plan {plan.id[:12]}")
        events[name] = (found[0][0], found[0][1].encode())
    proofs = Proofs(store, identity)
    cp = proofs.checkpoint()
    tree, _ = _tree(store)
    size = cp["size"]
    models: dict[str, dict[str, Any]] = {}
    for t in store.targets(plan.id):
        if t.kind == "model_copy":
            m = models.setdefault(
                t.identity["sha256"],
                {"name": None, "sha256": t.identity["sha256"], "disposition": "destroyed", "copies": 0},
            )
            m["copies"] += 1
    for sha, m in models.items():
        try:
            m["name"] = store.resolve_artifact(sha, kind="model").name
        except NotFoundError:
            m["name"] = None
    c = plan.counts
    now = datetime.now(UTC)
    doc = build_certificate(
        order={
            "plan_id": plan.id,
            "scope": plan.scope,
            "reason": plan.reason,
            "legal_basis": plan.legal_basis,
            "requester": plan.requester,
            "approvers": [a for a, _ in times["approvals"]],
            "deadline": plan.deadline,
            "planned_at": times["planned_at"].isoformat(),
            "approved_at": times["approvals"][0][1].isoformat(),
            "completed_at": times["completed_at"].isoformat(),
            "verified_at": verification["at"],
            "issued_at": now.isoformat(),
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
            "recipients_notified": c.get("recipient", 0),
        },
        erased_keyed_hashes=store.plan_tombstones(plan.id),
        models=list(models.values()),
        verification={
            "clean": True,
            "targets_checked": sum(verification.get("checked", {}).values()),
            "objects_scanned": verification.get("scanned", 0),
            "roots": verification.get("roots", []),
            "residual": 0,
            "remaining": 0,
        },
        ledger_origin=identity.origin,
        checkpoint_note=cp["checkpoint"],
        events={name: (i, entry, tree.inclusion_proof(i, size)) for name, (i, entry) in events.items()},
    )
    signed = sign_certificate(doc, identity.private_key(), identity.name)
    store.log_event(
        "certificate",
        {"plan_id": plan.id, "certificate_sha256": hashlib.sha256(dump_certificate(signed)).hexdigest()},
    )
    return signed


def asset_proof(store: CatalogStore, plan_ref: str, sha256: str) -> dict[str, Any]:
    """The proof, for one erased content (named by its sha256), that it is in a plan's erased set."""
    plan = store.get_plan(plan_ref)
    keyed = bytes.fromhex(store.hasher.tag("content", sha256.lower().removeprefix("sha256:")))
    erased = store.plan_tombstones(plan.id)
    if keyed not in erased:
        raise NotFoundError(f"content {sha256[:12]}… was not erased by plan {plan.id[:12]}")
    return erased_asset_proof(erased, keyed)
