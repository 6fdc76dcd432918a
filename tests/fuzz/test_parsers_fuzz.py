"""Fuzzing every parser of outside input: ingest manifests, consent files, policies, certificates and
asset proofs, signed notes and checkpoints, verifier keys, ledger audits. Whatever the input, the answer
is a result or a DisgorgeError (InputError / VerificationFailed), never another exception."""

from __future__ import annotations

import contextlib
import copy
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from disgorge.enforcement.consent_file import FIELDS, read_consent_file
from disgorge.errors import DisgorgeError
from disgorge.ingest.manifest import read_manifest
from disgorge.ledger.audit import verify_log
from disgorge.ledger.certificate import load_certificate, verify_asset_proof, verify_certificate
from disgorge.ledger.keys import trusted_keys_from_text
from disgorge.ledger.note import Checkpoint, NoteVerifier, verify_checkpoint, verify_note
from disgorge.policy import parse_policy
from disgorge.policy.rules import DIMENSIONS
from tests.ledger.test_certificate import GOOD_BYTES, TRUSTED, fx

EXAMPLES = int(os.environ.get("DISGORGE_FUZZ_EXAMPLES", "100"))
"""Examples per property; CI keeps it small, a deeper local run sets e.g. DISGORGE_FUZZ_EXAMPLES=20000."""
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CERTS = Path(__file__).parents[1] / "assets" / "certificates"

scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    scalars,
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
    max_leaves=12,
)
texts = st.text(max_size=400) | st.binary(max_size=400).map(lambda b: b.decode("latin-1"))


def only_disgorge_errors(fn: Callable[[], object]) -> None:
    with contextlib.suppress(DisgorgeError):
        fn()


def with_file(suffix: str, data: bytes, fn: Callable[[Path], object]) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"input{suffix}"
        path.write_bytes(data)
        only_disgorge_errors(lambda: fn(path))


# Manifests.

manifest_cells = st.sampled_from(
    ["a.jpg", "../x", "/etc/passwd", "", " ", "user.biometric", "a\0b", '"', "alice"]
)
manifest_csv = st.lists(
    st.lists(manifest_cells | st.text(max_size=10), min_size=1, max_size=5).map(",".join), max_size=6
).map(lambda rows: "\n".join(["path,subject_id,categories", *rows]))
manifest_jsonl = st.lists(
    st.dictionaries(
        st.sampled_from(["path", "subject_id", "categories", "age"]), json_values, max_size=4
    ).map(json.dumps)
    | texts,
    max_size=5,
).map("\n".join)


@FUZZ
@given(
    st.one_of(manifest_csv, texts).map(str.encode) | st.binary(max_size=300),
    st.sampled_from([".csv", ".jsonl"]),
)
def test_manifests(data: bytes, suffix: str) -> None:
    with_file(suffix, data, lambda p: read_manifest(p, base=p.parent))


@FUZZ
@given(manifest_jsonl.map(str.encode))
def test_manifests_jsonl(data: bytes) -> None:
    with_file(".jsonl", data, lambda p: read_manifest(p, base=p.parent))


def test_a_huge_csv_field_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("path,subject_id\n" + '"' + "a" * 200_000 + '",alice\n')
    with pytest.raises(DisgorgeError, match="not valid CSV"):
        read_manifest(tmp_path / "m.csv")


# Consent files.

consent_values = st.sampled_from(
    [
        "alice",
        "train_ai_system",
        "granted",
        "withdrawn",
        "*",
        "2024-05-01T00:00:00Z",
        "2024-05-01",
        "1",
        "0",
        "",
    ]
)
consent_csv = st.lists(
    st.lists(consent_values | st.text(max_size=8), min_size=1, max_size=7).map(",".join), max_size=5
).map(lambda rows: "\n".join([",".join(FIELDS), *rows]))
consent_jsonl = st.lists(
    st.dictionaries(st.sampled_from(FIELDS), consent_values | json_values, max_size=6).map(json.dumps),
    max_size=4,
).map("\n".join)


@FUZZ
@given(st.one_of(consent_csv, texts).map(str.encode) | st.binary(max_size=300))
def test_consent_csv(data: bytes) -> None:
    with_file(".csv", data, read_consent_file)


@FUZZ
@given(st.one_of(consent_jsonl, texts).map(str.encode))
def test_consent_jsonl(data: bytes) -> None:
    with_file(".jsonl", data, read_consent_file)


# Policies.

policy_keys = st.sampled_from(
    ["version", "rules", "description", "name", "effect", "allow", "deny", "any", "all", "none", *DIMENSIONS]
)
policy_docs = st.recursive(
    scalars | policy_keys | st.sampled_from(["user.biometric", "train_ai_system", "acme"]),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(policy_keys | st.integers(0, 3), c, max_size=4),
    max_leaves=16,
)


