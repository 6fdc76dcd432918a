"""Signing keys: file modes, refusing readable keys, public key forms, the keyring and rotation."""

from __future__ import annotations

import importlib.util
import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest
from cryptography.hazmat.primitives.asymmetric.ed448 import Ed448PrivateKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from disgorge.errors import InputError, VerificationFailed
from disgorge.ledger.certificate import dump_certificate, verify_certificate
from disgorge.ledger.keys import (
    RETIRED_DIR,
    SIGNING_KEY_FILE,
    Keyring,
    KeyringEntry,
    create_signing_key,
    init_keys,
    load_signing_key,
    parse_public_key,
    public_key_pem,
    public_key_text,
    read_trusted_keys,
    rotate,
    trusted_keys_from_text,
)
from disgorge.ledger.note import verifier_key

HERE = Path(__file__).resolve().parents[1] / "assets" / "certificates"
NAME = "disgorge.test/ledger"
T0 = datetime(2024, 1, 5, 12, 0, tzinfo=UTC)
T1 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def _fixtures() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_certificates", HERE / "make_certificates.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fx = _fixtures()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_create_writes_pkcs8_pem_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "keys" / SIGNING_KEY_FILE
    key = create_signing_key(path)
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----\n")
    assert public_key_text(NAME, load_signing_key(path)) == public_key_text(NAME, key)


def test_create_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / SIGNING_KEY_FILE
    create_signing_key(path)
    before = path.read_bytes()
    with pytest.raises(InputError, match=f"key file {path} already exists; refusing to overwrite"):
        create_signing_key(path)
    assert path.read_bytes() == before


def test_create_ignores_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        create_signing_key(tmp_path / SIGNING_KEY_FILE)
    finally:
        os.umask(old)
    assert _mode(tmp_path / SIGNING_KEY_FILE) == 0o600


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o606])
def test_load_refuses_a_key_others_can_read_or_write(tmp_path: Path, mode: int) -> None:
    path = tmp_path / SIGNING_KEY_FILE
    create_signing_key(path)
    path.chmod(mode)
    with pytest.raises(InputError, match=f"signing key {path} has mode {mode:o}") as info:
        load_signing_key(path)
    assert info.value.hint == f"run: chmod 600 {path}"
    path.chmod(0o400)
    load_signing_key(path)  # read-only for the owner is fine


