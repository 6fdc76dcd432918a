"""Tests for disgorge.ledger.cosignature: C2SP tlog-cosignature v1 on checkpoints.

Facts from outside this code: the RFC 8032 test key 1 (Ed25519 is deterministic, so a cosignature is
reproduced from first principles with bare ``cryptography`` and hashlib, then pinned), the example
checkpoint and time of the tlog-cosignature spec (its example cosignature line carries that same time),
and from transparency-dev/formats' tests a native type-0x04 witness vkey and a cosignature whose
timestamp they decode as 1727964367.
"""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from disgorge.errors import InputError, VerificationFailed
from disgorge.ledger.cosignature import (
    Cosignature,
    CosignatureVerifier,
    add_cosignatures,
    cosign,
    cosignature_key_id,
    cosignature_message,
    cosigner_vkey,
    verify_cosignatures,
    verify_cosigned_checkpoint,
)
from disgorge.ledger.note import Checkpoint, key_id, sign_checkpoint, sign_note, verifier_key

from .conftest import ORIGIN, WITNESS_NAME, Log

RFC8032_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
SPEC_BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
SPEC_TIME = 1679315147
SPEC_COSIG = (
    "— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZ"
    "qhf5nNo0xUe+mbIUBkBIfZ+qnA=="
)
# RFC 8032 key 1 cosigning the spec's checkpoint at the spec's time, as witness.example.com/w1.
KAT_LINE = (
    "— witness.example.com/w1 fm9KqgAAAABkGFDL+TPmh4BYuAjsYRoqMJCWb/gWJaeRF/kmm5tlCr9sJ57DLErur7K0yDXc2ArN"
    "+TIuotuB/HbuL3AJsp3bv/aNCQ==\n"
)
KAT_VKEY = "witness.example.com/w1+7e6f4aaa+BNdamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea"
TDEV_VKEY = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"
TDEV_COSIG = (
    "ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcFiEBYJXORmnFBOBA=="
)


def _rfc8032_key() -> Ed25519PrivateKey:
    key = Ed25519PrivateKey.from_private_bytes(RFC8032_SECRET)
    assert key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw) == RFC8032_PUBLIC
    return key


def test_cosignature_known_answer_from_first_principles() -> None:
    key = _rfc8032_key()
    name = "witness.example.com/w1"
    kid = hashlib.sha256(name.encode() + b"\n\x04" + RFC8032_PUBLIC).digest()[:4]
    message = b"cosignature/v1\ntime 1679315147\n" + SPEC_BODY.encode()
    assert cosignature_message(SPEC_BODY, SPEC_TIME) == message
    blob = kid + SPEC_TIME.to_bytes(8, "big") + key.sign(message)
    expected = f"— {name} {base64.b64encode(blob).decode()}\n"
    assert cosign(SPEC_BODY, name, key, SPEC_TIME) == expected == KAT_LINE
    assert cosigner_vkey(name, key.public_key()) == KAT_VKEY
    assert KAT_VKEY.split("+")[1] == kid.hex()


def test_cosignature_key_id_differs_from_the_log_key_id_of_the_same_key() -> None:
    key = _rfc8032_key()
    assert cosignature_key_id("w", key.public_key()) != key_id("w", key.public_key())
    assert key_id("w", key.public_key()) == hashlib.sha256(b"w\n\x01" + RFC8032_PUBLIC).digest()[:4]


def test_spec_example_cosignature_carries_the_spec_example_time() -> None:
    cosig = Cosignature.from_line(SPEC_COSIG)
    assert (cosig.name, cosig.timestamp, len(cosig.signature)) == ("witness.example.com/w1", SPEC_TIME, 64)
    assert cosig.line() == SPEC_COSIG + "\n"


def test_transparency_dev_vectors() -> None:
    verifier = CosignatureVerifier.parse(TDEV_VKEY)
    assert verifier.key_id.hex() == "da77ade7" and verifier.vkey() == TDEV_VKEY
    cosig = Cosignature.from_line(f"— remora.n621.de {TDEV_COSIG}")
    assert (cosig.key_id.hex(), cosig.timestamp) == ("646846b9", 1727964367)


def test_kat_line_verifies_on_the_spec_checkpoint() -> None:
    log = Ed25519PrivateKey.generate()
    note = add_cosignatures(sign_note(SPEC_BODY, "example.com/behind-the-sofa", log), [KAT_LINE])
    cp, witnesses = verify_cosigned_checkpoint(
        note,
        "example.com/behind-the-sofa",
        [verifier_key("example.com/behind-the-sofa", log.public_key())],
        [KAT_VKEY],
    )
    assert cp.size == 20852163 and witnesses == [("witness.example.com/w1", SPEC_TIME)]


