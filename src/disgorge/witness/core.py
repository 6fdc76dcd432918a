"""The witness's decision: cosign a log's checkpoint only if it extends the last one cosigned.

Follows C2SP tlog-witness add-checkpoint, in its order of checks, each failure a DisgorgeError whose
HTTP status is the one the spec assigns: a malformed request 400 (InputError), an unknown origin 404
(NotFoundError), no valid signature by a trusted log key 403 (PolicyDenied), an ``old`` size that is not
the stored one 409 with the stored size (SizeConflict), a consistency failure 422 (VerificationFailed).

Per origin, checks and the update run under a lock, and the update is a compare-and-swap on the stored
(size, root), so two racing requests can never both be cosigned from the same state: the race the spec
describes (a smaller checkpoint stored after a larger one) cannot happen, in one process or several.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from disgorge.errors import (
    InputError,
    NotFoundError,
    PolicyDenied,
    VerificationFailed,
)
from disgorge.ledger.cosignature import cosign, cosigner_vkey, split_note
from disgorge.ledger.merkle import EMPTY_ROOT, verify_consistency
from disgorge.ledger.note import NoteVerifier, _parse_signature_line, verify_note
from disgorge.witness.protocol import AddCheckpointRequest, SizeConflict, parse_add_checkpoint
from disgorge.witness.state import Recorded, WitnessState

__all__ = ["LogConfig", "Witness"]


@dataclass(frozen=True)
class LogConfig:
    """A log the witness follows: its origin line and the keys it trusts to sign its checkpoints."""

    origin: str
    keys: tuple[NoteVerifier, ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise InputError(
                f"log {self.origin!r} has no verifier key; a witness trusts a log only by its keys"
            )


class Witness:
    """A named Ed25519 cosigner over a fixed set of logs, remembering what it cosigned in ``state``."""

    def __init__(
        self,
        name: str,
        private_key: Ed25519PrivateKey,
        logs: Iterable[LogConfig],
        state: WitnessState,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.vkey = cosigner_vkey(name, private_key.public_key())
        self._key = private_key
        self._state = state
        self._clock = clock
        self.logs: Mapping[str, LogConfig] = _by_origin(logs)
        self._locks = {origin: threading.Lock() for origin in self.logs}
        self._cache: dict[str, Recorded | None] = {}

    def add_checkpoint(self, body: bytes) -> str:
        """Answer one add-checkpoint request body with the cosignature line(s), or raise its refusal."""
        request = parse_add_checkpoint(body)
        checkpoint = request.checkpoint
        log = self.logs.get(checkpoint.origin)
        if log is None:
            raise NotFoundError(
                f"this witness does not follow the log {checkpoint.origin!r}",
                hint="its operator adds a log with its origin and verifier key",
            )
        try:
            verify_note(request.note, log.keys)
        except VerificationFailed as exc:
            raise PolicyDenied(
                f"the checkpoint of {log.origin!r} is not validly signed by a key the witness trusts for it: "
                f"{exc.message}"
            ) from None
        if request.old_size > checkpoint.size:
            raise InputError(
                f"old size {request.old_size} is larger than the checkpoint size {checkpoint.size}"
            )
        with self._locks[log.origin]:
            return self._update(log, request, body)

    def latest(self, origin: str) -> str | None:
        """The latest checkpoint cosigned for ``origin``, with the log's signatures and this witness's."""
        recorded = self._state.get(origin)
        return None if recorded is None else recorded.note

    def _update(self, log: LogConfig, request: AddCheckpointRequest, body: bytes) -> str:
        stored = self._stored(log.origin)
        if request.old_size != _size(stored):
            stored = self._stored(log.origin, fresh=True)  # another process on the state may have moved it
            if request.old_size != _size(stored):
                raise _conflict(log.origin, request.old_size, _size(stored))
        try:
            self._check_consistency(request, stored)
        except VerificationFailed as exc:
            self._state.record_evidence(log.origin, exc.message, body)
            raise
        timestamp = int(self._clock())
        line = cosign(request.checkpoint.to_body(), self.name, self._key, timestamp)
        cosigned = Recorded(
            request.checkpoint.size, request.checkpoint.root_hash, _with(request.note, log, line), timestamp
        )
        if not self._state.compare_and_swap(log.origin, stored, cosigned):
            raise _conflict(log.origin, request.old_size, _size(self._stored(log.origin, fresh=True)))
        self._cache[log.origin] = cosigned
        return line

    def _stored(self, origin: str, *, fresh: bool = False) -> Recorded | None:
        """The last state seen for ``origin``; a stale one can only fail the compare-and-swap, never pass it."""
        if fresh or origin not in self._cache:
            self._cache[origin] = self._state.get(origin)
        return self._cache[origin]

    @staticmethod
    def _check_consistency(request: AddCheckpointRequest, stored: Recorded | None) -> None:
        cp, old, proof = request.checkpoint, request.old_size, request.proof
        if cp.size == 0 and cp.root_hash != EMPTY_ROOT:
            raise VerificationFailed("a checkpoint of size 0 must carry the empty tree's root hash")
        if old == 0:
            if proof:
                raise VerificationFailed("a consistency proof from size 0 must be empty")
            return
        assert stored is not None  # old == stored size > 0
        if old == cp.size:
            if cp.root_hash != stored.root or proof:
                raise VerificationFailed(
                    f"fork: the checkpoint of {cp.origin!r} at size {cp.size} has another root hash than "
                    "the one this witness cosigned at that size"
                    if cp.root_hash != stored.root
                    else "a consistency proof between equal sizes must be empty"
                )
            return
        try:
            verify_consistency(old, cp.size, stored.root, cp.root_hash, proof)
        except VerificationFailed as exc:
            raise VerificationFailed(
                f"the checkpoint of {cp.origin!r} at size {cp.size} is not consistent with size {old} that "
                f"this witness cosigned: {exc.message}"
            ) from None


def _with(note: str, log: LogConfig, line: str) -> str:
    """The checkpoint as a monitor should see it: the log's verified signatures, then this cosignature."""
    body, lines = split_note(note)
    trusted = {(k.name, k.key_id) for k in log.keys}
    kept = [sig for sig in lines if _slot(sig) in trusted]
    return f"{body}\n{''.join(kept)}{line}"


def _slot(line: str) -> tuple[str, bytes]:
    name, kid, _ = _parse_signature_line(line[:-1])
    return name, kid


def _size(recorded: Recorded | None) -> int:
    return 0 if recorded is None else recorded.size


def _conflict(origin: str, old: int, stored: int) -> SizeConflict:
    return SizeConflict(
        f"the witness's latest cosigned checkpoint of {origin!r} has size {stored}, not {old}",
        witness_size=stored,
        hint=f"resubmit with old {stored} and a consistency proof from that size",
    )


def _by_origin(logs: Iterable[LogConfig]) -> dict[str, LogConfig]:
    merged: dict[str, list[NoteVerifier]] = {}
    for log in logs:
        merged.setdefault(log.origin, []).extend(log.keys)
    if not merged:
        raise InputError("a witness needs at least one log to follow")
    return {origin: LogConfig(origin, tuple(keys)) for origin, keys in merged.items()}