def test_load_rejects_missing_garbled_and_foreign_keys(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no signing key at"):
        load_signing_key(tmp_path / "absent.key")
    garbled = tmp_path / "garbled.key"
    garbled.write_bytes(b"not a key")
    garbled.chmod(0o600)
    with pytest.raises(InputError, match="is not an unencrypted PKCS8 PEM private key"):
        load_signing_key(garbled)
    ed448 = tmp_path / "ed448.key"
    ed448.write_bytes(
        Ed448PrivateKey.generate().private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    )
    ed448.chmod(0o600)
    with pytest.raises(InputError, match="is a Ed448PrivateKey, expected an Ed25519 key"):
        load_signing_key(ed448)


def test_load_does_not_follow_symlinks(tmp_path: Path) -> None:
    create_signing_key(tmp_path / "real.key")
    (tmp_path / "link.key").symlink_to(tmp_path / "real.key")
    with pytest.raises(InputError, match="cannot open signing key"):
        load_signing_key(tmp_path / "link.key")


def test_public_key_forms_round_trip() -> None:
    key = Ed25519PrivateKey.generate()
    text = public_key_text(NAME, key)
    assert text == verifier_key(NAME, key.public_key()) == public_key_text(NAME, key.public_key())
    assert text.startswith(NAME + "+")
    parsed = parse_public_key(f"  {text}\n")
    assert parsed.name == NAME
    pem = public_key_pem(key)
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert parse_public_key(pem, name=NAME) == parsed
    with pytest.raises(InputError, match="does not say which name it signs as"):
        parse_public_key(pem)
    with pytest.raises(InputError, match=r"is named 'disgorge.test/ledger', expected 'other'"):
        parse_public_key(text, name="other")
    with pytest.raises(InputError, match="malformed verifier key"):
        parse_public_key("not a key")
    with pytest.raises(InputError, match="malformed PEM public key"):
        parse_public_key("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", name=NAME)


def test_trusted_keys_from_text_reads_lines_pem_and_keyrings() -> None:
    a, b = (public_key_text(NAME, Ed25519PrivateKey.generate()) for _ in range(2))
    assert [v.key_id for v in trusted_keys_from_text(f"# keys\n{a}\n\n{b}\n")] == [
        parse_public_key(a).key_id,
        parse_public_key(b).key_id,
    ]
    ring = Keyring(
        (
            KeyringEntry(a, "2025-03-01T09:00:00Z"),
            KeyringEntry(b, "2024-01-01T00:00:00Z", "2025-03-01T09:00:00Z"),
        )
    )
    assert len(trusted_keys_from_text(ring.to_bytes().decode())) == 2
    with pytest.raises(InputError, match="no public key found"):
        trusted_keys_from_text("# nothing\n")


def test_read_trusted_keys_names_the_file(tmp_path: Path) -> None:
    assert len(read_trusted_keys(HERE / "trusted.pub")) == 1
    bad = tmp_path / "bad.pub"
    bad.write_text("garbage\n")
    with pytest.raises(InputError, match=f"{bad}: malformed verifier key"):
        read_trusted_keys(bad)
    with pytest.raises(InputError, match="cannot read public key file"):
        read_trusted_keys(tmp_path / "absent.pub")


def test_keyring_validates_its_entries() -> None:
    a, b = (public_key_text(NAME, Ed25519PrivateKey.generate()) for _ in range(2))
    with pytest.raises(InputError, match="at least one key"):
        Keyring(())
    with pytest.raises(InputError, match="only the first key may be current"):
        Keyring((KeyringEntry(a, "2025-03-01T09:00:00Z"), KeyringEntry(b, "2025-03-01T09:00:00Z")))
    with pytest.raises(InputError, match="is listed twice"):
        Keyring(
            (
                KeyringEntry(a, "2025-03-01T09:00:00Z"),
                KeyringEntry(a, "2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z"),
            )
        )
    with pytest.raises(InputError, match=r"added of key .* must be an RFC 3339 time"):
        KeyringEntry(a, "yesterday")
    with pytest.raises(InputError, match="every key is retired"):
        _ = Keyring((KeyringEntry(a, "2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z"),)).current


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"format":"disgorge-keyring/1","format":"x","keys":[]}', "duplicate key 'format'"),
        ('{"format":"other","keys":[]}', "must be an object with format 'disgorge-keyring/1'"),
        ('{"format":"disgorge-keyring/1","keys":{}}', "keys must be a list"),
        (
            '{"format":"disgorge-keyring/1","keys":[{"key":"x","added":"2025-01-01T00:00:00Z"}]}',
            "key 0 must be an object with key, added and retired",
        ),
    ],
)
def test_keyring_file_is_read_strictly(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "keyring.json"
    path.write_text(text)
    with pytest.raises(InputError, match=reason):
        Keyring.load(path)


def test_init_creates_the_key_and_keyring_once(tmp_path: Path) -> None:
    keys, ring = tmp_path / "keys", tmp_path / "keyring.json"
    key = init_keys(keys, ring, NAME, now=T0)
    keyring = Keyring.load(ring)
    assert keyring.current == KeyringEntry(public_key_text(NAME, key), "2024-01-05T12:00:00Z")
    assert json.loads(ring.read_text())["keys"][0]["retired"] is None
    with pytest.raises(InputError, match="already exists"):
        init_keys(keys, ring, NAME)


def test_rotation_keeps_old_certificates_verifiable(tmp_path: Path) -> None:
    keys, ring = tmp_path / "keys", tmp_path / "keyring.json"
    old = init_keys(keys, ring, NAME, now=T0)
    old_cert = dump_certificate(fx.good_certificate(old))

    new = rotate(ring, keys, NAME, now=T1)

    assert public_key_text(NAME, load_signing_key(keys / SIGNING_KEY_FILE)) == public_key_text(NAME, new)
    assert _mode(keys / SIGNING_KEY_FILE) == 0o600
    archived = list((keys / RETIRED_DIR).iterdir())
    assert [p.name for p in archived] == [
        f"{parse_public_key(public_key_text(NAME, old)).key_id.hex()}-2025-03-01T090000Z.key"
    ]
    assert _mode(archived[0]) == 0o600
    assert _mode(keys / RETIRED_DIR) == 0o700
    assert public_key_text(NAME, load_signing_key(archived[0])) == public_key_text(NAME, old)
    assert not (keys / (SIGNING_KEY_FILE + ".new")).exists()

    keyring = Keyring.load(ring)
    assert [e.to_json() for e in keyring.entries] == [
        {"key": public_key_text(NAME, new), "added": "2025-03-01T09:00:00Z", "retired": None},
        {
            "key": public_key_text(NAME, old),
            "added": "2024-01-05T12:00:00Z",
            "retired": "2025-03-01T09:00:00Z",
        },
    ]
    trusted = read_trusted_keys(ring)
    new_cert = dump_certificate(fx.good_certificate(new))
    assert verify_certificate(old_cert, trusted).signed_by == "+".join(
        public_key_text(NAME, old).split("+")[:2]
    )
    assert verify_certificate(new_cert, trusted).signed_by == "+".join(
        public_key_text(NAME, new).split("+")[:2]
    )
    with pytest.raises(VerificationFailed, match="not a trusted key"):
        verify_certificate(new_cert, [public_key_text(NAME, old)])
    with pytest.raises(VerificationFailed, match="not a trusted key"):
        verify_certificate(old_cert, [keyring.current.key])

    newer = rotate(ring, keys, NAME, now=datetime(2026, 1, 1, tzinfo=UTC))
    assert len(Keyring.load(ring).entries) == 3
    assert len(list((keys / RETIRED_DIR).iterdir())) == 2
    verify_certificate(old_cert, read_trusted_keys(ring))
    assert Keyring.load(ring).current.key == public_key_text(NAME, newer)


def test_rotation_refuses_an_inconsistent_home(tmp_path: Path) -> None:
    keys, ring = tmp_path / "keys", tmp_path / "keyring.json"
    init_keys(keys, ring, NAME, now=T0)
    with pytest.raises(InputError, match="but the keyring's current key is"):
        rotate(ring, keys, "another-name")
    (keys / SIGNING_KEY_FILE).chmod(0o644)
    with pytest.raises(InputError, match="has mode 644"):
        rotate(ring, keys, NAME)
    (keys / SIGNING_KEY_FILE).chmod(0o600)
    create_signing_key(keys / (SIGNING_KEY_FILE + ".new"))
    with pytest.raises(InputError, match="a previous rotation was interrupted"):
        rotate(ring, keys, NAME)
    assert len(Keyring.load(ring).entries) == 1  # nothing changed
