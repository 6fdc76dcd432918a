"""The witness over HTTP (uvicorn on a loopback port): C2SP tlog-witness conformance and attacks.

Vectors from transparency-dev/witness's tests (the ``monkeys`` log key, its checkpoints at sizes 5
and 8 and the RFC 6962 consistency proof between them) pin interoperability with that implementation.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from disgorge.ledger.cosignature import add_cosignatures, verify_cosignatures, verify_cosigned_checkpoint
from disgorge.ledger.merkle import EMPTY_ROOT
from disgorge.ledger.note import Checkpoint, NoteVerifier, sign_checkpoint, sign_note
from disgorge.ledger.tree import MerkleTreeStore
from disgorge.witness.core import LogConfig, Witness
from disgorge.witness.protocol import format_add_checkpoint
from disgorge.witness.state import WitnessState

from .conftest import ORIGIN, WITNESS_NAME, Log, serving

# transparency-dev/witness internal/witness/witness_test.go
TDEV_ORIGIN = "Log Checkpoint v0"
TDEV_PK = "monkeys+db4d9f7e+AULaJMvTtDLHPUcUrjdDad9vDlh/PTfC2VV60JUtCfWT"
TDEV_SK = "PRIVATE+KEY+monkeys+db4d9f7e+ATWIAF3yVBG+Hv1rZFQoNt/BaURkLPtOFMAM2HrEeIr6"
TDEV_INIT = (
    "Log Checkpoint v0\n5\n41smjBUiAU70EtKlT6lIOIYtRTYxYXsDB+XHfcvu/BE=\n\n"
    "— monkeys 202ffu1mJ0hrPIodgN0YQV7uZk9CAEzh+hOQyRjkf9CDY1IOr/oiH6WkzGIy7aEF0rw/9SHiZztjDiTOb53i6CE/zQ8=\n"
)
TDEV_NEXT = (
    "Log Checkpoint v0\n8\nV8K9aklZ4EPB+RMOk1/8VsJUdFZR77GDtZUQq84vSbo=\n\n"
    "— monkeys 202ffm1n5/h7F3x0D6CCysNnqiL2WBu7iubseJggohhX6JBbeLts5NWKY/g0r6yNRVN/k+QJJx1Sii0MzbMUTnmO+wA=\n"
)
TDEV_FROG = (
    "Frog Checkpoint v0\n8\nV8K9aklZ4EPB+RMOk1/8VsJUdFZR77GDtZUQq84vSbo=\n\n"
    "— monkeys 202ffgCVdfZmrroccRdQoEfn2TfmXHez4R++GvVrFvFiaI85O12aTV5GpNOvWsuQW77eNxQ2b7ggYeglzF/QSy/EBws=\n"
)
TDEV_PROOF = [
    bytes.fromhex(h)
    for h in (
        "b9e1d62618f7fee8034e4c5010f727ab24d8e4705cb296c374bf2025a87a10d2",
        "aac66cd7a79ce4012d80762fe8eec3a77f22d1ca4145c3f4cee022e7efcd599d",
        "89d0f753f66a290c483b39cd5e9eafb12021293395fad3d4a2ad053cfbcfdc9e",
        "29e40bb79c966f4c6fe96aff6f30acfce5f3e8d84c02215175d6e018a5dee833",
    )
]


def post(client: httpx.Client, body: bytes) -> httpx.Response:
    return client.post("/add-checkpoint", content=body)


def cosigned_ok(response: httpx.Response, note: str, witness_vkey: str) -> str:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    lines = response.text.splitlines(keepends=True)
    assert len(lines) == 1 and lines[0].startswith(f"— {WITNESS_NAME} ")
    _, verified = verify_cosignatures(add_cosignatures(note, lines), [witness_vkey])
    assert len(verified) == 1
    return lines[0]


def stored_size(witness: Witness, origin: str = ORIGIN) -> int | None:
    recorded = witness._state.get(origin)
    return None if recorded is None else recorded.size


def test_first_checkpoint_is_trusted_on_first_use_then_extended(
    client: httpx.Client, log: Log, witness: Witness, witness_vkey: str
) -> None:
    cosigned_ok(post(client, log.request(0, 4)), log.checkpoint(4), witness_vkey)
    log.grow(25)
    cosigned_ok(post(client, log.request(4, 25)), log.checkpoint(25), witness_vkey)
    assert stored_size(witness) == 25


def test_transparency_dev_vectors_are_cosigned(
    tmp_path: Path, witness_key: Ed25519PrivateKey, witness_vkey: str
) -> None:
    seed = base64.b64decode(TDEV_SK.split("+", 4)[4])[1:]
    body = TDEV_INIT[: TDEV_INIT.index("\n\n") + 1]
    assert sign_note(body, "monkeys", Ed25519PrivateKey.from_private_bytes(seed)) == TDEV_INIT
    logs = [LogConfig(TDEV_ORIGIN, (NoteVerifier.parse(TDEV_PK),))]
    state = WitnessState(tmp_path / "w.db", witness_vkey)
    with state, serving(Witness(WITNESS_NAME, witness_key, logs, state)) as client:
        cosigned_ok(post(client, format_add_checkpoint(0, [], TDEV_INIT)), TDEV_INIT, witness_vkey)
        assert post(client, format_add_checkpoint(5, [], TDEV_FROG)).status_code == 404
        garbage = b"old 5\n" + b"".join(base64.b64encode(b"\xaa" * 2) + b"\n" for _ in range(4)) + b"\n"
        assert post(client, garbage + TDEV_NEXT.encode()).status_code == 400
        cosigned_ok(post(client, format_add_checkpoint(5, TDEV_PROOF, TDEV_NEXT)), TDEV_NEXT, witness_vkey)
        assert post(client, format_add_checkpoint(8, TDEV_PROOF, TDEV_INIT)).status_code == 400


def test_409_names_the_witness_size_as_text_x_tlog_size(client: httpx.Client, log: Log) -> None:
    assert post(client, log.request(0, 10)).status_code == 200
    log.grow(12)
    for old in (0, 7, 11):
        response = post(client, log.request(old, 12))
        assert response.status_code == 409
        assert response.headers["content-type"] == "text/x.tlog.size"
        assert response.text == "10\n"


def test_equal_size_and_root_is_cosigned_again(client: httpx.Client, log: Log, witness_vkey: str) -> None:
    assert post(client, log.request(0, 10)).status_code == 200
    cosigned_ok(post(client, log.request(10, 10)), log.checkpoint(10), witness_vkey)


def test_witness_refuses_rolled_back_log(client: httpx.Client, log: Log, witness: Witness) -> None:
    assert post(client, log.request(0, 10)).status_code == 200
    # The insider deletes entries 6..9 and the stored checkpoints, then signs the shorter log.
    shorter = log.checkpoint(6)
    assert post(client, format_add_checkpoint(10, [], shorter)).status_code == 400  # old > size
    assert post(client, format_add_checkpoint(6, [], shorter)).text == "10\n"  # 409
    assert post(client, format_add_checkpoint(0, [], shorter)).text == "10\n"  # 409
    # ... and regrows it past the witness's size with other entries: not an extension of size 10.
    regrown = Log(key=log.key, tree=MerkleTreeStore([log.tree.leaf_hash(i) for i in range(6)]), tag=b"new")
    regrown.grow(14)
    response = post(client, regrown.request(10, 14))  # its own, internally valid, proof from 10
    assert response.status_code == 422
    assert "not consistent with size 10" in response.text
    assert stored_size(witness) == 10


def test_witness_refuses_forked_log_same_size(client: httpx.Client, log: Log, witness: Witness) -> None:
    assert post(client, log.request(0, 10)).status_code == 200
    fork = log.fork().grow(10)
    response = post(client, fork.request(10, 10))
    assert response.status_code == 422
    assert "fork" in response.text
    assert stored_size(witness) == 10
    evidence = witness._state.evidence(ORIGIN)
    assert len(evidence) == 1 and evidence[0].request == fork.request(10, 10)


@pytest.mark.parametrize("tamper", ["flip", "drop", "extra", "swap"])
def test_witness_refuses_bad_consistency_proof(
    client: httpx.Client, log: Log, witness: Witness, tamper: str
) -> None:
    assert post(client, log.request(0, 10)).status_code == 200
    log.grow(23)
    proof = log.tree.consistency_proof(10, 23)
    if tamper == "flip":
        proof[1] = bytes([proof[1][0] ^ 1]) + proof[1][1:]
    elif tamper == "drop":
        proof = proof[:-1]
    elif tamper == "extra":
        proof = [*proof, hashlib.sha256(b"x").digest()]
    else:
        proof = proof[::-1]
    response = post(client, format_add_checkpoint(10, proof, log.checkpoint(23)))
    assert response.status_code == 422, response.text
    assert stored_size(witness) == 10


def test_proofs_where_none_may_be_are_refused(client: httpx.Client, log: Log) -> None:
    assert post(client, format_add_checkpoint(0, [EMPTY_ROOT], log.checkpoint(10))).status_code == 422
    assert post(client, log.request(0, 10)).status_code == 200
    assert post(client, format_add_checkpoint(10, [EMPTY_ROOT], log.checkpoint(10))).status_code == 422


def test_empty_checkpoint_must_have_the_empty_root(client: httpx.Client, log: Log) -> None:
    bad = sign_checkpoint(Checkpoint(ORIGIN, 0, b"\x01" * 32), log.key, log.name)
    assert post(client, format_add_checkpoint(0, [], bad)).status_code == 422
    assert post(client, log.request(0, 0)).status_code == 200


def test_witness_refuses_checkpoint_signed_by_unknown_key(
    client: httpx.Client, log: Log, witness: Witness
) -> None:
    impostor = Ed25519PrivateKey.generate()
    response = post(client, log.request(0, 10, key=impostor))  # same name, another key: another key ID
    assert response.status_code == 403
    # The trusted key's name and ID over a signature that does not verify: also 403 (spec).
    note = log.checkpoint(10)
    sig = note.splitlines()[-1]
    blob = bytearray(base64.b64decode(sig.split(" ")[-1]))
    blob[-1] ^= 1
    broken = note.replace(sig, f"— {log.name} {base64.b64encode(bytes(blob)).decode()}")
    assert post(client, format_add_checkpoint(0, [], broken)).status_code == 403
    assert stored_size(witness) is None


def test_witness_refuses_wrong_origin(client: httpx.Client, log: Log, witness: Witness) -> None:
    response = post(client, log.request(0, 10, origin="disgorge.local/other"))
    assert response.status_code == 404
    assert "does not follow the log 'disgorge.local/other'" in response.text
    assert stored_size(witness) is None


BAD_BODIES = {
    "no blank line": b"old 0\n",
    "leading zero": b"old 00\n\n",
    "negative": b"old -1\n\n",
    "trailing space": b"old 1 \n\n",
    "capitalised": b"Old 1\n\n",
    "uint64 overflow": b"old 18446744073709551616\n\n",
    "proof not base64": b"old 1\n!!!!\n\n",
    "proof 31 bytes": b"old 1\n" + base64.b64encode(b"x" * 31) + b"\n\n",
    "proof unpadded": b"old 1\n" + base64.b64encode(b"x" * 32).rstrip(b"=") + b"\n\n",
    "64 proof lines": b"old 1\n" + (base64.b64encode(b"x" * 32) + b"\n") * 64 + b"\n",
    "not utf-8": b"old 0\n\n\xff\xfe\n",
    "unsigned note": b"old 0\n\ndisgorge.local/home\n1\n" + base64.b64encode(b"r" * 32) + b"\n",
    "control character": b"old 0\n\ndisgorge.local/home\x01\n1\nAA==\n\n\xe2\x80\x94 k AAAAAAA=\n",
}


@pytest.mark.parametrize("name", sorted(BAD_BODIES))
def test_malformed_requests_are_400(client: httpx.Client, name: str) -> None:
    response = post(client, BAD_BODIES[name])
    assert response.status_code == 400, response.text


def test_malformed_checkpoint_body_is_400(client: httpx.Client, log: Log) -> None:
    note = sign_note(f"{ORIGIN}\n010\n{base64.b64encode(log.tree.root()).decode()}\n", log.name, log.key)
    assert post(client, format_add_checkpoint(0, [], note)).status_code == 400


def test_oversized_request_is_refused_unread(client: httpx.Client) -> None:
    assert post(client, b"old 0\n" + b"A" * (300 * 1024)).status_code == 413


def test_only_post_is_served(client: httpx.Client) -> None:
    assert client.get("/add-checkpoint").status_code == 405


def test_healthz_and_monitoring_checkpoint(client: httpx.Client, log: Log, witness_vkey: str) -> None:
    health = client.get("/healthz").json()
    assert health == {"status": "ok", "witness": witness_vkey, "logs": [ORIGIN]}
    path = f"/{hashlib.sha256(ORIGIN.encode()).hexdigest()}/checkpoint"
    assert client.get(path).status_code == 404
    assert client.get(f"/{'0' * 64}/checkpoint").status_code == 404
    note = log.checkpoint(10)
    foreign = add_cosignatures(note, ["— other.example AAAAAAAAAAAAAAAAAAAAAA=="])
    assert post(client, format_add_checkpoint(0, [], foreign)).status_code == 200
    served = client.get(path).text
    cp, witnesses = verify_cosigned_checkpoint(served, ORIGIN, [log.vkey], [witness_vkey])
    assert cp.size == 10 and witnesses[0][0] == WITNESS_NAME
    assert "other.example" not in served  # only the log's verified signature and the witness's own
