"""Fuzzing the add-checkpoint parser and the witness behind it: any bytes get a 4xx, never a 500.

Hypothesis drives the in-process witness (random bytes, and mutations of a valid request: the
interesting inputs are near-valid), then a smaller run goes over HTTP. Inputs that crash are saved to
tests/assets/fuzz/witness/ and replayed by :func:`test_corpus_is_refused_cleanly` from then on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from disgorge.errors import DisgorgeError, InputError
from disgorge.ledger.cosignature import cosigner_vkey
from disgorge.witness.core import Witness
from disgorge.witness.protocol import parse_add_checkpoint
from disgorge.witness.state import WitnessState

from .conftest import WITNESS_NAME, Log, serving

CORPUS = Path(__file__).parents[1] / "assets" / "fuzz" / "witness"
LOG = Log().grow(12)
VALID = [LOG.request(0, 5), LOG.request(5, 12), LOG.request(0, 0)]


@pytest.fixture(scope="module")
def fuzz_witness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Witness]:
    key = Ed25519PrivateKey.generate()
    with WitnessState(
        tmp_path_factory.mktemp("fuzz") / "w.db", cosigner_vkey(WITNESS_NAME, key.public_key())
    ) as s:
        yield Witness(WITNESS_NAME, key, [LOG.config()], s)


def _keep(body: bytes) -> None:
    (CORPUS / f"crash-{hashlib.sha256(body).hexdigest()[:16]}.bin").write_bytes(body)


def _status(witness: Witness, body: bytes) -> int:
    try:
        witness.add_checkpoint(body)
    except DisgorgeError as exc:
        return exc.http_status
    except Exception:
        _keep(body)
        raise
    return 200


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    body = bytearray(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "splice"]))
        at = draw(st.integers(0, max(len(body) - 1, 0)))
        if op == "flip" and body:
            body[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            body[at:at] = draw(
                st.sampled_from([b"\n", b"\n\n", b" ", b"=", b"\xe2\x80\x94 ", b"\x00", b"old 1\n"])
            )
        elif op == "delete":
            del body[at : at + draw(st.integers(1, 8))]
        elif op == "truncate":
            del body[at:]
        else:
            body[at:at] = draw(st.binary(max_size=16))
    return bytes(body)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(st.binary(max_size=512), mutated()))
def test_any_bytes_get_a_4xx_or_a_cosignature(fuzz_witness: Witness, body: bytes) -> None:
    status = _status(fuzz_witness, body)
    assert status == 200 or 400 <= status < 500


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=1024))
def test_parser_raises_only_input_errors(body: bytes) -> None:
    try:
        parse_add_checkpoint(body)
    except InputError:  # 400
        return
    except Exception:
        _keep(body)
        raise


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.bin")), ids=lambda p: p.name)
def test_corpus_is_refused_cleanly(fuzz_witness: Witness, path: Path) -> None:
    status = _status(fuzz_witness, path.read_bytes())
    assert 400 <= status < 500


def test_fuzz_over_http_never_500(fuzz_witness: Witness) -> None:
    with serving(fuzz_witness) as http:

        @settings(max_examples=80, deadline=None)
        @given(body=st.one_of(st.binary(max_size=256), mutated()))
        def over_http(body: bytes) -> None:
            response = http.post("/add-checkpoint", content=body)
            if response.status_code >= 500:
                _keep(body)
            assert response.status_code < 500, response.text

        over_http()
        for path in sorted(CORPUS.glob("*.bin")):
            assert 400 <= http.post("/add-checkpoint", content=path.read_bytes()).status_code < 500


def test_http_refusals_are_plain_text(fuzz_witness: Witness) -> None:
    with serving(fuzz_witness) as http:
        response: httpx.Response = http.post("/add-checkpoint", content=b"old x\n\n")
    assert response.status_code == 400
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert "old N" in response.text
