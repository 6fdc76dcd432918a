"""Deterministic CPU training: seeds, deterministic kernels, a pinned thread count, and a record of them.

A float sum depends on the order of its terms; PyTorch's CPU kernels split work by thread count and
pick SIMD paths by CPU capability. So the same shard reproduces bit for bit only with the same torch
build, thread count and CPU capability; :func:`environment` records all three, and :func:`deterministic`
pins them for the duration of a training and then restores the caller's settings.
"""

from __future__ import annotations

import hashlib
import platform
import random
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import numpy as np
import torch


def shard_seed(seed: int, shard: int) -> int:
    """A shard's own seed: independent of the data, so a shard retrained on fewer members starts alike."""
    digest = hashlib.sha256(f"disgorge-sisa-seed:{seed}:{shard}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & (2**53 - 1)  # a safe JSON integer


def seed_all(seed: int) -> torch.Generator:
    """Seed Python, numpy and torch's default generator; return a fresh generator for data order."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


@contextmanager
def deterministic(threads: int) -> Iterator[dict[str, Any]]:
    """Pin deterministic algorithms and ``threads`` intra-op threads; yield the settings in force."""
    prev_det = torch.are_deterministic_algorithms_enabled()
    prev_threads = torch.get_num_threads()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(threads)
    with suppress(RuntimeError):  # settable once per process, before any inter-op work; serial sums ignore it
        torch.set_num_interop_threads(threads)
    try:
        yield environment(threads)
    finally:
        torch.use_deterministic_algorithms(prev_det)
        torch.set_num_threads(prev_threads)


def environment(threads: int) -> dict[str, Any]:
    """What a replay must match to be bit-identical (torch build, threads, CPU capability)."""
    return {
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "deterministic_algorithms": True,
        "threads": threads,
        "interop_threads": torch.get_num_interop_threads(),
        "default_dtype": str(torch.get_default_dtype()).removeprefix("torch."),
    }


REPLAY_KEYS = ("torch", "cpu_capability", "threads", "deterministic_algorithms", "default_dtype")
"""The recorded settings that decide the bits; a replay that differs in one of them may differ."""
