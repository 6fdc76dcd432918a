"""Tests for disgorge.ledger.note: C2SP signed notes and tlog-checkpoints.

Interop is pinned against published vectors: the PeterNeumann key and note from the documentation of
golang.org/x/mod/sumdb/note (Ed25519 is deterministic, so signing must reproduce it byte for byte), the
example.com/foo note of the C2SP signed-note examples, and two checkpoints signed by the real Go checksum
database (sum.golang.org) under the key the go command ships with.
"""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from disgorge.errors import InputError, VerificationFailed
from disgorge.ledger.merkle import root_hash
from disgorge.ledger.note import (
    MAX_SIGNATURES,
    Checkpoint,
    NoteVerifier,
    key_id,
    sign_checkpoint,
    sign_note,
    verifier_key,
    verify_checkpoint,
    verify_note,
)

# golang.org/x/mod/sumdb/note package documentation.
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
)
GO_SIG = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
GO_NOTE = GO_TEXT + "\n" + GO_SIG
# The same documentation's doubly-signed note; EnochRoot's key was never published.
ENOCH_SIG = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"

# The C2SP signed-note example key and note.
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = (
    "This is an example message.\n\n"
    "— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)

# The Go checksum database: its verifier key (as in cmd/go) and two tree heads it served.
SUMDB_VKEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
SUMDB_ORIGIN = "go.sum database tree"
SUMDB_CHECKPOINTS = [
    (
        "go.sum database tree\n31700353\nqINS1GRFhWHwdkUeqLEoP4yEMkTBBzxBkGwGQlVlVcs=\n\n"
        "— sum.golang.org Az3grnmrIUEDFqHzAElIQCPNoRFRAAdFo47fooyWKMHb89k11GJh5zHIfNCOBmwn/C3YI8oW9/C8DJ87F61QqspBYwM=\n",
        31700353,
        "qINS1GRFhWHwdkUeqLEoP4yEMkTBBzxBkGwGQlVlVcs=",
    ),
    (
        "go.sum database tree\n65209736\n5+uGFjx6xBZG8ip1+wi77v+grwbhhukIrxEUS8PXvRo=\n\n"
        "— sum.golang.org Az3grnbssgK7ubgFX36gVETtNv0U23qxyAhAMai2QUfeGa3nB/akvkMdlUErfcZz7l/R3cVtYspg3dxXABkGZZKdsQ8=\n",
        65209736,
        "5+uGFjx6xBZG8ip1+wi77v+grwbhhukIrxEUS8PXvRo=",
    ),
]

LOG = "log.disgorge.example/ledger"
ROOT = root_hash([b"a", b"b", b"c"])


def _go_private_key() -> Ed25519PrivateKey:
    private, key, name, hex_id, key64 = GO_SKEY.split("+", 4)
    assert (private, key, name, hex_id) == ("PRIVATE", "KEY", "PeterNeumann", "c74f20a3")
    seed = base64.b64decode(key64)
    assert seed[0] == 1
    return Ed25519PrivateKey.from_private_bytes(seed[1:])


def _signed_checkpoint(key: Ed25519PrivateKey) -> str:
    return sign_checkpoint(Checkpoint(LOG, 3, ROOT), key)


# Interop with published vectors.


def test_key_id_and_verifier_key_match_go() -> None:
    public = _go_private_key().public_key()
    assert key_id("PeterNeumann", public) == bytes.fromhex("c74f20a3")
    assert verifier_key("PeterNeumann", public) == GO_VKEY
    parsed = NoteVerifier.parse(GO_VKEY)
    assert (parsed.name, parsed.key_id) == ("PeterNeumann", bytes.fromhex("c74f20a3"))


def test_signing_reproduces_the_go_note_byte_for_byte() -> None:
    assert sign_note(GO_TEXT, "PeterNeumann", _go_private_key()) == GO_NOTE


def test_go_and_c2sp_example_notes_verify() -> None:
    assert verify_note(GO_NOTE, [GO_VKEY]) == GO_TEXT
    assert verify_note(SPEC_NOTE, [SPEC_VKEY]) == "This is an example message.\n"


def test_cosignature_by_an_unknown_key_is_ignored() -> None:
    doubly_signed = GO_NOTE + ENOCH_SIG
    assert verify_note(doubly_signed, [GO_VKEY]) == GO_TEXT
    assert verify_note(GO_TEXT + "\n" + ENOCH_SIG + GO_SIG, [GO_VKEY, SPEC_VKEY]) == GO_TEXT
    with pytest.raises(VerificationFailed, match="no signature by a trusted key"):
        verify_note(GO_TEXT + "\n" + ENOCH_SIG, [GO_VKEY])


@pytest.mark.parametrize(("note", "size", "root"), SUMDB_CHECKPOINTS)
def test_real_sum_golang_org_checkpoints_verify(note: str, size: int, root: str) -> None:
    checkpoint = verify_checkpoint(note, SUMDB_ORIGIN, [SUMDB_VKEY])
    assert checkpoint == Checkpoint(SUMDB_ORIGIN, size, base64.b64decode(root))
    assert checkpoint.to_body() + "\n" + note.split("\n\n", 1)[1] == note


# Known-bad notes, named after the attack.


def test_note_signed_by_another_key_is_rejected() -> None:
    impostor = Ed25519PrivateKey.generate()
    trusted = verifier_key(LOG, Ed25519PrivateKey.generate().public_key())
    with pytest.raises(VerificationFailed, match="no signature by a trusted key") as caught:
        verify_checkpoint(_signed_checkpoint(impostor), LOG, [trusted])
    assert caught.value.hint is not None
    assert LOG in caught.value.hint


def test_forged_signature_under_the_trusted_key_id_is_rejected() -> None:
    trusted_key, impostor = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    body = Checkpoint(LOG, 3, ROOT).to_body()
    blob = key_id(LOG, trusted_key.public_key()) + impostor.sign(body.encode())
    forged = f"{body}\n— {LOG} {base64.b64encode(blob).decode()}\n"
    with pytest.raises(VerificationFailed, match="does not verify: the note was altered or forged"):
        verify_note(forged, [verifier_key(LOG, trusted_key.public_key())])


def test_tampered_checkpoint_body_is_rejected() -> None:
    key = Ed25519PrivateKey.generate()
    note = _signed_checkpoint(key)
    rolled_back = note.replace(f"{LOG}\n3\n", f"{LOG}\n2\n", 1)
    assert rolled_back != note
    with pytest.raises(VerificationFailed, match="does not verify"):
        verify_note(rolled_back, [verifier_key(LOG, key.public_key())])


def test_tampered_signature_is_rejected() -> None:
    key = Ed25519PrivateKey.generate()
    body, sig_line = _signed_checkpoint(key).rsplit("\n\n", 1)
    prefix, encoded = sig_line.rstrip("\n").rsplit(" ", 1)
    blob = bytearray(base64.b64decode(encoded))
    blob[10] ^= 0x01
    note = f"{body}\n\n{prefix} {base64.b64encode(bytes(blob)).decode()}\n"
    with pytest.raises(VerificationFailed, match="does not verify"):
        verify_note(note, [verifier_key(LOG, key.public_key())])


def test_good_signature_does_not_excuse_a_bad_one_by_the_same_key() -> None:
    key = Ed25519PrivateKey.generate()
    note = _signed_checkpoint(key)
    bad = f"— {LOG} {base64.b64encode(key_id(LOG, key.public_key()) + bytes(64)).decode()}\n"
    with pytest.raises(VerificationFailed, match="does not verify"):
        verify_note(note + bad, [verifier_key(LOG, key.public_key())])


def test_checkpoint_of_another_log_is_rejected() -> None:
    key = Ed25519PrivateKey.generate()
    other = sign_checkpoint(Checkpoint("other.example/log", 3, ROOT), key, name=LOG)
    with pytest.raises(VerificationFailed, match=r"is for origin 'other\.example/log', expected"):
        verify_checkpoint(other, LOG, [verifier_key(LOG, key.public_key())])


@pytest.mark.parametrize(
    ("note", "match"),
    [
        (GO_TEXT + GO_SIG, "no blank line"),
        (GO_NOTE.rstrip("\n"), "ending with a newline"),
        (GO_TEXT + "\n", "ending with a newline"),
        (GO_TEXT + "\n\n" + GO_SIG, "does not verify"),  # the text now ends in a blank line
        (GO_NOTE.replace("—", "--"), "bad signature line"),
        (GO_NOTE.replace("—", "–"), "bad signature line"),  # en dash
        (GO_NOTE.replace("— ", "—"), "bad signature line"),
        (GO_NOTE.replace("PeterNeumann", "Peter+Neumann"), "bad signature line"),
        (GO_NOTE.replace("— PeterNeumann ", "—  "), "bad signature line"),
        (GO_NOTE.replace("AM=\n", "AM\n"), "bad signature line"),
        (GO_NOTE.replace("x08go", "x08g!"), "bad signature line"),
        (GO_TEXT + "\n— PeterNeumann AAAAAA==\n", "bad signature line"),  # 4 bytes: a key ID, no signature
        (GO_NOTE.replace("problem,", "problem,\r"), "control character"),
        (GO_NOTE.replace("problem,", "problem,\x00"), "control character"),
        (GO_NOTE.replace("problem,", "problem,\ud800"), "not valid UTF-8"),
        (GO_NOTE + "— Enoch\ud800Root AAAAAAA=\n", "not valid UTF-8"),
    ],
)
def test_malformed_notes_are_rejected(note: str, match: str) -> None:
    with pytest.raises(VerificationFailed, match=match):
        verify_note(note, [GO_VKEY])


def test_signature_count_is_capped() -> None:
    unknown = "".join(f"— witness{i}.example AAAAAAA=\n" for i in range(MAX_SIGNATURES - 1))
    assert verify_note(GO_TEXT + "\n" + unknown + GO_SIG, [GO_VKEY]) == GO_TEXT
    with pytest.raises(VerificationFailed, match="more than 100 signatures"):
        verify_note(GO_TEXT + "\n" + unknown + "— one.more AAAAAAA=\n" + GO_SIG, [GO_VKEY])


# Keys and signing.


@pytest.mark.parametrize(
    "vkey",
    [
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong key ID
        "PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # short key ID
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T",  # bad base64
        "PeterNeumann+c74f20a3+Ahpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # type 0x02
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy",  # short key
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # space in name
        "PeterNeumann",
    ],
)
def test_malformed_verifier_keys_are_configuration_errors(vkey: str) -> None:
    with pytest.raises(InputError, match="verifier key"):
        verify_note(GO_NOTE, [vkey])


def test_two_keys_claiming_one_name_and_key_id_are_refused() -> None:
    go = NoteVerifier.parse(GO_VKEY)
    clash = NoteVerifier(go.name, go.key_id, Ed25519PrivateKey.generate().public_key())
    with pytest.raises(InputError, match="share the name and key ID PeterNeumann"):
        verify_note(GO_NOTE, [go, clash])
    assert verify_note(GO_NOTE, [go, GO_VKEY]) == GO_TEXT


@pytest.mark.parametrize(
    ("body", "name", "match"),
    [
        ("no newline", LOG, "must end with a newline"),
        ("tab\there\n", LOG, "control characters"),
        ("ok\n", "two words", "must be non-empty, without spaces"),
        ("ok\n", "a+b", "without spaces or '\\+'"),
        ("ok\n", "", "must be non-empty"),
    ],
)
def test_sign_note_refuses_what_cannot_verify(body: str, name: str, match: str) -> None:
    with pytest.raises(InputError, match=match):
        sign_note(body, name, Ed25519PrivateKey.generate())


def test_note_text_may_hold_blank_lines() -> None:
    key = Ed25519PrivateKey.generate()
    body = "first\n\nthird\n\n"
    assert verify_note(sign_note(body, LOG, key), [verifier_key(LOG, key.public_key())]) == body


# Checkpoint bodies.

_line = st.text(st.characters(min_codepoint=0x20, exclude_categories=["Cs"]), min_size=1, max_size=40)


@given(_line, st.integers(0, 2**64 - 1), st.binary(min_size=32, max_size=32), st.lists(_line, max_size=3))
def test_checkpoint_body_round_trips(origin: str, size: int, root: bytes, extensions: list[str]) -> None:
    checkpoint = Checkpoint(origin, size, root, tuple(extensions))
    body = checkpoint.to_body()
    assert body.count("\n") == 3 + len(extensions)
    assert Checkpoint.parse(body) == checkpoint


def test_signed_checkpoint_round_trips() -> None:
    key = Ed25519PrivateKey.generate()
    checkpoint = Checkpoint(LOG, 3, ROOT, ("timestamp 1700000000",))
    note = sign_checkpoint(checkpoint, key)
    assert note.startswith(f"{LOG}\n3\n{base64.b64encode(ROOT).decode()}\ntimestamp 1700000000\n\n— {LOG} ")
    assert verify_checkpoint(note, LOG, [verifier_key(LOG, key.public_key())]) == checkpoint


def _non_canonical(encoded: str) -> str:
    """The same 32 bytes in base64 with a nonzero unused bit: decoders accept it, it is not canonical."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    return encoded[:42] + alphabet[alphabet.index(encoded[42]) | 1] + encoded[43:]


ROOT64 = base64.b64encode(ROOT).decode()


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (f"{LOG}\n3\n{ROOT64}", "must end with a newline"),
        (f"{LOG}\n3\n", "got 2 line"),
        (f"{LOG}\n03\n{ROOT64}\n", "without leading zeros"),
        (f"{LOG}\n+3\n{ROOT64}\n", "size line"),
        (f"{LOG}\n-3\n{ROOT64}\n", "size line"),
        (f"{LOG}\n 3\n{ROOT64}\n", "size line"),
        (f"{LOG}\n\u0663\n{ROOT64}\n", "size line"),  # ARABIC-INDIC DIGIT THREE: int() would take it
        (f"{LOG}\n{2**64}\n{ROOT64}\n", "decimal uint64"),
        (f"{LOG}\n3\n{ROOT64.rstrip('=')}\n", "base64 of 32 bytes"),
        (f"{LOG}\n3\n{_non_canonical(ROOT64)}\n", "base64 of 32 bytes"),
        (f"{LOG}\n3\n{base64.b64encode(ROOT[:31]).decode()}\n", "base64 of 32 bytes"),
        (f"{LOG}\n3\n{ROOT64}\n\n", "extension lines must be non-empty"),
        (f"\n3\n{ROOT64}\n", "origin must be one non-empty line"),
    ],
)
def test_malformed_checkpoint_bodies_are_rejected(body: str, match: str) -> None:
    with pytest.raises(VerificationFailed, match=match):
        Checkpoint.parse(body)


def test_checkpoint_fields_are_checked_when_built() -> None:
    with pytest.raises(InputError, match="root hash must be 32 bytes"):
        Checkpoint(LOG, 3, ROOT[:31])
    with pytest.raises(InputError, match="size must be an integer"):
        Checkpoint(LOG, -1, ROOT)
    with pytest.raises(InputError, match="origin must be one non-empty line"):
        Checkpoint("two\nlines", 3, ROOT)
