"""The canonical tensor files: round trips, and hostile bytes give a clear error, never a crash."""

from __future__ import annotations

import contextlib
import random
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from disgorge.errors import InputError
from disgorge.unlearning.determinism import seed_all
from disgorge.unlearning.serialize import (
    capture_state,
    dump_tensors,
    load_tensors,
    read_checkpoint,
    restore_state,
)
from tests.conftest import ASSETS


def test_round_trip_keeps_every_dtype_and_shape() -> None:
    tensors = {
        "f32": torch.arange(6, dtype=torch.float32).reshape(2, 3),
        "bf16": torch.tensor([1.5, -2.0], dtype=torch.bfloat16),
        "i64": torch.tensor(7),
        "empty": torch.zeros(0, 4),
        "mask": torch.tensor([True, False]),
        "strided": torch.arange(12.0).reshape(3, 4).t(),
    }
    blob = dump_tensors(tensors, {"k": "v"})
    back, meta = load_tensors(blob, "t")
    assert meta == {"k": "v"} and set(back) == set(tensors)
    for k, v in tensors.items():
        assert back[k].dtype == v.dtype and torch.equal(back[k], v)
    assert dump_tensors(back, {"k": "v"}) == blob


def test_a_restored_checkpoint_continues_exactly_like_the_uninterrupted_run() -> None:
    def run(steps: int, state: bytes | None = None) -> tuple[bytes, list[float]]:
        shuffle = seed_all(5)
        model = torch.nn.Linear(3, 1)
        opt = torch.optim.Adam(model.parameters(), lr=0.1)
        if state is not None:
            tensors, info = read_checkpoint(state, "ckpt")
            restore_state(tensors, info, model, opt, shuffle)
        draws = []
        for _ in range(steps):
            x = torch.randn(4, 3)  # the global torch RNG
            idx = torch.randperm(4, generator=shuffle)
            opt.zero_grad()
            model(x[idx]).pow(2).mean().backward()  # type: ignore[no-untyped-call]
            opt.step()
            draws.append(random.random())
        return capture_state(model, opt, shuffle, {}), draws

    whole, draws = run(6)
    half, first = run(3)
    rest, second = run(3, half)
    assert rest == whole and first + second == draws


@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=300))
def test_hostile_bytes_are_an_input_error(data: bytes) -> None:
    with contextlib.suppress(InputError):
        read_checkpoint(data, "x.ckpt")


@pytest.mark.parametrize("path", sorted((ASSETS / "fuzz" / "checkpoint").iterdir()), ids=lambda p: p.name)
def test_known_crashers_are_input_errors(path: Path) -> None:
    with pytest.raises(InputError, match=r"not a readable tensor file|not a Disgorge SISA checkpoint"):
        read_checkpoint(path.read_bytes(), path.name)


@pytest.mark.parametrize("cut", [0, 7, 8, 20, -1])
def test_truncated_checkpoint_is_an_input_error(cut: int) -> None:
    shuffle = seed_all(1)
    model = torch.nn.Linear(2, 2)
    blob = capture_state(model, torch.optim.SGD(model.parameters(), lr=0.1), shuffle, {})
    with pytest.raises(InputError, match=r"x\.ckpt"):
        read_checkpoint(blob[:cut], "x.ckpt")


def test_a_file_longer_or_shorter_than_its_header_says_is_refused() -> None:
    """A torn write (a power loss before the file was synced) is detected by its length alone."""
    blob = dump_tensors({"w": torch.ones(4)})
    for bad in (blob + b"\0", blob[:-4]):
        with pytest.raises(InputError, match="bytes after the header"):
            load_tensors(bad, "w.safetensors")