def _dump(doc: Any) -> str:
    try:
        return yaml.safe_dump(doc)
    except (yaml.YAMLError, ValueError):
        return "x"


@FUZZ
@given(policy_docs.map(_dump) | texts)
def test_policies(text: str) -> None:
    only_disgorge_errors(lambda: parse_policy(text, "fuzz.yaml"))


# Certificates and asset proofs.

GOOD = json.loads(GOOD_BYTES)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


PATHS = _paths(GOOD)


def _replace(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    out = copy.deepcopy(doc)
    cur = out
    for k in path[:-1]:
        cur = cur[k]
    cur[path[-1]] = value
    return out


@FUZZ
@given(st.sampled_from(PATHS), json_values, st.booleans())
def test_certificates_with_any_member_replaced(path: tuple[Any, ...], value: Any, resign: bool) -> None:
    """Replace any member by any JSON value; optionally re-sign it as a forger holding the key would,
    so the checks past the signature see the hostile value too."""
    doc = _replace(GOOD, path, value)

    def run() -> None:
        forged = fx.resign(doc) if resign and isinstance(doc, dict) else doc
        verify_certificate(forged, TRUSTED)

    only_disgorge_errors(run)
    only_disgorge_errors(lambda: verify_certificate(json.dumps(doc).encode(), TRUSTED))


@FUZZ
@given(st.binary(max_size=300) | texts.map(str.encode))
def test_certificate_files(data: bytes) -> None:
    only_disgorge_errors(lambda: load_certificate(data))
    only_disgorge_errors(lambda: verify_certificate(data, TRUSTED))


PROOF = json.loads((CERTS / "asset-proof-good.json").read_bytes())


@FUZZ
@given(st.sampled_from(_paths(PROOF)), json_values, st.sampled_from(_paths(GOOD)[:3]), json_values)
def test_asset_proofs(path: tuple[Any, ...], value: Any, cpath: tuple[Any, ...], cvalue: Any) -> None:
    proof = _replace(PROOF, path, value)
    only_disgorge_errors(lambda: verify_asset_proof(GOOD, proof))
    only_disgorge_errors(lambda: verify_asset_proof(GOOD, json.dumps(proof).encode()))
    only_disgorge_errors(lambda: verify_asset_proof(_replace(GOOD, cpath, cvalue), PROOF))


# Signed notes, checkpoints, verifier keys and ledgers.

NOTE = GOOD["ledger"]["checkpoint"]


@st.composite
def mutated_note(draw: st.DrawFn) -> str:
    text = NOTE
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 8)))
        text = (
            text[:i]
            + draw(st.text(max_size=6) | st.sampled_from(["\n", "\n\n", "— ", "+", "=", "\x00"]))
            + text[j:]
        )
    return text


@FUZZ
@given(mutated_note() | texts)
def test_notes_and_checkpoints(text: str) -> None:
    only_disgorge_errors(lambda: verify_note(text, TRUSTED))
    only_disgorge_errors(lambda: verify_checkpoint(text, fx.ORIGIN, TRUSTED))
    only_disgorge_errors(lambda: Checkpoint.parse(text))


VKEY = (CERTS / "trusted.pub").read_text().strip()


@FUZZ
@given(
    st.builds(
        lambda a, b, c: VKEY[:a] + b + VKEY[c:],
        st.integers(0, len(VKEY)),
        st.text(max_size=4),
        st.integers(0, len(VKEY)),
    )
    | texts
)
def test_verifier_keys_and_keyrings(text: str) -> None:
    only_disgorge_errors(lambda: NoteVerifier.parse(text))
    only_disgorge_errors(lambda: trusted_keys_from_text(text))


LEDGER = json.loads((CERTS / "ledger-good.json").read_bytes())


@FUZZ
@given(st.data())
def test_ledger_audits(data: st.DataObject) -> None:
    entries = [e.encode() for e in LEDGER["entries"]]
    notes = list(LEDGER["checkpoints"])
    if data.draw(st.booleans(), label="mutate an entry"):
        i = data.draw(st.integers(0, len(entries) - 1))
        entries[i] = data.draw(st.binary(max_size=80) | texts.map(str.encode))
    if data.draw(st.booleans(), label="mutate a note"):
        i = data.draw(st.integers(0, len(notes) - 1))
        notes[i] = data.draw(mutated_note())
    only_disgorge_errors(lambda: verify_log(entries, notes, TRUSTED, fx.ORIGIN))
