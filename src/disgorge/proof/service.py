"""The home's signing identity and what it signs: C2SP checkpoints of the ledger (RFC 9162 tree) and
certificates of destruction that an auditor verifies offline."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from disgorge.catalog import CatalogStore
from disgorge.errors import InputError, NotFoundError, VerificationFailed
from disgorge.ledger.audit import verify_log
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
