"""Asking a witness to cosign: the log's side of C2SP tlog-witness add-checkpoint.

:func:`request_cosignature` sends one request and maps every outcome to the error tree: an unreachable
or failing witness is a StoreError, a refusal (400, 403, 404, 422) a VerificationFailed that names the
witness's reason, a 409 a :class:`~disgorge.witness.protocol.SizeConflict` carrying the witness's size.
:func:`witness_checkpoint` does the whole exchange a log needs: a proof from the size it believes the
witness has, and on a 409 one retry with a proof from the size the witness names.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from disgorge.errors import InputError, StoreError, VerificationFailed
from disgorge.ledger.cosignature import (
    WITNESSES,
    CosignatureVerifier,
    add_cosignatures,
    split_note,
    verify_cosignatures,
)
from disgorge.ledger.note import Checkpoint, _parse_signature_line
from disgorge.ledger.tree import MerkleTreeStore
from disgorge.witness.protocol import SizeConflict, format_add_checkpoint, parse_size

__all__ = [
    "WitnessResult",
    "consistency_proof_for",
    "fetch_latest_checkpoint",
    "request_cosignature",
    "witness_checkpoint",
]

DEFAULT_TIMEOUT = 10.0
_REFUSALS = {
    400: "malformed request",
    403: "not signed by a key it trusts for this log",
    404: "unknown log",
    413: "request too large",
    422: "inconsistent with what it cosigned",
}


def request_cosignature(
    url: str,
    checkpoint_note: str,
    old_size: int,
    consistency_proof: Sequence[bytes],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    witness_keys: Iterable[str | CosignatureVerifier] | None = None,
    transport: httpx.BaseTransport | None = None,
) -> list[str]:
    """The cosignature lines (each ending in a newline) the witness at ``url`` returns for the note.

    With ``witness_keys``, only lines by those keys are returned, each verified, and at least one is
    required. ``transport`` is for tests (httpx.MockTransport) and fault injection.
    """
    body = format_add_checkpoint(old_size, consistency_proof, checkpoint_note)
    response = _call(url, "POST", _endpoint(url, "add-checkpoint"), body, timeout, transport)
    if response.status_code == 409:
        try:
            size = parse_size(response.text)
        except InputError:
            raise StoreError(
                f"witness {url} answered 409 without its tree size ({_reason(response)})"
            ) from None
        raise SizeConflict(
            f"witness {url} has cosigned this log up to size {size}, not {old_size}",
            witness_size=size,
            hint=f"resubmit with a consistency proof from size {size}",
        )
    _raise_for_status(url, response)
    lines = _cosignature_lines(url, response.text)
    if witness_keys is None:
        return lines
    keys = list(witness_keys)
    try:
        _, verified = verify_cosignatures(add_cosignatures(checkpoint_note, lines), keys)
    except VerificationFailed as exc:
        raise VerificationFailed(
            f"witness {url} returned a bad cosignature: {exc.message}", hint=exc.hint
        ) from None
    if not verified:
        raise VerificationFailed(
            f"witness {url} answered, but with no cosignature by a trusted witness key",
            hint="check the witness key you configured is the one this witness publishes",
        )
    return [c.line() for c in verified]


def consistency_proof_for(
    tree: MerkleTreeStore | Sequence[bytes], witness_size: int, size: int
) -> list[bytes]:
    """The proof a witness that last cosigned ``witness_size`` needs to accept the log at ``size``.

    ``tree`` is the log (a MerkleTreeStore, or its leaf hashes). Empty from size 0 and between equal
    sizes; a witness ahead of the log means the log lost entries it once had: VerificationFailed.
    """
    store = tree if isinstance(tree, MerkleTreeStore) else MerkleTreeStore(tree)
    if witness_size > size:
        raise VerificationFailed(
            f"the witness has cosigned this log at size {witness_size}, beyond its size {size} now: "
            "entries the witness saw are gone (the log was rolled back or rewritten)",
            hint="compare the log with the witness's latest checkpoint; do not sign over the loss",
        )
    if size > len(store):
        raise InputError(f"the log holds {len(store)} entries, fewer than the checkpoint size {size}")
    if witness_size in (0, size):
        return []
    return store.consistency_proof(witness_size, size)


@dataclass(frozen=True)
class WitnessResult:
    cosignatures: list[str]
    """The witness's cosignature lines, each ending in a newline."""
    old_size: int
    """The size the accepted consistency proof started from."""
    note: str
    """The checkpoint note with the cosignatures appended."""


