"""An independent witness for Disgorge's ledger, and the log's client for it (C2SP tlog-witness).

A witness follows logs by origin and verifier key, remembers the latest checkpoint it cosigned for
each, and cosigns a new one (C2SP tlog-cosignature v1) only when a consistency proof shows it extends
that one. An insider holding the log's key can rewrite the log and sign a fresh checkpoint, but no
witness that saw the old one will cosign it. Only the command line imports this package; it depends on
the ledger's formats and the errors alone.
"""

from disgorge.witness.client import (
    WitnessResult,
    consistency_proof_for,
    fetch_latest_checkpoint,
    request_cosignature,
    witness_checkpoint,
)
from disgorge.witness.core import LogConfig, Witness
from disgorge.witness.protocol import SizeConflict
from disgorge.witness.state import WitnessState

__all__ = [
    "LogConfig",
    "SizeConflict",
    "Witness",
    "WitnessResult",
    "WitnessState",
    "consistency_proof_for",
    "fetch_latest_checkpoint",
    "request_cosignature",
    "witness_checkpoint",
]
