"""Proof: signed ledger checkpoints, log audits, inclusion proofs and certificates of destruction."""

from disgorge.proof.service import Proofs, SigningIdentity

__all__ = ["Proofs", "SigningIdentity"]
