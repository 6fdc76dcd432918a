"""The log's side: request_cosignature and witness_checkpoint against a real witness over HTTP.

Faults a live witness cannot be made to produce on demand (a timeout, a 500, a garbled answer) are
injected at the transport boundary with httpx.MockTransport.
"""

from __future__ import annotations

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from disgorge.errors import InputError, StoreError, VerificationFailed
from disgorge.ledger.cosignature import cosigner_vkey, verify_cosigned_checkpoint
from disgorge.ledger.tree import MerkleTreeStore
from disgorge.witness.client import (
    consistency_proof_for,
    fetch_latest_checkpoint,
    request_cosignature,
    witness_checkpoint,
)
from disgorge.witness.protocol import SizeConflict

from .conftest import ORIGIN, Log, free_port


def url_of(client: httpx.Client) -> str:
    return str(client.base_url).rstrip("/")


def test_witness_checkpoint_follows_a_409_and_verifies(
    client: httpx.Client, log: Log, witness_vkey: str
) -> None:
    url = url_of(client)
    first = witness_checkpoint(url, log.checkpoint(10), log.tree, witness_keys=[witness_vkey])
    assert first.old_size == 0 and len(first.cosignatures) == 1
    verify_cosigned_checkpoint(first.note, ORIGIN, [log.vkey], [witness_vkey])
    log.grow(31)
    second = witness_checkpoint(
        url, log.checkpoint(31), log.tree, witness_keys=[witness_vkey]
    )  # known_size 0
    assert second.old_size == 10
    _, seen = verify_cosigned_checkpoint(second.note, ORIGIN, [log.vkey], [witness_vkey])
    assert len(seen) == 1
    third = witness_checkpoint(url, log.checkpoint(31), log.tree, known_size=31, witness_keys=[witness_vkey])
    assert third.old_size == 31


def test_request_cosignature_409_carries_the_witness_size(client: httpx.Client, log: Log) -> None:
    url = url_of(client)
    request_cosignature(url, log.checkpoint(10), 0, [])
    log.grow(12)
    with pytest.raises(SizeConflict, match="up to size 10, not 0") as info:
        request_cosignature(url, log.checkpoint(12), 0, [])
    assert info.value.witness_size == 10 and info.value.http_status == 409


def test_client_names_a_rolled_back_log(client: httpx.Client, log: Log) -> None:
    url = url_of(client)
    witness_checkpoint(url, log.checkpoint(10), log.tree)
    truncated = MerkleTreeStore([log.tree.leaf_hash(i) for i in range(6)])
    with pytest.raises(VerificationFailed, match="beyond its size 6 now"):
        witness_checkpoint(url, log.checkpoint(6), truncated)


def test_client_names_a_rewritten_log(client: httpx.Client, log: Log) -> None:
    url = url_of(client)
    witness_checkpoint(url, log.checkpoint(10), log.tree)
    rewritten = log.fork().grow(14)
    with pytest.raises(
        VerificationFailed, match=r"refused the checkpoint \(422, inconsistent.*not consistent"
    ):
        witness_checkpoint(url, rewritten.checkpoint(14), rewritten.tree, known_size=10)


def test_client_names_an_untrusted_log_key(client: httpx.Client, log: Log) -> None:
    note = log.checkpoint(10, key=Ed25519PrivateKey.generate())
    with pytest.raises(VerificationFailed, match=r"\(403, not signed by a key it trusts"):
        request_cosignature(url_of(client), note, 0, [])


def test_client_refuses_cosignature_by_another_witness_key(client: httpx.Client, log: Log) -> None:
    other = cosigner_vkey("witness.example/w1", Ed25519PrivateKey.generate().public_key())
    with pytest.raises(VerificationFailed, match="no cosignature by a trusted witness key"):
        request_cosignature(url_of(client), log.checkpoint(10), 0, [], witness_keys=[other])


def test_checkpoint_must_match_the_tree(client: httpx.Client, log: Log) -> None:
    with pytest.raises(InputError, match="not a checkpoint of the given log entries"):
        witness_checkpoint(url_of(client), log.fork().grow(10).checkpoint(10), log.tree)


def test_unreachable_witness_is_a_store_error(log: Log) -> None:
    with pytest.raises(StoreError, match="is unreachable"):
        request_cosignature(f"http://127.0.0.1:{free_port()}", log.checkpoint(10), 0, [], timeout=2)


def test_bad_url_is_an_input_error(log: Log) -> None:
    with pytest.raises(InputError, match="not an http"):
        request_cosignature("ftp://witness.example", log.checkpoint(10), 0, [])


def _mock(status_code: int, text: str) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(status_code, text=text))


def _timeout(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("timed out", request=request)


@pytest.mark.parametrize(
    ("transport", "error", "match"),
    [
        (httpx.MockTransport(_timeout), StoreError, "did not answer within 3 s"),
        (_mock(status_code=500, text="boom"), StoreError, r"failed \(500\): boom"),
        (_mock(status_code=503, text=""), StoreError, r"failed \(503\)"),
        (_mock(status_code=409, text="ten\n"), StoreError, "409 without its tree size"),
        (_mock(status_code=200, text="hello\n"), StoreError, "malformed line"),
        (_mock(status_code=200, text=""), StoreError, "without cosignature lines"),
        (
            _mock(status_code=418, text="teapot\x1b[31m"),
            VerificationFailed,
            r"refused the checkpoint \(418.*teapot\?",
        ),
    ],
)
def test_witness_faults_are_mapped(
    log: Log, transport: httpx.MockTransport, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        request_cosignature("http://witness.test", log.checkpoint(10), 0, [], timeout=3, transport=transport)


def test_request_goes_to_add_checkpoint_as_text(log: Log) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(409, text="0\n")

    proof = log.tree.consistency_proof(3, 10)
    with pytest.raises(SizeConflict):
        request_cosignature(
            "http://w.test/prefix/", log.checkpoint(10), 3, proof, transport=httpx.MockTransport(handler)
        )
    (request,) = seen
    assert (request.method, str(request.url)) == ("POST", "http://w.test/prefix/add-checkpoint")
    assert request.content.startswith(b"old 3\n") and request.content.endswith(log.checkpoint(10).encode())


def test_fetch_latest_checkpoint(client: httpx.Client, log: Log, witness_vkey: str) -> None:
    url = url_of(client)
    assert fetch_latest_checkpoint(url, ORIGIN) is None
    witness_checkpoint(url, log.checkpoint(10), log.tree)
    latest = fetch_latest_checkpoint(url, ORIGIN)
    assert latest is not None
    assert verify_cosigned_checkpoint(latest, ORIGIN, [log.vkey], [witness_vkey])[0].size == 10


def test_consistency_proof_for(log: Log) -> None:
    log.grow(20)
    leaves = [log.tree.leaf_hash(i) for i in range(20)]
    assert consistency_proof_for(leaves, 7, 20) == log.tree.consistency_proof(7, 20)
    assert consistency_proof_for(log.tree, 0, 20) == []
    assert consistency_proof_for(log.tree, 20, 20) == []
    with pytest.raises(VerificationFailed, match="rolled back or rewritten"):
        consistency_proof_for(log.tree, 21, 20)
    with pytest.raises(InputError, match="fewer than the checkpoint size 25"):
        consistency_proof_for(log.tree, 3, 25)