def witness_checkpoint(
    url: str,
    checkpoint_note: str,
    tree: MerkleTreeStore | Sequence[bytes],
    *,
    known_size: int = 0,
    timeout: float = DEFAULT_TIMEOUT,
    witness_keys: Iterable[str | CosignatureVerifier] | None = None,
    transport: httpx.BaseTransport | None = None,
) -> WitnessResult:
    """Get the checkpoint cosigned: prove from ``known_size`` (the witness's size as last seen, 0 if
    unknown) and, if the witness names another size (409), retry once with a proof from that size."""
    store = tree if isinstance(tree, MerkleTreeStore) else MerkleTreeStore(tree)
    checkpoint = Checkpoint.parse(split_note(checkpoint_note)[0])
    if checkpoint.size > len(store) or store.root(checkpoint.size) != checkpoint.root_hash:
        raise InputError(
            f"the checkpoint of size {checkpoint.size} is not a checkpoint of the given log entries"
        )
    keys = None if witness_keys is None else list(witness_keys)
    old = known_size
    try:
        proof = consistency_proof_for(store, old, checkpoint.size)
        lines = request_cosignature(
            url, checkpoint_note, old, proof, timeout=timeout, witness_keys=keys, transport=transport
        )
    except SizeConflict as conflict:
        old = conflict.witness_size
        proof = consistency_proof_for(store, old, checkpoint.size)
        lines = request_cosignature(
            url, checkpoint_note, old, proof, timeout=timeout, witness_keys=keys, transport=transport
        )
    return WitnessResult(lines, old, add_cosignatures(checkpoint_note, lines))


def fetch_latest_checkpoint(
    url: str, origin: str, *, timeout: float = DEFAULT_TIMEOUT, transport: httpx.BaseTransport | None = None
) -> str | None:
    """The latest checkpoint of ``origin`` the witness cosigned (unverified: check it with the log and
    witness keys), or None if it has cosigned none."""
    path = f"{hashlib.sha256(origin.encode()).hexdigest()}/checkpoint"
    response = _call(url, "GET", _endpoint(url, path), None, timeout, transport)
    if response.status_code == 404:
        return None
    _raise_for_status(url, response)
    return response.text


def _endpoint(url: str, path: str) -> str:
    base = url.rstrip("/").removesuffix("/add-checkpoint")
    return f"{base}/{path}"


def _call(
    url: str,
    method: str,
    endpoint: str,
    body: bytes | None,
    timeout: float,
    transport: httpx.BaseTransport | None,
) -> httpx.Response:
    headers = {"Content-Type": "text/plain; charset=utf-8"} if body is not None else {}
    try:
        with httpx.Client(timeout=timeout, transport=transport) as client:
            return client.request(method, endpoint, content=body, headers=headers)
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        raise InputError(f"witness URL {url!r} is not an http(s) URL ({exc})") from None
    except httpx.TimeoutException:
        raise StoreError(
            f"witness {url} did not answer within {timeout:g} s", hint="check it is running and reachable"
        ) from None
    except httpx.HTTPError as exc:
        raise StoreError(
            f"witness {url} is unreachable: {exc or type(exc).__name__}",
            hint="check the URL and that the witness is running",
        ) from None


def _raise_for_status(url: str, response: httpx.Response) -> None:
    status = response.status_code
    if status == 200:
        return
    if status in _REFUSALS or 400 <= status < 500:
        what = _REFUSALS.get(status, "refused")
        raise VerificationFailed(
            f"witness {url} refused the checkpoint ({status}, {what}): {_reason(response)}"
        )
    raise StoreError(f"witness {url} failed ({status}): {_reason(response)}", hint="try again later")


def _cosignature_lines(url: str, text: str) -> list[str]:
    if not text.endswith("\n") or text == "\n":
        raise StoreError(f"witness {url} answered 200 without cosignature lines: {text[:200]!r}")
    lines = [f"{line}\n" for line in text[:-1].split("\n")]
    for line in lines:
        try:
            _parse_signature_line(line[:-1])
        except VerificationFailed:
            raise StoreError(f"witness {url} answered 200 with a malformed line {line[:200]!r}") from None
    return lines


def _reason(response: httpx.Response) -> str:
    text = response.text.strip().splitlines()
    first = text[0] if text else "(no reason given)"
    return "".join(c if c.isprintable() else "?" for c in first)[:300]


def cosigner(
    witnesses: Sequence[tuple[str, str | None]], *, timeout: float = DEFAULT_TIMEOUT
) -> Callable[[str, MerkleTreeStore], list[str]]:
    """A function that has every witness (url, verifier key or None) cosign a checkpoint, for the
    ledger's checkpoints and certificates; each witness's refusal or silence is an error naming it."""

    def cosign(note: str, tree: MerkleTreeStore) -> list[str]:
        lines: list[str] = []
        for url, key in witnesses:
            result = witness_checkpoint(
                url, note, tree, timeout=timeout, witness_keys=None if key is None else [key]
            )
            lines += result.cosignatures
        return lines

    return cosign


class _Settings(Protocol):
    def get(self, key: str) -> dict[str, Any] | None: ...


def configured_cosigner(
    settings: _Settings, urls: Sequence[str] | None = None
) -> Callable[[str, MerkleTreeStore], list[str]] | None:
    """The witnesses to ask: those given (their keys unchecked), else those an admin configured in
    the catalog; None when there are none. The CLI, the server and the dashboard all ask through this,
    so a checkpoint or certificate made through the server is cosigned as one made locally."""
    if urls:
        return cosigner([(u, None) for u in urls])
    configured = (settings.get(WITNESSES) or {}).get("list", [])
    return cosigner([(w["url"], w["key"]) for w in configured]) if configured else None
