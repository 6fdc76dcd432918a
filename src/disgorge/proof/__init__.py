"""Proof: signed ledger checkpoints, log audits, inclusion proofs and certificates of destruction."""

from disgorge.proof.service import Proofs, SigningIdentity, issue_certificate

__all__ = ["Proofs", "SigningIdentity", "issue_certificate"]