@pytest.mark.parametrize(
    ("vkey", "match"),
    [
        ("nonsense", "malformed witness key"),
        ("a b+7e6f4aaa+BNdamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea", "malformed witness key"),
        ("witness.example.com/w1+00000000+BNdamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea", "key ID 00000000"),
        ("witness.example.com/w1+7e6f4aaa+BNdamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1E", "malformed"),
        ("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "a log's signing key"),
    ],
)
def test_witness_vkey_parse_refuses(vkey: str, match: str) -> None:
    with pytest.raises(InputError, match=match):
        CosignatureVerifier.parse(vkey)


def _cosigned(
    log: Log, witness_key: Ed25519PrivateKey, size: int | None = None, *, at: int = 1_700_000_000
) -> str:
    note = log.checkpoint(size)
    body = note[: note.index("\n\n") + 1]
    return add_cosignatures(note, [cosign(body, WITNESS_NAME, witness_key, at)])


def test_verify_cosigned_checkpoint(log: Log, witness_key: Ed25519PrivateKey, witness_vkey: str) -> None:
    cp, witnesses = verify_cosigned_checkpoint(
        _cosigned(log, witness_key), ORIGIN, [log.vkey], [witness_vkey]
    )
    assert cp == Checkpoint(ORIGIN, 10, log.tree.root())
    assert witnesses == [(WITNESS_NAME, 1_700_000_000)]


def test_checkpoint_without_cosignature_fails(log: Log, witness_vkey: str) -> None:
    with pytest.raises(VerificationFailed, match="cosigned by 0 trusted witness"):
        verify_cosigned_checkpoint(log.checkpoint(), ORIGIN, [log.vkey], [witness_vkey])


def test_cosignature_from_other_witness_key_fails_verification(log: Log, witness_vkey: str) -> None:
    impostor = Ed25519PrivateKey.generate()
    note = _cosigned(log, impostor)  # same witness name, another key: another key ID, so ignored
    with pytest.raises(VerificationFailed, match="cosigned by 0 trusted witness"):
        verify_cosigned_checkpoint(note, ORIGIN, [log.vkey], [witness_vkey])
    # The impostor's signature relabelled with the trusted key ID is checked, and fails.
    line = note.splitlines()[-1]
    blob = bytearray(base64.b64decode(line.split(" ")[-1]))
    blob[:4] = CosignatureVerifier.parse(witness_vkey).key_id
    forged = note.replace(line, f"— {WITNESS_NAME} {base64.b64encode(bytes(blob)).decode()}")
    with pytest.raises(VerificationFailed, match="does not verify on this checkpoint"):
        verify_cosigned_checkpoint(forged, ORIGIN, [log.vkey], [witness_vkey])


def test_cosignature_replayed_onto_other_checkpoint_fails(
    log: Log, witness_key: Ed25519PrivateKey, witness_vkey: str
) -> None:
    cosig_line = _cosigned(log, witness_key, 5).splitlines()[-1]
    rewritten = log.fork().grow(10)  # the insider's log, signed by the real log key
    note = add_cosignatures(rewritten.checkpoint(), [cosig_line])
    with pytest.raises(VerificationFailed, match="replayed"):
        verify_cosigned_checkpoint(note, ORIGIN, [log.vkey], [witness_vkey])


def test_cosignature_does_not_cover_a_changed_extension_line(
    log: Log, witness_key: Ed25519PrivateKey, witness_vkey: str
) -> None:
    cp = Checkpoint(ORIGIN, 10, log.tree.root(), ("ext one",))
    note = sign_checkpoint(cp, log.key, log.name)
    note = add_cosignatures(note, [cosign(cp.to_body(), WITNESS_NAME, witness_key, 5)])
    tampered_cp = Checkpoint(ORIGIN, 10, log.tree.root(), ("ext two",))
    tampered = sign_checkpoint(tampered_cp, log.key, log.name) + note.splitlines(keepends=True)[-1]
    with pytest.raises(VerificationFailed, match="does not verify"):
        verify_cosigned_checkpoint(tampered, ORIGIN, [log.vkey], [witness_vkey])


def test_a_cosignature_is_not_a_log_signature_nor_the_reverse(
    log: Log, witness_key: Ed25519PrivateKey
) -> None:
    body = Checkpoint(ORIGIN, 10, log.tree.root()).to_body()
    # The log's key cosigning (type 0x04) does not sign the checkpoint as the log (type 0x01).
    only_cosig = f"{body}\n{cosign(body, log.name, log.key, 7)}"
    with pytest.raises(VerificationFailed, match="no signature by a trusted key"):
        verify_cosigned_checkpoint(only_cosig, ORIGIN, [log.vkey], [])
    # The witness key signing a plain note signature does not count as its cosignature.
    plain = add_cosignatures(log.checkpoint(), [sign_note(body, WITNESS_NAME, witness_key).splitlines()[-1]])
    vkey = cosigner_vkey(WITNESS_NAME, witness_key.public_key())
    with pytest.raises(VerificationFailed, match="cosigned by 0 trusted witness"):
        verify_cosigned_checkpoint(plain, ORIGIN, [log.vkey], [vkey])


def test_min_witnesses_counts_distinct_witnesses(
    log: Log, witness_key: Ed25519PrivateKey, witness_vkey: str
) -> None:
    other = Ed25519PrivateKey.generate()
    body = Checkpoint(ORIGIN, 10, log.tree.root()).to_body()
    twice = add_cosignatures(
        _cosigned(log, witness_key), [cosign(body, WITNESS_NAME, witness_key, 1_700_000_009)]
    )
    keys = [witness_vkey, cosigner_vkey("w2.example", other.public_key())]
    _, seen = verify_cosigned_checkpoint(twice, ORIGIN, [log.vkey], keys)
    assert seen == [(WITNESS_NAME, 1_700_000_009)]
    with pytest.raises(VerificationFailed, match=r"cosigned by 1 trusted witness.*2 required"):
        verify_cosigned_checkpoint(twice, ORIGIN, [log.vkey], keys, min_witnesses=2)
    both = add_cosignatures(twice, [cosign(body, "w2.example", other, 3)])
    _, seen = verify_cosigned_checkpoint(both, ORIGIN, [log.vkey], keys, min_witnesses=2)
    assert [n for n, _ in seen] == sorted([WITNESS_NAME, "w2.example"])


def test_wrong_origin_fails_even_when_cosigned(
    log: Log, witness_key: Ed25519PrivateKey, witness_vkey: str
) -> None:
    with pytest.raises(VerificationFailed, match=r"expected 'other\.example/log'"):
        verify_cosigned_checkpoint(
            _cosigned(log, witness_key), "other.example/log", [log.vkey], [witness_vkey]
        )


@pytest.mark.parametrize(
    ("timestamp_bytes", "match"),
    [(bytes(8), "carries no time"), ((2**63).to_bytes(8, "big"), "exceeds 2\\*\\*63 - 1")],
)
def test_cosignature_timestamps_out_of_range(
    log: Log, witness_key: Ed25519PrivateKey, witness_vkey: str, timestamp_bytes: bytes, match: str
) -> None:
    note = _cosigned(log, witness_key)
    line = note.splitlines()[-1]
    blob = bytearray(base64.b64decode(line.split(" ")[-1]))
    blob[4:12] = timestamp_bytes
    changed = note.replace(line, f"— {WITNESS_NAME} {base64.b64encode(bytes(blob)).decode()}")
    with pytest.raises(VerificationFailed, match=match):
        verify_cosignatures(changed, [witness_vkey])


def test_truncated_cosignature_from_trusted_key_is_malformed(
    log: Log, witness_key: Ed25519PrivateKey, witness_vkey: str
) -> None:
    note = _cosigned(log, witness_key)
    line = note.splitlines()[-1]
    blob = base64.b64decode(line.split(" ")[-1])[:-1]
    changed = note.replace(line, f"— {WITNESS_NAME} {base64.b64encode(blob).decode()}")
    with pytest.raises(VerificationFailed, match="75 bytes, expected 76"):
        verify_cosignatures(changed, [witness_vkey])


def test_add_cosignatures_keeps_each_line_once(log: Log, witness_key: Ed25519PrivateKey) -> None:
    note = _cosigned(log, witness_key)
    line = note.splitlines(keepends=True)[-1]
    assert add_cosignatures(note, [line, line.rstrip("\n")]) == note
    with pytest.raises(InputError, match="one line"):
        add_cosignatures(note, [line + line])


def test_cosign_refuses_bad_input(witness_key: Ed25519PrivateKey) -> None:
    with pytest.raises(InputError, match="end with a newline"):
        cosign("no newline", WITNESS_NAME, witness_key, 1)
    with pytest.raises(InputError, match="timestamp"):
        cosign("a\n", WITNESS_NAME, witness_key, -1)
    with pytest.raises(InputError, match="key name"):
        cosign("a\n", "has space", witness_key, 1)
